"""The real-footage detector (NanoDet, ``--objects`` and ``--model speech``) run adaptively against run on every
frame: the tracks it finds and the detector's time, on the same frames, side by side.

    .venv/bin/python benchmarks/coco_adaptive.py ../shared/data/videos benchmarks/.cache/interview_60s_1080p.mp4

``coco_tracks(adaptive=True)`` runs the detector on every third analysis frame (2 frames/s: 1.5 s apart, the
shortest object kept) and bisects between two run frames wherever their detections differ. For each video the
analysis frames are decoded once, as the localizer keeps them (2 frames/s, 480 px wide), and both ways run on them
(full first, then adaptive, then full and adaptive again: the medians of two each). Agreement: the same tracks
(as many of each class, paired by azimuth), their azimuths at every analysis frame (interpolated between sightings, as rendered), and the share of analysis frames where each track's 0/1 weight agrees.
Writes benchmarks/results/coco_adaptive.json and prints a markdown table (copied into docs/localization.md).
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def frames_of(video: Path) -> list:
    from binauralize.io.media import iter_frames

    return list(iter_frames(video, 2.0, 480, fast=True))


def timed(frames, det, adaptive: bool):
    from binauralize.vision.coco import coco_tracks

    rep: dict = {}
    t0 = time.perf_counter()
    tracks = coco_tracks(frames, detector=det, adaptive=adaptive, report=rep)
    return time.perf_counter() - t0, tracks, rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+", type=Path, help="video files or folders of them")
    ap.add_argument("--json", type=Path, default=HERE / "results" / "coco_adaptive.json")
    args = ap.parse_args()
    from binauralize.vision.coco import CocoDetector

    det = CocoDetector.load()
    files = [f for v in args.videos for f in (sorted(v.glob("*.mp4")) if v.is_dir() else [v])]
    rows = []
    for f in files:
        frames = frames_of(f)
        runs = {True: [], False: []}
        out = {}
        for adaptive in (False, True, False, True):
            sec, tracks, rep = timed(frames, det, adaptive)
            runs[adaptive].append(sec)
            out[adaptive] = (tracks, rep)
        full, fast = out[False][0], out[True][0]
        same = sorted(a.name for a in full) == sorted(b.name for b in fast)
        if same:  # paired by class, then by median azimuth (numbering follows first sightings, which may differ)
            key = lambda t: (t.info.get("class", t.name), float(np.median(t.azimuth)))  # noqa: E731
            full, fast = sorted(full, key=key), sorted(fast, key=key)
        agree = [float(np.mean((np.interp(a.weight_times, a.weight_times, a.weight) > 0.5) ==
                               (np.interp(a.weight_times, b.weight_times, b.weight) > 0.5))) for a, b in zip(full, fast)] \
            if same else []
        # the azimuth as rendered (interpolated between sightings) at every analysis frame where both see the track
        daz = []
        for a, b in zip(full, fast) if same else []:
            t = a.weight_times[(a.weight > 0.5) & (np.interp(a.weight_times, b.weight_times, b.weight) > 0.5)]
            daz += list(np.abs(np.interp(t, a.times, a.azimuth) - np.interp(t, b.times, b.azimuth)))
        rows.append({"video": f.name, "seconds_of_video": round(frames[-1][0] + 0.5, 1), "frames": len(frames),
                     "frames_detected": out[True][1]["frames_detected"],
                     "full_s": statistics.median(runs[False]), "adaptive_s": statistics.median(runs[True]),
                     "tracks_full": [t.name for t in full], "tracks_adaptive": [t.name for t in fast],
                     "same_tracks": same, "median_azimuth_diff_deg": float(np.median(daz)) if daz else 0.0,
                     "p95_azimuth_diff_deg": float(np.percentile(daz, 95)) if daz else 0.0,
                     "min_weight_agreement": min(agree, default=1.0)})
        print(rows[-1], flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": "python benchmarks/coco_adaptive.py " + shlex.join(map(str, args.videos)),
                                     "rows": rows}, indent=1))
    print("\n| video | frames run (of) | detector, every frame (s) | adaptive (s) | same tracks | "
          "azimuth difference, median / 95th percentile of frames | weight agreement (worst track) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['video']} | {r['frames_detected']} ({r['frames']}) | {r['full_s']:.2f} | {r['adaptive_s']:.2f} | "
              f"{'yes' if r['same_tracks'] else 'no: ' + ', '.join(r['tracks_full']) + ' / ' + ', '.join(r['tracks_adaptive'])} | "
              f"{r['median_azimuth_diff_deg']:.1f} / {r['p95_azimuth_diff_deg']:.1f} deg | {100 * r['min_weight_agreement']:.0f}% |")


if __name__ == "__main__":
    main()
