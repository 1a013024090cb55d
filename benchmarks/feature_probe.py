"""Do the frozen visual features say where the source is? A linear (kernel ridge) probe from the cached
EfficientNet-Lite0 feature map of the middle frame to the azimuth of the single static on-screen source.

    .venv/bin/python benchmarks/feature_probe.py --data data/synth

Clips with exactly one source, sounding, on screen and static; first 80% train, last 20% test.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--ridge", type=float, nargs="+", default=[100.0, 1000.0, 10000.0])
    args = ap.parse_args()
    root = Path(args.data)
    cache = root / "cache" / "efficientnet-lite0"
    xs, ys = [], []
    for meta in sorted((root / "meta").glob("*.json")):
        m = json.loads(meta.read_text())
        src = m["sources"]
        if len(src) != 1 or not (src[0]["sounding"] and src[0]["onscreen"]) or src[0]["moving"]:
            continue
        z = np.load(cache / f"{meta.stem}.npz")
        k = len(z["feature_times"]) // 2
        xs.append(z["features"][k].astype(np.float32).ravel())
        ys.append(src[0]["azimuth"][int(round(z["feature_times"][k] * m["fps"]))])
    x, y = np.array(xs), np.array(ys)
    n = len(y)
    tr = np.arange(n) < int(0.8 * n)
    te = ~tr
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-3
    xn = (x - mu) / sd
    k_tr = xn[tr] @ xn[tr].T
    res = {"clips": int(n), "train": int(tr.sum()), "test": int(te.sum()), "probes": []}
    for lam in args.ridge:
        a = np.linalg.solve(k_tr + lam * np.eye(int(tr.sum())), y[tr] - y[tr].mean())
        p = xn[te] @ xn[tr].T @ a + y[tr].mean()
        res["probes"].append({"ridge": lam, "r2": float(1 - np.mean((p - y[te]) ** 2) / np.var(y[te])),
                              "mae_deg": float(np.mean(np.abs(p - y[te]))),
                              "side_accuracy": float(np.mean(np.sign(p) == np.sign(y[te])))})
    res["command"] = "python benchmarks/feature_probe.py " + shlex.join(sys.argv[1:])
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "feature_probe.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
