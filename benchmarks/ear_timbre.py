"""Each ear's tone against the recording's, per octave band: what the renderer's timbre modes do to a camera's mono.

The default "mid" timbre renders L = x (1 + S), R = x (1 - S) so that (L + R)/2 is the input exactly. Where the two
ears' average M = (H_L + H_R)/2 has a notch (the ears in antiphase: 770 Hz for a source at 90 degrees, 5.5 kHz at
10), the side ratio S = D M* / (|M|^2 + eps P) is large and both ears are boosted there. With (L+R)/2 input, the
input has the same notch, so the boost is right. With a camera's mono (no notch) the ears come out louder than a head
would make them at those frequencies. This script measures that on the synthetic set with its real-mono track, whose
truth is the raw HRTF's ears.

Per single-source clip and method: each ear's energy per octave band (125 Hz-8 kHz), output minus truth in dB, the
broadband level removed (the median over bands, per ear), then (a) the mean absolute deviation over bands and ears
("ear tone error") and (b) the mean signed deviation per band, for the nearer and the farther ear of lateral
sources (|azimuth| > 30 deg). Methods: Mono-Mono, the DSP renderer with timbre mid (default), diffuse-field and none
(plain HRTF convolution), oracle tracks.

    .venv/bin/python benchmarks/ear_timbre.py --data ../data/synth_near --split scene_test --count 40
Writes benchmarks/results/ear_timbre_<split>_<input>.json and prints markdown tables.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from position_table import sounding  # noqa: E402

BANDS = [125, 250, 500, 1000, 2000, 4000, 8000]


def band_db(x: np.ndarray, sr: float) -> np.ndarray:
    """Energy per octave band of ``x`` ``[T]`` in dB ``[len(BANDS)]`` (Welch spectrum, 4096 points)."""
    from scipy.signal import welch

    f, p = welch(x, sr, nperseg=min(4096, len(x)))
    return np.array([10 * np.log10(np.sum(p[(f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))]) + 1e-20) for c in BANDS])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="scene_test")
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--count", type=int, default=40, help="single-source clips")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    from binauralize.api import Binauralizer
    from binauralize.dsp.render import RenderOptions
    from binauralize.evaluate import _stereo, discover_dataset, load_audio
    from binauralize.tracks import block_directions

    data = Path(a.data)
    clips = [c for c in discover_dataset(data, a.split) if sounding(data, c.name) == 1][: a.count]
    methods = {"Mono-Mono": Binauralizer(method="mono"),
               "DSP, timbre mid (default)": Binauralizer(options=RenderOptions()),
               "DSP, timbre diffuse-field": Binauralizer(options=RenderOptions(timbre="diffuse-field")),
               "DSP, timbre none (plain HRTF)": Binauralizer(options=RenderOptions(timbre="none"))}
    t0 = time.time()
    rows = []
    for c in clips:
        gt, sr = load_audio(c.gt)
        gt = _stereo(gt, c.gt.name)
        mono = load_audio(c.mono)[0].mean(axis=0) if a.input == "real" else gt.mean(axis=0)
        t = np.arange(0, gt.shape[-1] / sr, 0.1) + 0.05
        az_t, _, _, w = block_directions(c.tracks, t)
        az = float(np.median((az_t * w).sum(axis=0)))
        g = np.stack([band_db(gt[e], sr) for e in range(2)])
        for m, b in methods.items():
            pred = b.render(mono, sr, c.tracks)
            d = np.stack([band_db(pred[e], sr) for e in range(2)]) - g
            d -= np.median(d, axis=1, keepdims=True)
            near = 0 if az > 0 else 1  # positive azimuth = left
            rows.append({"method": m, "clip": c.name, "azimuth": az, "tone_err_db": float(np.mean(np.abs(d))),
                         "near_db": d[near].tolist(), "far_db": d[1 - near].tolist()})
    cmd = "python benchmarks/ear_timbre.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [f"`{cmd}` ({(time.time() - t0) / 60:.1f} min; {len(clips)} single-source clips of {a.split}, "
             f"{'real-mono' if a.input == 'real' else '(L+R)/2'} input, oracle tracks)", "",
             "| method | ear tone error dB (all clips) | lateral clips |", "|---|---|---|"]
    lat = [r for r in rows if abs(r["azimuth"]) > 30]
    n_lat = len({r["clip"] for r in lat})
    for m in methods:
        rs = [r["tone_err_db"] for r in rows if r["method"] == m]
        ls = [r["tone_err_db"] for r in lat if r["method"] == m]
        lines.append(f"| {m} | {np.mean(rs):.2f} +- {np.std(rs) / np.sqrt(len(rs)):.2f} | "
                     f"{np.mean(ls):.2f} +- {np.std(ls) / np.sqrt(max(1, len(ls))):.2f} |" if ls else f"| {m} | {np.mean(rs):.2f} | |")
    for ear in ("near", "far"):
        lines += ["", f"Signed deviation of the {ear}er ear per band, lateral clips ({n_lat}, |azimuth| > 30 deg), dB:", "",
                  "| method | " + " | ".join(f"{b} Hz" for b in BANDS) + " |", "|---" * (len(BANDS) + 1) + "|"]
        for m in methods:
            v = np.mean([r[f"{ear}_db"] for r in lat if r["method"] == m], axis=0)
            lines.append(f"| {m} | " + " | ".join(f"{x:+.1f}" for x in v) + " |")
    text = "\n".join(lines)
    print(text)
    out = a.json or str(HERE / "results" / f"ear_timbre_{a.split}_{a.input}.json")
    Path(out).write_text(json.dumps({"command": cmd, "table": text, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
