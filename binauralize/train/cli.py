"""``binauralize train CONFIG``, ``binauralize train-cache DATA`` and ``binauralize train-crop-bank DATA``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import BinauralizeError
from ..signals import exit_status


def _guarded(prog: str, debug: bool, work) -> int:
    """Run ``work()``; errors become one line on stderr: 1 = bad input, 130 = interrupted, 3 = internal."""
    try:
        return work()
    except BinauralizeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"{prog}: interrupted" + (" (resume with --resume)" if prog.endswith("train") else ""), file=sys.stderr)
        return exit_status(exc)
    except Exception as exc:
        if debug:
            raise
        print(f"{prog}: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 3


def cache_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="binauralize train-cache",
                                description="Precompute 16-kHz audio, frozen visual feature maps and RIR targets per "
                                            "clip of a generated dataset (resumable; run before `train`).")
    p.add_argument("data", help="dataset folder written by `binauralize dataset synth`")
    p.add_argument("--out", help="cache folder (default DATA/cache/TRUNK)")
    p.add_argument("--trunk", default="efficientnet-lite0", choices=["efficientnet-lite0", "resnet18"])
    p.add_argument("--backbone-weights", metavar="FILE", help="ImageNet weights for the resnet18 trunk")
    p.add_argument("--flip-splits", nargs="*", default=None,
                   help="splits whose clips also get mirrored-frame features (Flipped-Visual; default those of "
                        "scene_test hrtf_test position_test the set has)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)

    def work() -> int:
        from .cache import build_cache

        flip = args.flip_splits
        if flip is None:
            flip = ["scene_test", "hrtf_test", "position_test"]
        else:
            splits = Path(args.data) / "splits"
            unknown = [s for s in flip if not (splits / f"{s}.txt").is_file()]
            if unknown and splits.is_dir():
                have = sorted(q.stem for q in splits.glob("*.txt"))
                raise BinauralizeError(f"--flip-splits: no split {unknown[0]} in {args.data} (it has: "
                                       f"{', '.join(have)})")
        out = build_cache(args.data, args.out, args.trunk, tuple(flip), progress=not args.quiet,
                          backbone_weights=args.backbone_weights)
        print(f"binauralize train-cache: {sum('_' not in q.stem for q in Path(out).glob('*.npz'))} clips cached in {out}")
        return 0
    return _guarded("binauralize train-cache", args.debug, work)


def crop_bank_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="binauralize train-crop-bank",
        description="Fit the crop bank of a visual track-driven model (binauralize/models/crop_bank.py): prototypes "
                    "of the training pictures' crop embeddings and a similarity threshold, so that at run time a "
                    "source whose picture is unlike them is treated as not seen. Put the file beside the checkpoint "
                    "as <checkpoint stem>.crops.safetensors.")
    p.add_argument("data", help="dataset folder with a feature cache (`binauralize train-cache DATA`)")
    p.add_argument("--out", required=True, help="bank file to write (.safetensors)")
    p.add_argument("--cache", help="feature cache folder (default DATA/cache/efficientnet-lite0)")
    p.add_argument("--train-split", default="scene_train")
    p.add_argument("--held-out-split", default="scene_val", help="clips whose crops set the threshold")
    p.add_argument("--exclude", nargs="*", default=["hrtf_test"], help="splits whose clips are left out of both")
    p.add_argument("--prototypes", type=int, default=32)
    p.add_argument("--quantile", type=float, default=0.01,
                   help="share of held-out crops allowed below the threshold (default 0.01)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)

    def work() -> int:
        from ..errors import InputError
        from ..models.crop_bank import fit_crop_bank
        from .class_nmf_fit import _embeddings
        from .loop import _split_ids

        root = Path(args.data)
        cache = Path(args.cache) if args.cache else root / "cache" / "efficientnet-lite0"
        out = Path(args.out)
        if out.is_dir():
            raise InputError(f"--out {out} is a folder: give the bank's file name (.safetensors)")
        if out.exists() and not args.overwrite:
            raise InputError(f"{out} exists (pass --overwrite to replace it)")
        if not 0 < args.quantile < 0.5:
            raise InputError("--quantile must be in (0, 0.5)")
        if args.prototypes < 1:
            raise InputError("--prototypes must be at least 1")
        if not out.parent.is_dir():
            raise InputError(f"no folder {out.parent} for --out")
        if not root.is_dir():
            raise InputError(f"dataset folder {root} not found")
        info = cache / "trunk.json"
        if not info.is_file():
            raise InputError(f"no feature cache in {cache}: run `binauralize train-cache {root}` first")
        trunk = json.loads(info.read_text()).get("trunk", cache.name)
        ex = tuple(args.exclude)
        xtr, _ = _embeddings(root, cache, _split_ids(root, args.train_split, cache, 0, ex))
        xho, _ = _embeddings(root, cache, _split_ids(root, args.held_out_split, cache, 0, ex))
        if not len(xtr) or not len(xho):
            raise InputError(f"no on-screen source crops in the {args.train_split} or {args.held_out_split} clips")
        bank = fit_crop_bank(xtr, xho, args.prototypes, args.quantile,
                             meta={"data": str(root), "train_split": args.train_split,
                                   "held_out_split": args.held_out_split, "exclude": list(ex),
                                   "trunk": trunk})
        bank.save(out)
        print(f"binauralize train-crop-bank: {args.prototypes} prototypes of {len(xtr)} crops, threshold "
              f"{bank.threshold:.3f} (the {args.quantile:g} quantile of {len(xho)} held-out crops) -> {out}")
        return 0
    return _guarded("binauralize train-crop-bank", args.debug, work)


def train_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="binauralize train",
        description="Train a learned spatializer from a TOML config (configs/*.toml). Several GPUs or nodes: "
                    "torchrun --nproc_per_node N -m binauralize train CONFIG ...",
        epilog="example:\n  binauralize train configs/mono2binaural.toml --data data/synth --out runs/m2b\n"
               "  binauralize train configs/debug.toml --data tiny --out runs/debug",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="TOML config ([model], [data], [train], [loss] tables)")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--data", help="dataset folder (overrides [data] root)")
    p.add_argument("--cache", help="feature cache folder (default DATA/cache/TRUNK)")
    p.add_argument("--input", choices=["real", "mix"], help="override [data] input: real-mono track or (L+R)/2")
    p.add_argument("--epochs", type=int, help="override [train] epochs")
    p.add_argument("--budget-minutes", type=float, help="override [train] budget_minutes (wall clock of this run; "
                   "0 = none): training stops after the epoch that crosses it")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors (same dataset and "
                   "input as the run's)")
    p.add_argument("--allow-uncached", action="store_true", help="train on the cached clips of the splits when "
                   "some are not cached (default: refused; the counts are in config.json and summary.json)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args(argv)

    def work() -> int:
        from .loop import load_config, train

        cfg = load_config(args.config)
        if args.input:
            cfg["data"]["input"] = args.input
        if args.allow_uncached:
            cfg["data"]["allow_uncached"] = True
        if args.epochs is not None:
            if args.epochs < 1:
                raise BinauralizeError("--epochs must be at least 1")
            cfg["train"]["epochs"] = args.epochs
        if args.budget_minutes is not None:
            if args.budget_minutes < 0:
                raise BinauralizeError("--budget-minutes must be 0 (no budget) or more")
            cfg["train"]["budget_minutes"] = args.budget_minutes
        out = Path(args.out or Path("runs") / Path(args.config).stem)
        if out.exists() and not out.is_dir():
            raise BinauralizeError(f"--out {out} is a file: give the run's folder")
        if (out / "last.safetensors").exists() and not args.resume:
            raise BinauralizeError(f"{out} already holds a run: pass --resume to continue it or choose another --out")
        res = train(cfg, out, resume=args.resume, device=args.device, progress=not args.quiet, data_root=args.data,
                    cache=args.cache)
        if res.get("nothing_to_do"):
            print(f"binauralize train: nothing to do: the run already has {res['epochs']} epochs (raise --epochs "
                  "to train more)", file=sys.stderr)
            return 0
        if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 reports
            return 0
        tmp = out / ".summary.json.partial"
        tmp.write_text(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=1))
        tmp.replace(out / "summary.json")
        if "val_frames" in res:  # the object detector
            v = res["val"]
            print(f"binauralize train: object detector, {len(res['classes'])} classes, validation precision "
                  f"{v['precision']:.1%} recall {v['recall']:.1%} class {v['class_accuracy']:.1%}, "
                  f"{res['seconds']:.0f} s -> {out}/best.safetensors")
            return 0
        if "classes" in res:  # class-nmf: fitted, not trained
            print(f"binauralize train: {len(res['classes'])} class dictionaries of {res['atoms_per_class']} atoms, "
                  f"crop classifier validation accuracy {res['classifier_val_accuracy']:.1%}, "
                  f"{res['seconds']:.0f} s -> {out}/best.safetensors")
            return 0
        what = {"val_diff": "D loss", "val_total": "loss"}.get(res.get("best_val_key"), "loss")
        resumed = f" ({res['epochs_this_run']} in this run)" if res['epochs_this_run'] != res['epochs'] else ""
        print(f"binauralize train: {res['epochs']} epochs{resumed}, best validation {what} {res['best_val_diff']:.5g}, "
              f"{res['samples_per_s']:.1f} samples/s -> {out}/best.safetensors")
        return 0
    return _guarded("binauralize train", args.debug, work)
