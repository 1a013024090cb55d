"""Learned models: training throughput on this machine and the whole tool's real-time factor with
``--model mono2binaural`` at sliding-window hops 0.05, 0.1 and 0.2 s, beside the DSP default in the same run, with
the STFT distance at each hop (speed/quality trade-off).

    .venv/bin/python benchmarks/learned_speed.py --data data/synth --repeats 3

Writes benchmarks/results/learned_speed.json and prints a markdown table (copied into docs/models.md).
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def train_throughput(name: str, cfg_path: str, steps: int = 8, batch: int = 32) -> dict:
    import torch

    from binauralize.models.registry import build
    from binauralize.train.loop import load_config, model_args
    from binauralize.train.objectives import losses

    cfg = load_config(cfg_path)
    n, a = model_args(cfg, {"trunk": "efficientnet-lite0", "channels": 320, "map_size": [5, 10]})
    m = build(n, **a).train()
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    tgt = torch.randn(batch, 2, 10080, generator=g) * 0.1
    b = {"mix": tgt.sum(1), "target": tgt, "feat": torch.rand(batch, 320, 5, 10, generator=g),
         "feat2": torch.rand(batch, 320, 5, 10, generator=g), "rir": torch.randn(batch, 2, 128, 64, generator=g)}
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        loss = losses(m, b, cfg["loss"])["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"model": name, "config": cfg_path, "batch": batch, "step_s_median": med, "samples_per_s": batch / med,
            "threads": torch.get_num_threads()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="synthetic set for the STFT distance per hop (scene_test)")
    ap.add_argument("--model", default="mono2binaural")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clips", type=int, default=30, help="test clips for the STFT distance per hop")
    ap.add_argument("--hops", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    args = ap.parse_args()

    from speed import CACHE, binauralize_cmd, make_video, timed

    res = {"machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
           "training": [train_throughput("mono2binaural", "configs/mono2binaural.toml"),
                        train_throughput("geometry", "configs/geometry.toml")]}
    video = make_video(CACHE / f"bench_{int(args.seconds)}s_1080p30.mp4", args.seconds, 1920, 1080)
    out = CACHE / "learned_out.mp4"
    rows = []
    runs = {"dsp (default)": []} | {f"{args.model} hop {h}": [] for h in args.hops}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for label in runs:
            extra = ["--sources", str(CACHE / "front.json")] if label.startswith("dsp") else \
                ["--model", args.model, "--hop", label.split()[-1]]
            (CACHE / "front.json").write_text('{"sources": [{"name": "a", "azimuth": 20}]}')
            cmd = [str(ROOT / ".venv/bin/binauralize"), str(video), "-o", str(out), "--overwrite", "-q", *extra]
            t, rss = timed(cmd)
            runs[label].append((t, rss))
    for label, v in runs.items():
        med = statistics.median(t for t, _ in v)
        rows.append({"variant": label, "seconds": [t for t, _ in v], "median_s": med,
                     "realtime_factor": args.seconds / med, "peak_rss_mib": max(r for _, r in v)})
    res["inference"] = rows
    if args.data:
        from binauralize import evaluate as ev

        clips = ev.discover_dataset(Path(args.data), "scene_test")[: args.clips]
        q = {}
        for h in args.hops:
            r = ev.evaluate_model(args.model, clips, data=Path(args.data), input="real", hop_s=h)
            q[str(h)] = statistics.fmean(x["gao2019/stft"] for x in r)
        res["stft_by_hop"] = {"clips": len(clips), "split": "scene_test", "input": "real", "stft": q}
    res["command"] = "python benchmarks/learned_speed.py " + shlex.join(sys.argv[1:])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "learned_speed.json").write_text(json.dumps(res, indent=1))
    print("| training | batch | samples/s (median of 8 steps) |\n|---|---|---|")
    for t in res["training"]:
        print(f"| {t['model']} ({t['config']}) | {t['batch']} | {t['samples_per_s']:.1f} |")
    print(f"\n| {args.seconds:.0f}-s 1080p30 clip | median s | x real time | peak RSS MiB | STFT (scene_test) |\n|---|---|---|---|---|")
    for r in rows:
        h = r["variant"].split()[-1]
        stft = res.get("stft_by_hop", {}).get("stft", {}).get(h)
        print(f"| {r['variant']} | {r['median_s']:.2f} | {r['realtime_factor']:.1f} | {r['peak_rss_mib']:.0f} | "
              f"{'' if stft is None else f'{stft:.3f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
