"""Cost of the output limiter (binauralize/dsp/limiter.py) beside the DSP renderer on the same minute of audio.

    .venv/bin/python benchmarks/limiter_speed.py            # 60 s, 48 kHz, medians of 5, interleaved
Three inputs for the limiter: quiet (never above the ceiling: its fast path), loud speech-like bursts (limited now
and then) and loud noise (limited everywhere: the worst case); the peer is the renderer rendering the same minute
with one static source. Writes benchmarks/results/limiter_speed.json.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> int:
    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.limiter import limit
    from binauralize.dsp.render import Renderer, RenderOptions
    from binauralize.tracks import SourceTrack

    sr, seconds, repeats = 48000, 60.0, 5
    n = int(sr * seconds)
    rng = np.random.default_rng(0)
    t = np.arange(n) / sr
    bursts = rng.standard_normal(n) * 0.3 * (np.sin(2 * np.pi * 3 * t) > 0.5)
    inputs = {"quiet (never limited)": np.stack([bursts, bursts]) * 0.5,
              "loud bursts (limited now and then)": np.stack([bursts, 0.5 * bursts]) * 3,
              "loud noise (limited everywhere)": rng.standard_normal((2, n))}
    renderer = Renderer(HRTF.default(sr), RenderOptions())
    mono = bursts
    times: dict[str, list[float]] = {k: [] for k in inputs}
    times["renderer, same minute (peer)"] = []
    reduced = {}
    renderer.render(mono[:sr], [SourceTrack.static(30.0)])  # filters cached, as in a run
    for _ in range(repeats):
        for k, x in inputs.items():
            t0 = time.perf_counter()
            _, lim = limit(x, sr)
            times[k].append(time.perf_counter() - t0)
            reduced[k] = lim.samples_reduced / sr
        t0 = time.perf_counter()
        renderer.render(mono, [SourceTrack.static(30.0)])
        times["renderer, same minute (peer)"].append(time.perf_counter() - t0)
    rows = {k: {"median_s": statistics.median(v), "runs_s": v, "seconds_reduced": reduced.get(k)} for k, v in times.items()}
    cmd = "python benchmarks/limiter_speed.py"
    out = HERE / "results" / "limiter_speed.json"
    out.write_text(json.dumps({"command": cmd, "audio_s": seconds, "sample_rate": sr, "rows": rows}, indent=1))
    print(f"`{cmd}`: {seconds:.0f} s of 48-kHz stereo, medians of {repeats}, interleaved\n")
    print("| input | time (median) | share of the audio's duration | seconds limited |\n|---|---|---|---|")
    for k, r in rows.items():
        lim = "" if r["seconds_reduced"] is None else f"{r['seconds_reduced']:.1f}"
        print(f"| {k} | {r['median_s']:.3f} s | {r['median_s'] / seconds:.2%} | {lim} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
