"""Run binauralize on the real videos of ../shared/data/videos with hand-written tracks and report the interaural
cues of the output over time (listen by numbers), with a PNG per video.

    .venv/bin/python benchmarks/real_videos.py --videos ../shared/data/videos --out docs/real_videos
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from binauralize.api import binauralize_file
from binauralize.io.media import iter_audio, probe
from binauralize.metrics.spatial import cues_over_time
from binauralize.tracks import load_tracks

HERE = Path(__file__).resolve().parent


def plot(path: Path, name: str, cues: dict, expected_az: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 1, figsize=(8, 5.5), sharex=True)
    t = cues["time"]
    act = cues["active"]
    ax[0].plot(t, expected_az, color="k")
    ax[0].set_ylabel("track az (deg)\n+ = left")
    ax[1].plot(t[act], cues["itd"][act] * 1e6, ".", ms=3)
    ax[1].axhline(0, color="grey", lw=0.5)
    ax[1].set_ylabel("ITD (us)\n+ = left leads")
    ax[2].plot(t[act], cues["ild"][act], ".", ms=3, color="C1")
    ax[2].axhline(0, color="grey", lw=0.5)
    ax[2].set_ylabel("ILD (dB)\n+ = left louder")
    ax[2].set_xlabel("time (s)")
    ax[0].set_title(f"{name}: output cues per 100 ms (active frames)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", default="../shared/data/videos")
    ap.add_argument("--out", default="docs/real_videos")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for tr in sorted((HERE / "real_video_tracks").glob("*.json")):
        video = Path(args.videos) / f"{tr.stem}.mp4"
        if not video.exists():
            continue
        target = Path("/tmp") / f"{tr.stem}_3d.mp4"
        rep = binauralize_file(video, target, sources=str(tr), overwrite=True, notice=lambda m: None)
        y = np.concatenate(list(iter_audio(target)), axis=1)
        sr = probe(target).sample_rate
        cues = cues_over_time(y, sr, 0.1)
        tracks = load_tracks(tr)
        from binauralize.tracks import block_directions

        az, _, _, w = block_directions(tracks, cues["time"])
        exp_az = (az * w).sum(axis=0)
        plot(out / f"{tr.stem}.png", tr.stem, cues, exp_az)
        act = cues["active"]
        rows.append({
            "video": tr.stem, "duration_s": rep["duration_s"], "realtime_factor": rep["realtime_factor"],
            "t60_estimate_s": rep["decisions"]["t60_estimate_s"], "reverb_split": rep["decisions"]["reverb_split"],
            "median_itd_us": float(np.median(cues["itd"][act]) * 1e6), "median_ild_db": float(np.median(cues["ild"][act])),
            "share_left_ild": float(np.mean(cues["ild"][act] > 0)), "notices": rep["notices"],
        })
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
