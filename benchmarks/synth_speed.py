"""Speed and memory of the dataset generator at default settings (10-s clips, 24 kHz, 320x180 at 10 fps).

    bash scripts/setup.sh --dataset
    .venv/bin/python benchmarks/synth_speed.py --clips 20 --workers 2

Writes benchmarks/results/synth_speed.json. Target (issue 5): at least 20 ten-second clips per minute on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="synth_bench_"))
    exe = Path(sys.executable).parent / "binauralize"
    cmd = [str(exe), "dataset", "synth", "--out", str(out), "--num-clips", str(args.clips), "--seconds",
           str(args.seconds), "--workers", str(args.workers), "--seed", "1", "-q"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("generation failed")
    res = {"clips": args.clips, "seconds_per_clip": args.seconds, "workers": args.workers, "wall_s": wall,
           "clips_per_minute": 60.0 * args.clips / wall, "peak_rss_mib_largest_process": ru.ru_maxrss / 1024,
           "command": shlex.join(cmd[1:]), "date": time.strftime("%Y-%m-%d %H:%M")}
    Path(__file__).resolve().parent.joinpath("results").mkdir(exist_ok=True)
    Path(__file__).resolve().parent.joinpath("results", "synth_speed.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
