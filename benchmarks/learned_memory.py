"""Peak memory and time of the learned models over clip length: does memory stay flat as the clip grows?

    .venv/bin/python benchmarks/learned_memory.py --seconds 60 600 --models position class-nmf flow \
        --peer /tmp/before --repeats 1

Each model with two given moving sources (``--sources``; for ``speech`` the first is named "voice", so that it separates) on a 640x360 H.264 + AAC 48-kHz clip of each length (the
camera-like clip of benchmarks/speed.py, smaller: the audio path is what grows). ``--peer DIR``: the same runs
with the package from another checkout (e.g. ``git worktree add /tmp/before <commit>``) put first on
``PYTHONPATH``, interleaved with this tree's runs so machine noise hits both alike. The DSP renderer is timed too.
Writes benchmarks/results/learned_memory.json and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0])
    ap.add_argument("--models", nargs="+", default=["position", "class-nmf", "flow"])
    ap.add_argument("--peer", help="another checkout to compare with (its binauralize package first on PYTHONPATH)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", default=str(HERE / "results" / "learned_memory.json"))
    args = ap.parse_args()

    from speed import CACHE, make_video, timed

    from position_speed import TWO

    CACHE.mkdir(exist_ok=True)
    two = CACHE / "two_sources_long.json"
    two.write_text(json.dumps({"sources": [{**s, "track": [[0, *s["track"][0][1:]], [3600, *s["track"][1][1:]]]}
                                           for s in TWO["sources"]]}))
    voice = CACHE / "two_sources_long_voice.json"  # --model speech separates only with a talker among the sources
    voice.write_text(two.read_text().replace('"name": "left"', '"name": "voice"', 1))
    trees = {"this tree": None} | ({"peer": str(Path(args.peer).resolve())} if args.peer else {})
    runs: dict[tuple, list] = {}
    for _ in range(args.repeats):
        for secs in args.seconds:
            video = make_video(CACHE / f"bench_{int(secs)}s_360p30.mp4", secs, 640, 360)
            for model in ["dsp", *args.models]:
                for tree, path in trees.items():
                    if model == "dsp" and tree == "peer":
                        continue
                    cmd = [str(ROOT / ".venv/bin/binauralize"), str(video), "-o", str(CACHE / "mem_out.mp4"),
                           "--overwrite", "-q", "--sources", str(voice if model == "speech" else two), "--model", model]
                    env = {"PYTHONPATH": path} if path else None
                    runs.setdefault((model, tree, secs), []).append(timed(cmd, env))
                    print(model, tree, secs, runs[(model, tree, secs)][-1], flush=True)
    rows = [{"model": m, "tree": tr, "clip_seconds": s, "seconds": [t for t, _ in v],
             "median_s": statistics.median(t for t, _ in v), "peak_rss_mib": max(r for _, r in v)}
            for (m, tr, s), v in runs.items()]
    res = {"machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()}, "rows": rows,
           "peer": args.peer, "command": "python benchmarks/learned_memory.py " + shlex.join(sys.argv[1:])}
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))
    lens = sorted({r["clip_seconds"] for r in rows})
    print("| model | code | " + " | ".join(f"{s:.0f} s: time, peak RSS MiB" for s in lens) + " |")
    print("|---|---|" + "---|" * len(lens))
    for (m, tr) in dict.fromkeys((r["model"], r["tree"]) for r in rows):
        cells = []
        for s in lens:
            r = next((r for r in rows if (r["model"], r["tree"], r["clip_seconds"]) == (m, tr, s)), None)
            cells.append(f"{r['median_s']:.1f} s, {r['peak_rss_mib']:.0f}" if r else "")
        print(f"| {m} | {tr} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
