"""The whole tool's speed with ``--model position`` beside the DSP default, same run, interleaved repeats.

    .venv/bin/python benchmarks/position_speed.py --model runs/position_real/best.safetensors --repeats 3

On the 60-s 1080p30 H.264 + AAC benchmark clip of benchmarks/speed.py: (a) sources localized from the frames (what
users get with no --sources) and (b) two given moving sources (--sources), each for the DSP renderer and the
position-conditioned model (trunk features at 1 fps for the crop embeddings, masks, one DSP render per part).
Writes benchmarks/results/position_speed.json and prints a markdown table (copied into docs/models.md).
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

TWO = {"sources": [{"name": "left", "track": [[0, 30, 0, 2], [60, -10, 0, 2]]},
                   {"name": "right", "track": [[0, -35, 0, 3], [60, 20, 0, 3]]}]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="position", help="position checkpoint or shipped name")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--flow", help="also time this flow-matching checkpoint with 2 given sources")
    ap.add_argument("--flow-steps", type=int, nargs="*", default=[1, 4, 8])
    ap.add_argument("--class-nmf", help="also time this class-nmf checkpoint (localized and 2 given sources)")
    ap.add_argument("--peer", help="also time this second position-family model (shipped name or checkpoint), "
                    "localized and with 2 given sources, labelled 'peer'")
    ap.add_argument("--peer-checkout", metavar="DIR",
                    help="run the peer variants with the code of this checkout (e.g. `git worktree add /tmp/old "
                    "c0f114c`): the same model before and after a change, side by side in one run")
    ap.add_argument("--objects", action="store_true", help="also time the localized variants with --objects (the "
                    "object detector on 2 frames per second; on this clip it finds nothing and the faces/motion "
                    "tracks are used)")
    ap.add_argument("--only", nargs="*", help="time only these variants (labels as printed)")
    ap.add_argument("--json", default=str(HERE / "results" / "position_speed.json"))
    args = ap.parse_args()

    from speed import CACHE, make_video, timed

    CACHE.mkdir(exist_ok=True)
    video = make_video(CACHE / f"bench_{int(args.seconds)}s_1080p30.mp4", args.seconds, 1920, 1080)
    out = CACHE / "position_out.mp4"
    two = CACHE / "two_sources.json"
    two.write_text(json.dumps(TWO))
    variants = {"dsp, localized": [], "position, localized": [], "dsp, 2 given sources": [],
                "position, 2 given sources": []}
    if args.flow:
        variants.update({f"flow {k} step{'s' if k > 1 else ''}, 2 given sources": [] for k in args.flow_steps})
    if args.class_nmf:
        variants.update({"class-nmf, localized": [], "class-nmf, 2 given sources": []})
    if args.peer:
        variants.update({"peer, localized": [], "peer, 2 given sources": []})
    if args.objects:
        variants["dsp, localized, --objects"] = []
        if args.class_nmf:
            variants["class-nmf, localized, --objects"] = []
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for label in variants:
            extra = (["--model", args.model] if label.startswith("position") else []) + \
                (["--model", args.flow, "--steps", label.split()[1]] if label.startswith("flow") else []) + \
                (["--model", args.class_nmf] if label.startswith("class-nmf") else []) + \
                (["--model", args.peer] if label.startswith("peer") else []) + \
                (["--sources", str(two)] if "given" in label else []) + \
                (["--objects"] if label.endswith("--objects") else [])
            cmd = [str(ROOT / ".venv/bin/binauralize"), str(video), "-o", str(out), "--overwrite", "-q", *extra]
            env = None
            if args.peer_checkout and label.startswith("peer"):  # the same tool, an older checkout's code
                # (the venv's editable install would import this checkout's package: its finder is taken out)
                boot = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
                        f"sys.path.insert(0, {str(Path(args.peer_checkout).resolve())!r}); "
                        "from binauralize.cli import main; sys.argv[0] = 'binauralize'; raise SystemExit(main())")
                cmd = [str(ROOT / ".venv/bin/python"), "-c", boot, *cmd[1:]]
            variants[label].append(timed(cmd, env))
    rows = []
    for label, v in variants.items():
        med = statistics.median(t for t, _ in v)
        rows.append({"variant": label, "seconds": [t for t, _ in v], "median_s": med,
                     "realtime_factor": args.seconds / med, "peak_rss_mib": max(r for _, r in v)})
    res = {"machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()}, "clip_seconds": args.seconds,
           "model": args.model, "peer": args.peer,
           "peer_checkout": args.peer_checkout, "inference": rows, "command": "python benchmarks/position_speed.py " + shlex.join(sys.argv[1:])}
    (HERE / "results").mkdir(exist_ok=True)
    Path(args.json).parent.mkdir(exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))
    print(f"| {args.seconds:.0f}-s 1080p30 clip | median s | x real time | peak RSS MiB |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['median_s']:.2f} | {r['realtime_factor']:.1f} | {r['peak_rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
