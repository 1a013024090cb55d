"""Would a higher ``dry_below_t60`` give the near set's (L+R)/2 subsets their width back without costing the real room?

The renderer splits a reverberant input into direct and reverberant parts when its blind T60
(:func:`binauralize.dsp.reverb.estimate_t60`) is at least ``RenderOptions.dry_below_t60`` (0.28 s). On the near set's
(L+R)/2 input (rooms of RT60 0.15-0.4 s, sources 0.7-2 m away) the split costs width; in the measured seminar room
(T60 about 0.58 s, 6.3 m) it is what keeps the renderer below Mono-Mono. The blind T60 reads the near set's clips
0.22-0.35 s (10th-90th percentile) and the seminar room's 0.29-0.50 s, so a threshold between them is the obvious rule.
This script replays it from per-clip results already measured with the split on and off (no rendering):

- near set: ``position_ab.py`` per-clip rows with the default and with ``--render reverb=off``
  (``placement_bands_near_mix.json`` / ``..._nosplit.json``) and the renderer's blind T60 of each clip (``drr_blind.json``);
- seminar room: ``quality_real_brir.py``'s per-clip rows (``docs/results_real_brir.json``: "Ours (default)" and
  "Ours, no reverb split", each with the blind T60 it saw).

A clip whose T60 is at least the threshold takes its split row, the others their no-split row. Thresholds below 0.28
cannot be replayed (the default did not split there).

    .venv/bin/python benchmarks/split_t60_threshold.py
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split-ab", default=str(RESULTS / "placement_bands_near_mix.json"))
    ap.add_argument("--nosplit-ab", default=str(RESULTS / "placement_bands_near_mix_nosplit.json"))
    ap.add_argument("--drr", default=str(RESULTS / "drr_blind.json"), help="drr_blind.py's output (blind T60 per clip)")
    ap.add_argument("--real-brir", default=str(HERE.parent / "docs" / "results_real_brir.json"))
    ap.add_argument("--thresholds", type=float, nargs="*", default=[0.28, 0.30, 0.32, 0.34, 0.36, 0.38, 0.40, 0.45])
    ap.add_argument("--json", default=str(RESULTS / "split_t60_threshold.json"))
    a = ap.parse_args(argv)

    t60 = {c: v["renderer_t60_s"] for c, v in json.load(open(a.drr))["near"].items()}
    split_rows, nosplit_rows = {}, {}
    for r in json.load(open(a.split_ab))["per_clip"]:
        split_rows[(r["clip"], r["method"])] = r
    for r in json.load(open(a.nosplit_ab))["per_clip"]:
        nosplit_rows[(r["clip"], r["method"].replace(", no split", "").replace("DSP", "DSP, oracle tracks"))] = r
    room = {}
    for r in json.load(open(a.real_brir)):
        room[(r["method"], r["azimuth"], r["source"])] = r
    room_clips = sorted({(az, s) for (m, az, s) in room if m == "Ours (default)"})

    out = {"command": "python benchmarks/split_t60_threshold.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "near_t60_percentiles_10_50_90": np.percentile([v for v in t60.values() if v], [10, 50, 90]).tolist(),
           "room_t60": {f"{s}@{az:+.0f}": room[("Ours (default)", az, s)]["t60_est"] for az, s in room_clips},
           "thresholds": {}}
    print(f"blind T60, near set (L+R)/2, {len(t60)} multi-source test clips: 10/50/90th percentile "
          f"{np.round(out['near_t60_percentiles_10_50_90'], 2).tolist()} s; seminar room, {len(room_clips)} clips: "
          f"{min(out['room_t60'].values()):.2f}-{max(out['room_t60'].values()):.2f} s")
    for th in a.thresholds:
        res = {}
        for method in ("position-nmf", "DSP, oracle tracks"):
            groups: dict = {}
            for (clip, m), r in split_rows.items():
                if m != method or (clip, m) not in nosplit_rows:
                    continue
                use = r if (t60.get(clip) or 0.0) >= th else nosplit_rows[(clip, m)]
                groups.setdefault(f"{r['split']} / {r['sources']} sources", []).append(use)
            for g, rs in sorted(groups.items()):
                res[f"near {g} / {method}"] = {
                    "clips": len(rs), "split_clips": int(sum((t60.get(r["clip"]) or 0.0) >= th for r in rs)),
                    "stft": float(np.mean([r["gao2019/stft"] for r in rs])),
                    "width_band_db": float(np.mean([r["width_band_db"] for r in rs]))}
        rows = [room[("Ours (default)" if room[("Ours (default)", az, s)]["t60_est"] >= th else "Ours, no reverb split",
                      az, s)] for az, s in room_clips]
        lat = [r for r in rows if r["azimuth"] != 0]
        mono = [room[("Mono-Mono", az, s)] for az, s in room_clips]
        res["seminar room / DSP"] = {
            "clips": len(rows), "split_clips": int(sum(room[("Ours (default)", az, s)]["t60_est"] >= th
                                                       for az, s in room_clips)),
            "stft": float(np.mean([r["stft"] for r in rows])),
            "stft_lateral": float(np.mean([r["stft"] for r in lat])),
            "ild_err_db_lateral": float(np.mean([r["ild_err_db"] for r in lat])),
            "mono_mono_stft": float(np.mean([r["stft"] for r in mono]))}
        out["thresholds"][f"{th:g}"] = res
        print(f"dry_below_t60 = {th:g} s")
        for k, v in res.items():
            extra = (f"  width per band {v['width_band_db']:+.2f} dB" if "width_band_db" in v else
                     f"  lateral {v['stft_lateral']:.3f}, lateral ILD error {v['ild_err_db_lateral']:.2f} dB "
                     f"(Mono-Mono {v['mono_mono_stft']:.3f})")
            print(f"  {k:<46} split {v['split_clips']:3d}/{v['clips']:3d}  STFT {v['stft']:.3f}{extra}")
    Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
