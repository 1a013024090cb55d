"""A learned output stage on top of a mask model, beyond output_filter.py's per-frequency linear filter: a small
convolutional network over the output's sum/difference spectrogram that predicts complex gains per time-frequency
bin, starting from the linear filter (its last layer zero-initialised), trained with the papers' objective (complex
L2 on the STFT; Gao & Grauman 2019, eq. 1) on the training clips' outputs, early-stopped on scene_val.

    S_out = (a(f) + dA(f, t)) S,   D_out = (c(f) + dC(f, t)) D      (dA, dC: the network's complex outputs)

Inputs per bin: log-magnitudes of S = L+R, D = L-R and the input mono, the phase of D relative to S (cos, sin) and
the frequency. Everything at the evaluation's 16 kHz on the metric's STFT (512/160/400 Hann), as output_filter.py;
the signals come from its ``--cache`` (made there, or here when missing).

    cd /work && python main/benchmarks/output_stage.py --data data/synth_near --input real \\
        --checkpoint main/binauralize/models/weights/position-nmf.safetensors --cache scratch/pf/cache_real \\
        --m2b main/benchmarks/results/m2b_ab_near_real.json --minutes 25 --json main/benchmarks/results/output_stage_real.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

N_FFT, HOP, WIN = 512, 160, 400


def stft(x, torch):
    """The metric's STFT (librosa's, 512/160/400 Hann, centred) in torch: the package's."""
    from binauralize.models.output_stage import stft16

    return stft16(x, torch)


def istft(X, length, torch):
    w = torch.hann_window(WIN, periodic=True, dtype=torch.float32, device=X.device)
    shp = X.shape
    y = torch.istft(X.reshape(-1, *shp[-2:]), N_FFT, HOP, WIN, w, center=True, length=length)
    return y.reshape(*shp[:-2], length)


def build_net(ch: int, a, c, keep_sum: bool = False):
    """The package's network (binauralize/models/output_stage.py), starting from the linear gains ``a``, ``c``."""
    from binauralize.models.output_stage import OutputStage

    net = OutputStage(channels=ch, keep_sum=keep_sum)
    net.set_linear(a, c)
    return net


def signals(items, torch):
    """Waveforms -> (S, D, M) STFT inputs and (Sg, Dg) targets, batched ``[B, F, L]``."""
    p = torch.as_tensor(np.stack([it["pred"] for it in items]), dtype=torch.float32)
    g = torch.as_tensor(np.stack([it["gt"] for it in items]), dtype=torch.float32)
    m = torch.as_tensor(np.stack([it["mono"] for it in items]), dtype=torch.float32)
    return (stft(p[:, 0] + p[:, 1], torch), stft(p[:, 0] - p[:, 1], torch), stft(m, torch),
            stft(g[:, 0] + g[:, 1], torch), stft(g[:, 0] - g[:, 1], torch))


def crops(items, n: int, frames: int, rng):
    seg = (frames - 1) * HOP
    out = []
    for i in rng.integers(0, len(items), n):
        it = items[i]
        T = min(it["pred"].shape[-1], it["gt"].shape[-1], it["mono"].shape[-1])
        s = int(rng.integers(0, max(1, T - seg)))
        out.append({k: it[k][..., s:s + seg] for k in ("pred", "gt", "mono")})
    return out


def loss_fn(net, batch, torch):
    S, D, M, Sg, Dg = signals(batch, torch)
    So, Do = net(S, D, M)
    return ((So - Sg).abs() ** 2).mean() / 4 + ((Do - Dg).abs() ** 2).mean() / 4


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--input", choices=["real", "mix"], default="real")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--m2b")
    ap.add_argument("--minutes", type=float, default=25.0, help="training budget (wall clock)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-sum", action="store_true", help="S passes unchanged; only D is corrected (the shipped "
                    "stage: a gain on S shrinks what the input does not predict, i.e. muffles a camera mono)")
    ap.add_argument("--save", metavar="SAFETENSORS", help="write the trained stage (best on scene_val) here")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    import torch

    from output_filter import EVAL_SR, KEYS, fit, fitting_clips, predictions, subset_table
    from position_table import sounding

    from binauralize import evaluate as ev

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    data, cache = Path(a.data), Path(a.cache)
    t0 = time.time()
    train = predictions(a.checkpoint, fitting_clips(data, "scene_train"), data, a.input, "scene_train", cache)
    val = predictions(a.checkpoint, fitting_clips(data, "scene_val"), data, a.input, "scene_val", cache)
    lin = fit(train, with_mono=False)
    a_lin = np.ones_like(lin["sum"][:, 0]) if a.keep_sum else lin["sum"][:, 0]
    net = build_net(a.channels, a_lin, lin["diff"], a.keep_sum)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    val_batches = [val[i:i + 8] for i in range(0, len(val), 8)]

    def val_loss():
        net.eval()
        with torch.no_grad():
            tot = sum(float(loss_fn(net, b, torch)) * len(b) for b in val_batches)
        net.train()
        return tot / len(val)

    best, best_state, log = val_loss(), {k: v.clone() for k, v in net.state_dict().items()}, []
    print(f"linear filter: val loss {best:.5f}", flush=True)
    log.append({"step": 0, "val": best})
    step, t_train = 0, time.time()
    while time.time() - t_train < a.minutes * 60:
        for _ in range(100):
            loss = loss_fn(net, crops(train, 8, 256, rng), torch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        v = val_loss()
        log.append({"step": step, "val": v, "train": float(loss), "min": (time.time() - t_train) / 60})
        print(f"step {step}: train {float(loss):.5f} val {v:.5f} ({(time.time() - t_train) / 60:.1f} min)", flush=True)
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
    lin_state = {k: t.clone() for k, t in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    if a.save:
        from binauralize.models import checkpoint as ck

        ck.save(a.save, net, config={"inner": a.checkpoint, "input": a.input, "minutes": a.minutes,
                                     "channels": a.channels, "seed": a.seed,
                                     "keep_sum": a.keep_sum},
                extra={"steps": step, "best_val": best, "log": log}, half=False)
        print(f"wrote {a.save}", flush=True)
    for k in lin_state:  # the zero head again: the linear filter alone, for the table
        if k.startswith("head"):
            lin_state[k].zero_()
    lin_net = build_net(a.channels, a_lin, lin["diff"], a.keep_sum)
    lin_net.load_state_dict(lin_state)
    lin_net.eval()

    m2b = {}
    if a.m2b:
        for r in json.loads(Path(a.m2b).read_text())["per_clip"]:
            if r["method"] == "Mono2Binaural":
                m2b[(r["split"], r["clip"])] = r
    keys = KEYS
    rows, lines = [], []
    for split in ("scene_test", "hrtf_test"):
        items = predictions(a.checkpoint, ev.discover_dataset(data, split), data, a.input, split, cache)
        for it in items:
            n = sounding(data, it["clip"])
            variants = {"mask model": it["pred"]}
            with torch.no_grad():
                S, D, M, _, _ = signals([it], torch)
                T = it["pred"].shape[-1]
                for name, model in (("linear filter", lin_net), ("learned stage", net)):
                    So, Do = model(S, D, M)
                    variants[name] = np.stack([istft((So + Do) / 2, T, torch)[0].numpy(),
                                               istft((So - Do) / 2, T, torch)[0].numpy()])
            for name, p in variants.items():
                r = ev.score_pair(p, it["gt"], EVAL_SR)
                rows.append({"split": split, "clip": it["clip"], "sources": n, "input": a.input, "method": name,
                             **{k: r[k] for k in keys}})
        lines += subset_table(rows, m2b, split, a.input, ["mask model", "linear filter", "learned stage"])
        print("\n".join(lines), flush=True)
    cmd = "python benchmarks/output_stage.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = f"`{cmd}` ({time.time() - t0:.0f} s; {step} steps, best scene_val loss {best:.5f})\n" + "\n".join(lines)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps({"command": cmd, "table": text, "log": log, "per_clip": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
