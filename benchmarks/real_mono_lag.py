"""Lag of a synthetic set's real-mono track behind its (L+R)/2, per clip (GCC-PHAT), against distance / c, and per
band the coherence and phase spread of their cross-spectrum (how predictable (L+R)/2 is from the real mono).

A microphone beside the listener's head hears the direct sound when the ears do, so the lag should be ~0. Before
2026-11-29 the generator left the microphone's propagation delay in (lag = distance / c + 0.9 ms): this script is
how that was found and how the fix is checked on a whole set.

    python benchmarks/real_mono_lag.py --data DATA [--clips 60] [--out benchmarks/results/real_mono_lag.json]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from binauralize.metrics.spatial import gcc_phat_itd  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--clips", type=int, default=60, help="first N clips with one sounding source")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    from scipy.signal import csd, welch

    bands = [(100, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 6000), (6000, 8000)]
    per_band = {b: [] for b in bands}
    rows = []
    for f in sorted((a.data / "meta").glob("*.json")):
        meta = json.loads(f.read_text())
        if not (a.data / "mono_audios" / f"{f.stem}.wav").exists():
            continue
        srcs = [s for s in meta["sources"] if s.get("sounding")]
        if len(srcs) != 1:
            continue  # one source: one expected lag
        y, sr = sf.read(a.data / "binaural_audios" / f"{f.stem}.wav")
        mono, _ = sf.read(a.data / "mono_audios" / f"{f.stem}.wav")
        mid = y.mean(axis=1)
        lag = gcc_phat_itd(mid, mono, sr, max_s=0.03, interp=1, floor_db=None, taper=False)  # > 0: the mono lags (L+R)/2
        fr, pxy = csd(mono, mid, sr, nperseg=1024)
        pxx, pyy = welch(mono, sr, nperseg=1024)[1], welch(mid, sr, nperseg=1024)[1]
        for b in bands:
            k = (fr >= b[0]) & (fr < b[1])
            per_band[b].append((abs(pxy[k].sum()) / np.sqrt(pxx[k].sum() * pyy[k].sum()), np.degrees(np.angle(pxy[k].sum()))))
        rows.append({"id": f.stem, "lag_ms": round(1e3 * lag, 3), "distance_over_c_ms": round(srcs[0]["distance"][0] / 0.343, 3)})
        if len(rows) >= a.clips:
            break
    if not rows:
        sys.exit(f"real_mono_lag: no clip with one sounding source and a real-mono track in {a.data}")
    lags = np.array([r["lag_ms"] for r in rows])

    def band_summary(v: list) -> dict:
        coh, phase = np.array(v).T
        return {"median_band_coherence": round(float(np.median(coh)), 3), "phase_deg_median": round(float(np.median(phase)), 1),
                "phase_deg_iqr": round(float(np.subtract(*np.percentile(phase, [75, 25]))), 1)}

    res = {"command": "python benchmarks/real_mono_lag.py " + shlex.join(argv or sys.argv[1:]), "clips": len(rows),
           "median_abs_lag_ms": float(np.median(np.abs(lags))), "share_within_0.25ms": float(np.mean(np.abs(lags) <= 0.25)),
           "median_distance_over_c_ms": float(np.median([r["distance_over_c_ms"] for r in rows])),
           "bands": {f"{lo}-{hi} Hz": band_summary(per_band[(lo, hi)]) for lo, hi in bands},
           "rows": rows}
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=1))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
