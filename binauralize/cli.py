"""Command line: ``binauralize INPUT -o OUTPUT [options]`` (and batch: several inputs into a folder).

The only place that reads flags; errors become one line on stderr and a non-zero exit status:
1 = bad input/output/tracks, 2 = bad usage, 3 = internal error (run with --debug for the traceback).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from . import __version__
from .errors import BinauralizeError

EPILOG = """examples:
  binauralize clip.mp4 -o clip_3d.mp4 --sources tracks.json
  binauralize clip.mp4 -o clip_3d.wav --sources tracks.json --report report.json
  binauralize a.mp4 b.mov c.mkv -o out_folder/ --sources tracks.json --jobs 2

tracks.json (azimuth in degrees, positive = LEFT; see docs/tracks.md):
  {"sources": [{"name": "voice", "azimuth": 30},
               {"name": "car", "track": [[0.0, 60, 0, 5.0], [4.0, -60, 0, 5.0]]}]}
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
    p.add_argument("--fov", type=float, default=70.0, metavar="DEG",
                   help="horizontal field of view of the camera in degrees (default 70: a phone's main camera)")
    p.add_argument("--preview", metavar="MP4", help="draw what was decided: boxes, sounding source, azimuth "
                   "(also writes a .png summary next to it)")
    p.add_argument("--save-tracks", metavar="JSON", help="write the tracks used (edit and feed back with --sources)")
    p.add_argument("--audio", metavar="FILE", help="take the sound from this file instead of the input's track")
    p.add_argument("--report", metavar="JSON", help="write what was done and why (tracks, decisions, timings)")
    p.add_argument("--hrtf", metavar="SOFA", help="HRIR set in SOFA format (default: bundled MIT KEMAR)")
    p.add_argument("--method", choices=["dsp", "mono"], default="dsp",
                   help="dsp: HRTF renderer (default); mono: Mono-Mono passthrough baseline")
    p.add_argument("--timbre", choices=["mid", "diffuse-field", "none"], default="mid",
                   help="mid: keep the input's tone, add interaural differences (default); diffuse-field: "
                        "DF-equalised HRTF; none: plain HRTF convolution")
    p.add_argument("--reverb", choices=["split", "off"], default="split",
                   help="split: render the recording's own reverberation diffusely (default); off: all direct")
    p.add_argument("--t60", type=float, metavar="S", help="reverberation time of the recording in seconds "
                   "(default: estimated blindly; 0 = dry)")
    p.add_argument("--diffuse", type=float, default=0.5, metavar="W",
                   help="width of the reverberant part, 0 = mono .. 1 = diffuse field (default 0.5)")
    p.add_argument("--lossless", action="store_true", help="lossless audio in the video container (ALAC/FLAC/PCM)")
    p.add_argument("--keep-original-audio", action="store_true", help="also keep the original audio track(s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--jobs", type=int, default=0, help="parallel files in batch mode (default: number of cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notices")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    p.add_argument("--version", action="version", version=f"binauralize {__version__}")
    return p


def _options(args):
    from .dsp.render import RenderOptions

    if args.t60 is not None and args.t60 < 0:
        raise BinauralizeError("--t60 must be >= 0 seconds")
    return RenderOptions(timbre=args.timbre, reverb=args.reverb, t60=args.t60, diffuse=args.diffuse)


def _run_one(inp: str, out: str, args_dict: dict, progress: bool) -> dict:
    from .api import binauralize_file
    from .dsp.render import RenderOptions
    from .vision.localize import LocalizeOptions

    quiet = args_dict["quiet"]
    name = Path(inp).name

    def notice(msg: str) -> None:
        if not quiet:
            print(f"binauralize: {name}: {msg}", file=sys.stderr)

    return binauralize_file(
        inp, out, sources=args_dict["sources"], hrtf=args_dict["hrtf"], options=RenderOptions(**args_dict["options"]),
        method=args_dict["method"], audio=args_dict["audio"], overwrite=args_dict["overwrite"],
        report=args_dict.get("report"), lossless=args_dict["lossless"],
        keep_original_audio=args_dict["keep_original_audio"], progress=progress, notice=notice,
        localize=LocalizeOptions(fov=args_dict["fov"]), preview=args_dict.get("preview"),
        save_tracks=args_dict.get("save_tracks"))


def _batch_outputs(inputs: list[str], out: Path) -> list[tuple[str, str]]:
    if out.suffix and not out.is_dir():
        raise BinauralizeError(f"several inputs need an output folder, not a file: {out}")
    out.mkdir(parents=True, exist_ok=True)
    pairs, seen = [], set()
    for i in inputs:
        p = Path(i)
        target = out / f"{p.stem}_binaural{p.suffix.lower() if p.suffix.lower() in ('.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v', '.wav', '.flac') else '.wav'}"
        if target in seen:
            raise BinauralizeError(f"two inputs would write the same output {target.name}")
        seen.add(target)
        pairs.append((i, str(target)))
    return pairs


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from dataclasses import asdict

        opts = _options(args)
        if args.sources:
            from .tracks import load_tracks

            load_tracks(args.sources)  # validate once, before any work
        common = dict(sources=args.sources, hrtf=args.hrtf, options=asdict(opts), method=args.method,
                      audio=args.audio, overwrite=args.overwrite, lossless=args.lossless,
                      keep_original_audio=args.keep_original_audio, quiet=args.quiet, fov=args.fov)
        if not 1.0 <= args.fov <= 179.0:
            raise BinauralizeError("--fov must be between 1 and 179 degrees")
        out = Path(args.output)
        if len(args.inputs) == 1 and not out.is_dir() and not args.output.endswith(os.sep):
            rep = _run_one(args.inputs[0], args.output, dict(common, report=args.report, preview=args.preview,
                                                             save_tracks=args.save_tracks), progress=not args.quiet)
            if not args.quiet:
                print(f"binauralize: wrote {rep['output']} ({rep['duration_s']:.1f} s audio, "
                      f"{rep['realtime_factor']:.1f}x real time)", file=sys.stderr)
            return 0
        pairs = _batch_outputs(args.inputs, out)
        jobs = args.jobs or os.cpu_count() or 1
        reports, failures = [], 0
        with ProcessPoolExecutor(max_workers=min(jobs, len(pairs))) as ex:
            futs = {ex.submit(_run_one, i, o, common, False): (i, o) for i, o in pairs}
            for f in as_completed(futs):
                i, o = futs[f]
                try:
                    rep = f.result()
                    reports.append(rep)
                    if not args.quiet:
                        print(f"binauralize: wrote {o}", file=sys.stderr)
                except BinauralizeError as exc:
                    failures += 1
                    print(f"binauralize: error: {Path(i).name}: {exc}", file=sys.stderr)
        if args.report:
            from .api import _write_json_atomic

            _write_json_atomic(Path(args.report), {"files": reports, "failures": failures})
        return 1 if failures else 0
    except BinauralizeError as exc:
        print(f"binauralize: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("binauralize: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for users
        if args.debug:
            raise
        print(f"binauralize: internal error: {exc.__class__.__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
