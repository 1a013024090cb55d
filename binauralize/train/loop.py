"""``binauralize train CONFIG``: the training loop shared by the learned spatializers.

Plain PyTorch; several GPUs or nodes through torch DDP launched by ``torchrun`` (``torchrun --nproc_per_node 4
-m binauralize train CONFIG``: each process takes its share of every epoch through a DistributedSampler; rank 0
writes checkpoints and logs). Mixed precision (float16 autocast + gradient scaling) on CUDA when ``amp = true``.
``budget_minutes`` stops training when another epoch would not fit in that wall-clock budget. Every epoch writes ``last.safetensors`` (+ ``last.optim.safetensors``: optimizer state, no pickle) and, when the
validation loss improves, ``best.safetensors``; ``--resume`` continues from ``last``. Logs: ``curves.png`` (the
losses per epoch, the best marked; :mod:`binauralize.train.curves`), ``log.csv`` (one row
per epoch) and TensorBoard event files when the ``tensorboard`` package is installed.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..models import checkpoint
from ..models.registry import build
from .objectives import losses

DEFAULTS = {
    "model": {"name": "mono2binaural"},
    "data": {"train_split": "scene_train", "val_split": "scene_val", "input": "real", "window_s": 0.63,
             "trunk": "efficientnet-lite0", "max_train_clips": 0, "exclude_splits": ["hrtf_test"]},
    "train": {"epochs": 10, "batch_size": 32, "lr": 1e-3, "lr_visual": 1e-4, "weight_decay": 5e-4, "seed": 0,
              "workers": 0, "amp": True, "val_every": 1, "max_steps_per_epoch": 0, "lr_decay": 0.94,
              "lr_decay_every": 10, "save_half": True, "budget_minutes": 0},
    "loss": {},
}


# What each table's keys take: (kind, least value or None, allowed values or None). Kinds: "int" (a TOML integer),
# "num" (integer or float), "bool", "str", "strs" (a list of strings). [model] keys are checked against the model's
# arguments when it is built; the common ones are type-checked here so that `ngf = "four"` is one line, not a crash.
_INT, _NUM = "int", "num"
SCHEMA = {
    "data": {"root": ("str", None, None), "cache": ("str", None, None), "train_split": ("str", None, None),
             "val_split": ("str", None, None), "input": ("str", None, ("real", "mix")), "window_s": (_NUM, 0.01, None),
             "trunk": ("str", None, ("efficientnet-lite0", "resnet18")), "max_train_clips": (_INT, 0, None),
             "max_val_clips": (_INT, 0, None), "exclude_splits": ("strs", None, None), "min_sources": (_INT, 0, None),
             "val_min_sources": (_INT, 0, None), "targets": ("str", None, ("dry", "wet")),
             "max_sources": (_INT, 1, None), "remix": (_NUM, 0, None), "remix_always_below": (_INT, 0, None),
             "allow_uncached": ("bool", None, None)},
    "train": {"epochs": (_INT, 1, None), "batch_size": (_INT, 1, None), "lr": (_NUM, 1e-30, None),
              "lr_visual": (_NUM, 0, None), "weight_decay": (_NUM, 0, None), "seed": (_INT, None, None),
              "workers": (_INT, 0, None), "amp": ("bool", None, None), "val_every": (_INT, 1, None),
              "max_steps_per_epoch": (_INT, 0, None), "lr_decay": (_NUM, 1e-30, None),
              "lr_decay_every": (_INT, 1, None), "save_half": ("bool", None, None), "budget_minutes": (_NUM, 0, None)},
    "loss": {"backbone": (_NUM, 0, None), "coherence": (_NUM, 0, None), "geometric": (_NUM, 0, None),
             "rir": (_NUM, 0, None), "margin": (_NUM, 0, None), "binaural": (_NUM, 0, None),
             "linear": (_NUM, 0, None), "weighting": ("str", None, ("magnitude", "metric"))},
}
MODEL_VALUES = {"name": ("str", None, None), "ngf": (_INT, 1, None), "hidden": (_INT, 1, None),
                "adapter": (_INT, 1, None), "blocks": (_INT, 1, None), "coherence_ngf": (_INT, 1, None),
                "components": (_INT, 1, None), "iters": (_INT, 1, None), "context": (_INT, 0, None),
                "frames_per_class": (_INT, 1, None), "frames_per_clip": (_INT, 1, None),
                "visual_reduced": (_INT, 1, None), "c": (_NUM, 0, None), "bg_weight": (_NUM, 0, None),
                "threshold": (_NUM, 0, None), "power": (_NUM, 0, None), "use_visual": ("bool", None, None),
                "visual": ("bool", None, None), "prior": ("str", None, None), "stems": ("str", None, None)}


def _check_value(where: str, key: str, v, spec: tuple) -> None:
    kind, least, allowed = spec
    ok = {"int": isinstance(v, int) and not isinstance(v, bool),
          "num": isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
          "bool": isinstance(v, bool), "str": isinstance(v, str),
          "strs": isinstance(v, list) and all(isinstance(x, str) for x in v)}[kind]
    want = {"int": "an integer", "num": "a number", "bool": "true or false", "str": "a string",
            "strs": "a list of strings"}[kind]
    if ok and least is not None and v < least:
        ok, want = False, (f"{want} of at least {least:g}" if least > 1e-20 else f"a positive {want[2:]}")
    if ok and allowed is not None and v not in allowed:
        ok, want = False, " or ".join(repr(a) for a in allowed)
    if not ok:
        raise InputError(f"{where} {key} must be {want}, got {v!r}")


def check_config_values(cfg: dict, name: str = "config") -> None:
    """InputError (one line) for a key the [data], [train] or [loss] table does not take (with the closest known
    key) or a value of the wrong type or range in any table."""
    import difflib

    for table, keys in SCHEMA.items():
        for k, v in (cfg.get(table) or {}).items():
            if k not in keys:
                close = difflib.get_close_matches(k, list(keys), n=1)
                raise InputError(f"{name}: unknown key {k!r} in [{table}]" + (f" (did you mean {close[0]!r}?)" if close else "")
                                 + f"; it takes: {', '.join(sorted(keys))}")
            _check_value(f"{name}: [{table}]", k, v, keys[k])
    for k, v in (cfg.get("model") or {}).items():
        if k in MODEL_VALUES:
            _check_value(f"{name}: [model]", k, v, MODEL_VALUES[k])


def load_config(path: str | Path) -> dict:
    """A TOML config merged over :data:`DEFAULTS`; relative data paths are taken from the working directory."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no config file {path}")
    try:
        cfg = tomllib.loads(path.read_text())
    except Exception as exc:
        raise InputError(f"{path.name}: not valid TOML ({exc})") from None
    unknown = sorted(k for k, v in cfg.items() if isinstance(v, dict) and k not in ("model", "data", "train", "loss"))
    if unknown:  # a misspelt table would silently train the defaults
        raise InputError(f"{path.name}: unknown table [{unknown[0]}]: the tables are [model], [data], [train], [loss]")
    check_config_values(cfg, path.name)
    out = {k: dict(v) for k, v in DEFAULTS.items()}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.setdefault(k, {}).update(v)
        else:
            out[k] = v
    out["config_file"] = str(path)
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _dist():
    ws = int(os.environ.get("WORLD_SIZE", "1"))
    if ws > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if ws > 1 else 0
    return ws, rank


def pick_device(device: str | None, local_rank: int = 0) -> torch.device:
    """``device`` (None: the best available); InputError for one this machine does not have."""
    if device:
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise InputError(f"--device {device}: not a device name (cpu, cuda, cuda:1, mps)") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"--device {device}: no CUDA device here (this PyTorch build or machine has none)")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InputError(f"--device {device}: no MPS device here")
        return dev
    return _pick_default_device(local_rank)


def _pick_default_device(local_rank: int = 0) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_args(cfg: dict, trunk_info: dict) -> tuple[str, dict]:
    m = dict(cfg["model"])
    name = m.pop("name")
    m.setdefault("visual_channels", trunk_info["channels"])
    m.setdefault("visual_hw", trunk_info["map_size"])
    m.setdefault("trunk", trunk_info["trunk"])
    m.setdefault("window_s", cfg["data"]["window_s"])
    return name, m


def _split_ids(root: Path, split: str, cache: Path, limit: int = 0, exclude: tuple = (),
               allow_uncached: bool = True, counts: dict | None = None) -> list[str]:
    """Cached clips of ``split`` minus those of the ``exclude`` splits (e.g. the held-out-HRTF clips, so one
    training run serves both the scene split and the HRTF split). ``allow_uncached`` False: InputError when some
    of those clips are not cached (a partly built cache would silently train on a subset). ``counts``: gets
    ``{split: {"clips": N, "cached": M, "used": K}}``."""
    f = root / "splits" / f"{split}.txt"
    if not f.is_file():
        from ..data.synth import GENERATED_SPLITS

        have = sorted(p.stem for p in (root / "splits").glob("*.txt")) if (root / "splits").is_dir() else []
        raise InputError(f"no split file {f}" + (" (a generated split with no clip in this set has no file)"
                                                 if split in GENERATED_SPLITS and have else "")
                         + (f"; this set has: {', '.join(have)}" if have else " (not a dataset folder?)"))
    drop: set = set()
    for e in exclude:
        fe = root / "splits" / f"{e}.txt"
        if fe.is_file():
            drop |= set(fe.read_text().split())
    wanted = [c for c in f.read_text().split() if c not in drop]
    ids = [c for c in wanted if (cache / f"{c}.npz").exists()]
    if not ids:
        raise InputError(f"split {split}: none of its clips are cached in {cache}: run `binauralize train-cache "
                         f"{root}`")
    if len(ids) < len(wanted) and not allow_uncached:
        raise InputError(f"{len(wanted) - len(ids)} of {len(wanted)} clips of {split} are not cached in {cache}: run "
                         f"`binauralize train-cache {root}` (or pass --allow-uncached to train on the cached ones)")
    cached = len(ids)
    ids = ids[:limit] if limit else ids
    if counts is not None:
        counts[split] = {"clips": len(wanted), "cached": cached, "used": len(ids)}
    return ids


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _save_optimizer(path: Path, opt, scaler, extra: dict) -> None:
    from safetensors.torch import save_file

    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    meta = {"param_groups": json.dumps(sd["param_groups"]), "extra": json.dumps(extra),
            "scaler": json.dumps({k: float(v) if torch.is_tensor(v) else v for k, v in scaler.state_dict().items()}
                                 if scaler is not None else {})}
    tmp = path.with_name(f".{path.name}.partial")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def _load_optimizer(path: Path, opt, scaler) -> dict:
    from safetensors import safe_open

    state: dict = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        for key in f.keys():
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = f.get_tensor(key)
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    if scaler is not None and meta.get("scaler") not in (None, "{}"):
        scaler.load_state_dict(json.loads(meta["scaler"]))
    return json.loads(meta["extra"])


class _Logger:
    def __init__(self, out: Path, enabled: bool):
        self.path, self.enabled, self.tb = out / "log.csv", enabled, None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except Exception:  # tensorboard not installed: CSV only
                self.tb = None

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        try:  # curves.png beside the log, redrawn every epoch (a plot is read at a glance; a CSV is not)
            from .curves import plot_log

            plot_log(self.path, self.path.with_name("curves.png"))
        except Exception:  # a plotting problem must not stop training
            pass
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.tb.add_scalar(k, v, row["epoch"])
            self.tb.flush()


def _sounding(root: Path, cid: str) -> int:
    """How many sources of a synthetic clip sound (its meta JSON)."""
    meta = json.loads((root / "meta" / f"{cid}.json").read_text())
    return sum(1 for s in meta["sources"] if s.get("sounding"))


def _check_resume(out: Path, root: Path, input: str, epochs: int) -> dict | None:
    """Before a resume does any work: InputError when the run was trained on another dataset or input (a notice
    when it predates the record); ``{"nothing_to_do": True, "epochs": N}`` when it already has ``epochs``."""
    import sys

    from ..models.checkpoint import read_metadata

    last = out / "last.safetensors"
    if not last.exists():
        return None
    prev = read_metadata(last).get("config") or {}
    ds = prev.get("dataset")
    if ds is None:
        print(f"binauralize train: notice: {out} predates the dataset record: not checked that {root} is the "
              "dataset it was trained on", file=sys.stderr)
    elif Path(ds) != root.resolve():
        raise InputError(f"{out} was trained on {ds}, not {root.resolve()}: resume it with --data {ds} or choose "
                         "another --out")
    was = (prev.get("data") or {}).get("input")
    if was is not None and was != input:
        raise InputError(f"{out} was trained with input {was!r}, not {input!r}: resume it with --input {was} or "
                         "choose another --out")
    optim = out / "last.optim.safetensors"
    if optim.exists():
        from safetensors import safe_open

        with safe_open(str(optim), framework="numpy") as f:
            done = int(json.loads((f.metadata() or {}).get("extra", "{}")).get("epoch", -1)) + 1
        if done >= epochs:
            return {"nothing_to_do": True, "epochs": done}
    return None


def train(cfg: dict, out: str | Path, resume: bool = False, device: str | None = None, progress: bool = True,
          data_root: str | Path | None = None, cache: str | Path | None = None) -> dict:
    """Train the model described by ``cfg`` (see ``configs/*.toml``); returns a summary dict."""
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from tqdm import tqdm

    from .windows import CachedClips, CachedWindows

    world, rank = _dist()
    dev = pick_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    # subnormal floats (activations decaying towards 0) are 20-30x slower on x86 CPUs: the flow model's epochs went
    # from 8 s to 130 s mid-run on 2026-12-07 (its forward and backward 5.3 s against 0.2 s when flushed to zero)
    torch.set_flush_denormal(True)
    tc, dc = cfg["train"], cfg["data"]
    seed_everything(int(tc["seed"]) + rank)
    if not (data_root or dc.get("root")):
        raise InputError("no dataset: pass --data DIR (a folder written by `binauralize dataset synth`) or set "
                         "[data] root in the config")
    root = Path(data_root or dc.get("root"))
    if not root.is_dir():
        raise InputError(f"dataset folder {root} not found (set [data] root or pass --data)")
    if not (root / "splits").is_dir() or not (root / "binaural_audios").is_dir():
        raise InputError(f"{root} is not a dataset folder (no splits/ and binaural_audios/; `binauralize dataset "
                         "synth` writes one)")
    cache = Path(cache or dc.get("cache") or root / "cache" / dc["trunk"])
    if not (cache / "trunk.json").exists():
        raise InputError(f"no feature cache in {cache}: run `binauralize train-cache {root}` first")
    trunk_info = json.loads((cache / "trunk.json").read_text())
    ex = tuple(dc.get("exclude_splits") or ())
    out = Path(out)
    state = _check_resume(out, root, dc["input"], int(tc["epochs"])) if resume else None
    if state is not None and state.get("nothing_to_do"):
        return state
    allow = bool(dc.get("allow_uncached"))
    split_counts: dict = {}
    train_ids = _split_ids(root, dc["train_split"], cache, int(dc.get("max_train_clips") or 0), ex, allow, split_counts)
    val_ids = _split_ids(root, dc["val_split"], cache, int(dc.get("max_val_clips") or 0), ex, allow, split_counts)
    cfg["dataset"] = str(root.resolve())  # recorded in config.json and every checkpoint: --resume checks them
    cfg["clips"] = split_counts
    if cfg["model"]["name"] == "class-nmf":  # no network: dictionaries and a classifier, fitted in one pass
        from .class_nmf_fit import fit_class_nmf

        if not train_ids:
            raise InputError(f"no training clips in {root} (split {dc['train_split']})")
        mc = cfg["model"]
        res = fit_class_nmf(root, cache, train_ids, val_ids, Path(out), dc["trunk"],
                            components=int(mc.get("components", 12)),
                            frames_per_class=int(mc.get("frames_per_class", 6000)), c=float(mc.get("c", 0.01)),
                            iters=int(mc.get("iters", 100)), power=float(mc.get("power", 1.0)),
                            context=int(mc.get("context", 0)), stems=str(mc.get("stems", "dry")),
                            seed=int(tc["seed"]), progress=progress and rank == 0,
                            config=cfg)
        return {**res, "clips": split_counts}
    if cfg["model"]["name"] == "objects":  # the object detection head on cached trunk maps (vision/objects.py)
        from .objects_fit import fit_object_detector

        if not train_ids:
            raise InputError(f"no training clips in {root} (split {dc['train_split']})")
        mc = cfg["model"]
        return {"clips": split_counts, **fit_object_detector(root, cache, train_ids, val_ids, Path(out), dc["trunk"],
                                   hidden=int(mc.get("hidden", 64)), epochs=int(tc.get("epochs", 30)),
                                   lr=float(tc.get("lr", 2e-3)), batch=int(tc.get("batch_size", 64)),
                                   bg_weight=float(mc.get("bg_weight", 0.3)), threshold=float(mc.get("threshold", 0.5)),
                                   frames_per_clip=int(mc.get("frames_per_clip", 6)), seed=int(tc["seed"]), progress=progress and rank == 0, config=cfg)}
    clips = CachedClips(cache, sorted(set(train_ids) | set(val_ids)))
    windows = CachedWindows
    if cfg["model"]["name"] == "position":  # per-source stems and tracks (issue 7)
        from functools import partial

        from .sources import SourceWindows, add_sources

        add_sources(root, cache, sorted(set(train_ids) | set(val_ids)))
        targets = dc.get("targets", "dry")  # "wet": ratio masks of each source's image through its room
        if targets == "wet":
            from .sources import add_wet_stems

            add_wet_stems(root, cache, sorted(set(train_ids) | set(val_ids)))
        if int(dc.get("min_sources") or 0) > 0:  # clips with at least this many sounding sources (2: mixtures only)
            train_ids = [c for c in train_ids if _sounding(root, c) >= int(dc["min_sources"])]
        vmin = int(dc.get("val_min_sources") or dc.get("min_sources") or 0)
        if vmin > 0:
            val_ids = [c for c in val_ids if _sounding(root, c) >= vmin]
        if cfg["model"].get("visual", True):  # crop embeddings: trunk channels + the on-screen flag
            cfg["model"]["extra_dim"] = int(trunk_info["channels"]) + 1
        cfg["model"].pop("visual", None)
        cfg["model"]["trunk"] = dc["trunk"]
        hr = float((cfg.get("loss") or {}).get("binaural", 0)) > 0  # the output-domain term needs HRTF responses
        prior_nmf = None
        if cfg["model"].get("prior"):  # position-nmf: refine the masks of a fitted class-NMF separator
            from ..models.checkpoint import read_metadata
            from ..models.class_nmf import ClassNMF
            from ..models.spatializer import resolve_checkpoint

            prior = str(cfg["model"].pop("prior"))
            try:
                prior_path = resolve_checkpoint(prior)  # a path (from the working directory) or a shipped name
            except InputError as e:
                raise InputError(f"[model] prior = {prior!r}: {e} (a path is taken from the working directory, "
                                 f"{Path.cwd()})") from None
            if read_metadata(prior_path).get("model") != "class-nmf":
                raise InputError(f"[model] prior: {prior_path} is not a class-nmf checkpoint")
            prior_nmf, _ = ClassNMF.load(prior_path)
            cfg["model"].update(classes=prior_nmf.classes, atoms=int(prior_nmf.dictionaries.shape[1]),
                                nmf_iters=prior_nmf.iters)
            if prior_nmf.context:  # atoms over stacked frames
                cfg["model"]["nmf_context"] = prior_nmf.context
            cfg["model"]["prior_file"] = str(prior_path)
        windows = partial(SourceWindows, max_sources=int(dc.get("max_sources", 3)),
                          visual_dim=int(cfg["model"].get("extra_dim", 0)), hrtf_response=hr, targets=targets,
                          prior_nmf=prior_nmf)
        if float(dc.get("remix") or 0) > 0:  # dynamic remixing: training items that sum two clips' windows
            from .sources import RemixWindows

            windows = partial(RemixWindows, remix=float(dc["remix"]), max_sources=int(dc.get("max_sources", 6)),
                              always_below=int(dc.get("remix_always_below") or 0),
                              visual_dim=int(cfg["model"].get("extra_dim", 0)), hrtf_response=hr, targets=targets,
                              prior_nmf=prior_nmf)
    if cfg["model"]["name"] == "flow":  # DSP renderings of the inputs (issue 7, generative variant)
        from .dsp_renders import FlowWindows, add_dsp_renders

        add_dsp_renders(root, cache, sorted(set(train_ids) | set(val_ids)), dc["input"], progress=progress and rank == 0)
        windows = FlowWindows
    for what, ids_, split, least in (("training", train_ids, dc["train_split"], dc.get("min_sources")),
                                     ("validation", val_ids, dc["val_split"], dc.get("val_min_sources") or dc.get("min_sources"))):
        if not ids_:
            need = f" with at least {least} sounding sources" if cfg["model"]["name"] == "position" and least else ""
            raise InputError(f"no {what} clips{need} in {root} (split {split})")
    tr = windows(clips, train_ids, dc["input"], dc["window_s"], random=True, seed=int(tc["seed"]))
    va = windows(clips, val_ids, dc["input"], dc["window_s"], random=False)
    sampler = DistributedSampler(tr, shuffle=True, seed=int(tc["seed"])) if world > 1 else None
    if (len(sampler) if sampler is not None else len(tr)) < int(tc["batch_size"]):
        # drop_last: fewer windows than one batch would train nothing and save an untrained model (said before the
        # loader is made: its worker processes would warn first)
        raise InputError(f"{len(tr)} training window(s) in {root} (split {dc['train_split']}) make no batch of "
                         f"{tc['batch_size']}: generate more clips or set [train] batch_size lower")
    g = torch.Generator().manual_seed(int(tc["seed"]))
    tl = DataLoader(tr, batch_size=int(tc["batch_size"]), shuffle=sampler is None, sampler=sampler, drop_last=True,
                    num_workers=int(tc["workers"]), generator=g, persistent_workers=int(tc["workers"]) > 0)
    vl = DataLoader(va, batch_size=int(tc["batch_size"]), shuffle=False, num_workers=0)

    name, args = model_args(cfg, trunk_info) if cfg["model"]["name"] not in ("position", "flow") else \
        (cfg["model"]["name"], {k: v for k, v in cfg["model"].items() if k not in ("name", "prior_file")})
    try:
        model = build(name, **args).to(dev)
    except KeyError as exc:  # an unknown [model] name: the user's config, not our bug
        raise InputError(f"{exc.args[0]}, and the fitted class-nmf and objects") from None
    except (TypeError, ValueError) as exc:  # a [model] value the network cannot take (a wrong type or size)
        raise InputError(f"[model] of {name}: {exc}".splitlines()[0]) from None
    if cfg["model"]["name"] == "position" and cfg["model"].get("classes"):
        model.set_nmf(prior_nmf)  # the prior's dictionaries and classifier travel in the checkpoint
    visual = [p for n, p in model.named_parameters() if n.startswith(("adapter", "conv1x1", "rir_", "coh_"))]
    vis_ids = {id(p) for p in visual}
    rest = [p for p in model.parameters() if id(p) not in vis_ids]
    opt = torch.optim.Adam([{"params": rest, "lr": float(tc["lr"])},
                            {"params": visual, "lr": float(tc["lr_visual"])}], weight_decay=float(tc["weight_decay"]))
    use_amp = bool(tc["amp"]) and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None) \
        if world > 1 else model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start_epoch, best, history = 0, math.inf, []
    if resume and (out / "last.safetensors").exists():
        m, meta = checkpoint.load(out / "last.safetensors", map_location=str(dev))
        try:
            model.load_state_dict(m.state_dict())
        except RuntimeError:  # another architecture or size: PyTorch's message is a page of tensor names
            from ..errors import BinauralizeError

            raise BinauralizeError(f"{out} holds a run of another model or config ({meta.get('model', '?')}): resume it with its own config "
                                   f"({out / 'config.json'}) or choose another --out") from None
        extra = _load_optimizer(out / "last.optim.safetensors", opt, scaler)
        start_epoch, best = int(extra["epoch"]) + 1, float(extra["best"])
        if start_epoch >= int(tc["epochs"]):  # nothing to train: leave the run's files as they are
            return {"nothing_to_do": True, "epochs": start_epoch}
    log = _Logger(out, rank == 0)
    if rank == 0:
        tmp = out / ".config.json.partial"
        tmp.write_text(json.dumps(cfg, indent=1))
        tmp.replace(out / "config.json")
    max_steps = int(tc.get("max_steps_per_epoch") or 0)
    budget_s = float(tc.get("budget_minutes") or 0) * 60
    t_run = time.perf_counter()
    t_train = 0.0
    samples = 0
    for epoch in range(start_epoch, int(tc["epochs"])):
        decay = float(tc["lr_decay"]) ** (epoch // max(1, int(tc["lr_decay_every"])))
        for grp, base in zip(opt.param_groups, (float(tc["lr"]), float(tc["lr_visual"]))):
            grp["lr"] = base * decay
        tr.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        sums: dict = {}
        steps = 0
        t0 = time.perf_counter()
        bar = tqdm(tl, desc=f"epoch {epoch + 1}/{tc['epochs']}", unit="batch", disable=not progress or rank != 0,
                   total=min(len(tl), max_steps) if max_steps else len(tl))
        for batch in bar:
            batch = _to(batch, dev)
            with torch.autocast(dev.type, dtype=torch.float16, enabled=use_amp):
                terms = losses(model if world == 1 else _Unwrap(net, model), batch, cfg.get("loss"))
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(terms["total"]).backward()
                scaler.step(opt)
                scaler.update()
            else:
                terms["total"].backward()
                opt.step()
            if not torch.isfinite(terms["total"]):
                raise RuntimeError(f"loss became {terms['total'].item()} at epoch {epoch + 1}, step {steps + 1}")
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            steps += 1
            samples += batch["mix"].shape[0]
            bar.set_postfix(loss=f"{sums['total'] / steps:.4g}")
            if max_steps and steps >= max_steps:
                break
        bar.close()
        t_train += time.perf_counter() - t0
        row = {"epoch": epoch + 1, **{f"train_{k}": v / max(steps, 1) for k, v in sums.items()},
               "train_seconds": time.perf_counter() - t0, "lr": opt.param_groups[0]["lr"]}
        if (epoch + 1) % int(tc["val_every"]) == 0 or epoch + 1 == int(tc["epochs"]):
            row.update({f"val_{k}": v for k, v in validate(model, vl, dev, cfg.get("loss")).items()})
        history.append(row)
        if rank == 0:
            score_key = "val_diff" if "val_diff" in row else "val_total"  # issue-6 models: D loss; others: total
            score = row.get(score_key, math.inf)
            extra = {"epoch": epoch, "best": min(best, score), "val_diff": score, "samples": samples}
            half = bool(tc.get("save_half"))
            checkpoint.save(out / "last.safetensors", model, cfg, extra, half=False)
            _save_optimizer(out / "last.optim.safetensors", opt, scaler, extra)
            if score < best:
                best = score
                checkpoint.save(out / "best.safetensors", model, cfg, extra, half=half)
            log.write(row)  # after the checkpoints: a run stopped in between resumes without logging an epoch twice
        if budget_s:  # stop when another epoch would not fit in the budget (same decision on every rank)
            spent = time.perf_counter() - t_run
            if spent + spent / (epoch + 1 - start_epoch) > budget_s:
                break
    if world > 1:
        torch.distributed.barrier()
    key = "val_diff" if any("val_diff" in r for r in history) else "val_total"
    return {"epochs": start_epoch + len(history), "epochs_this_run": len(history), "best_val_diff": best, "best_val_key": key, "train_seconds": t_train,
            "clips": split_counts, "dataset": cfg["dataset"], "input": dc["input"],
            "samples_per_s": samples / max(t_train, 1e-9), "history": history, "out": str(out)}


class _Unwrap:
    """Let the objective call the DDP-wrapped network while reading attributes from the plain model."""

    def __init__(self, ddp, model):
        self._ddp, self._model = ddp, model

    def __call__(self, *a, **k):
        return self._ddp(*a, **k)

    def __getattr__(self, name):
        return getattr(self._model, name)


@torch.no_grad()
def validate(model, loader, dev, weights=None) -> dict:
    """Mean loss terms over the validation windows (fixed windows, no randomness except the coherence swap)."""
    model.eval()
    sums, n = {}, 0
    g = torch.random.get_rng_state()
    torch.manual_seed(1234)
    for batch in loader:
        terms = losses(model, _to(batch, dev), weights)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * batch["mix"].shape[0]
        n += batch["mix"].shape[0]
    torch.random.set_rng_state(g)
    return {k: v / max(n, 1) for k, v in sums.items()}
