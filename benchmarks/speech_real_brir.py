"""`--model speech` against real ground truth: a voice and an instrument placed with measured BRIRs at -40/+40 deg.

The mixtures of benchmarks/position_real_brir.py (issue 7's real test): four pairs of different dry recordings from
../shared/data/dry_sources, each pair a voice (speech or singing) and an instrument (castanets or trumpet), each pair
in both placements, equal levels, convolved with BRIRs measured on a KEMAR in a seminar room (6.3 m) at -40 and +40
degrees and summed; input: (L+R)/2 of that real binaural mix.

Rows with ORACLE tracks (the true azimuths, the voice's track named "voice"): Mono-Mono; the DSP renderer with the
mix at the voice (what the tool does when it sees only the talker) and along both tracks (no separation); the
shipped position model (the frame of position_real_brir.py); ``--model speech`` (DeepFilterNet3 separates the voice,
the rest goes to the other track). Rows with DETECTED tracks: a video whose frame shows a face photograph where the
voice is and a cat photograph where the instrument is, run through the whole tool with ``--objects`` (faces by the
face detector, the cat by NanoDet), with the default DSP renderer and with ``--model speech``.

    .venv/bin/python benchmarks/speech_real_brir.py --data ../shared/data --overwrite
Writes docs/results_speech_real_brir.md, benchmarks/results/speech_real_brir.json and the frame
docs/speech_real_brir_frame.png (the defaults of --out, --json, --frame-png); an existing one is replaced only with
--overwrite (without it the run is refused before any work).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import oaconvolve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from position_real_brir import (ALL_RECORDINGS, CLASS, COLS, FOV, PAIRS, frame_with, real_mixtures,  # noqa: E402
                                scores, si_sdr_improvement)
from quality_real_brir import SR  # noqa: E402

VOICES = {"xmas.wav", "singing.wav", "198-209-0000.hq.ogg"}  # speech or singing; the others are instruments
# --pairs all: every voice recording in dry_sources/ with each instrument (12 pairs, 24 mixtures)
INSTRUMENTS = ["castanets_dry.wav", "sorohanro_-_solo-trumpet-06.hq.ogg"]
ALL_VOICES = set(ALL_RECORDINGS) - set(INSTRUMENTS)
VIDEO_W, VIDEO_H = 960, 360


def two_photo_frame(az_voice: float, az_other: float) -> np.ndarray:
    """A 960x360 frame (FOV degrees wide): a face photograph where ``az_voice`` projects, a cat where ``az_other``."""
    import cv2
    from skimage import data

    from binauralize.dsp.geometry import direction_to_pixel
    from binauralize.testing.faces import face_image

    img = np.zeros((VIDEO_H, VIDEO_W, 3), np.uint8)
    img[:] = (60, 75, 60)
    face, _ = face_image(240)
    cat = cv2.resize(data.chelsea(), (240, 160), interpolation=cv2.INTER_AREA)
    for photo, az in ((face, az_voice), (cat, az_other)):
        ph, pw = photo.shape[:2]
        x, _ = direction_to_pixel(az, 0.0, VIDEO_W, VIDEO_H, FOV)
        x0 = int(np.clip(round(x - pw / 2), 0, VIDEO_W - pw))
        y0 = VIDEO_H // 2 - ph // 2
        img[y0:y0 + ph, x0:x0 + pw] = photo
    return img


def detected(mono: np.ndarray, frame: np.ndarray, workdir: Path, model: str | None) -> tuple[np.ndarray, dict]:
    """Run the whole tool (``--objects``, ``--model model`` or the default) on a video of ``frame`` with ``mono``."""
    from binauralize.api import binauralize_file
    from binauralize.testing.clips import make_clip
    from binauralize.vision.localize import LocalizeOptions

    video = workdir / "two.mp4"
    if not video.exists():
        peak = np.max(np.abs(mono)) + 1e-12
        make_clip(video, seconds=len(mono) / SR, sr=SR, audio=(0.5 * mono / peak)[None].astype(np.float32),
                  width=VIDEO_W, height=VIDEO_H, fps=10, draw=lambda i, w, h: frame, acodec="flac")
    out = workdir / f"out_{model or 'dsp'}.wav"
    kw = {"method": model} if model else {}
    rep = binauralize_file(video, out, sources=None, overwrite=True, localize=LocalizeOptions(fov=FOV, objects=True),
                           notice=lambda m: None, **kw)
    y, sr = sf.read(out, always_2d=True)
    assert sr == SR
    peak = np.max(np.abs(mono)) + 1e-12
    y = y.T * peak / 0.5
    pred = np.zeros((2, len(mono)))
    n = min(y.shape[1], len(mono))
    pred[:, :n] = y[:, :n]
    return pred, rep


def single_sources(data: Path) -> list[dict]:
    """Each dry recording alone at -40/0/+40 deg (measured BRIRs), a face photograph where it is: the whole tool with
    its default and with ``--model speech`` -> rows of metrics."""
    from quality_real_brir import BRIRS, SOURCES, detected_render, load_brir, load_dry

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for az_true, fname in BRIRS.items():
            brir, az = load_brir(data / "measured_brir_kemar_seminar" / fname)
            for src in SOURCES:
                dry = load_dry(data / "dry_sources" / src)
                gt = np.stack([oaconvolve(dry, brir[0]), oaconvolve(dry, brir[1])])[:, : len(dry) + SR // 2]
                mono = gt.mean(axis=0)
                for label, method in (("Tool default, DSP (detected)", "dsp"), ("Speech (detected)", "speech")):
                    pred, _ = detected_render(mono, az, Path(tmp), method=method)
                    rows.append({"method": label, "clip": f"{src}@{az:+.0f}", **scores(pred, gt)})
                print(f"single {src}@{az:+.0f}: " + ", ".join(f"{r['method']} {r['gao2019/stft']:.3f}"
                                                          for r in rows[-2:]), file=sys.stderr)
    return rows


def silent_object(data: Path) -> list[dict]:
    """A talker beside an object that makes no sound: each voice recording alone at -40 and +40 deg (measured
    BRIRs), a video with a face photograph where it is and a cat photograph at the mirrored azimuth; the whole tool
    (``--objects``) with its default and with ``--model speech`` -> rows of metrics. The default gives everything
    to the face; ``--model speech`` sees a talker and another object and may take apart what is not speech (the
    room's reverberation, noise) and put it at the cat."""
    from quality_real_brir import BRIRS, load_brir, load_dry

    rows = []
    for az_true, fname in BRIRS.items():
        brir, az = load_brir(data / "measured_brir_kemar_seminar" / fname)
        if abs(az) < 1:
            continue
        for src in sorted(VOICES):
            dry = load_dry(data / "dry_sources" / src)
            gt = np.stack([oaconvolve(dry, brir[0]), oaconvolve(dry, brir[1])])[:, : len(dry) + SR // 2]
            mono = gt.mean(axis=0)
            frame = two_photo_frame(az, -az)
            with tempfile.TemporaryDirectory() as tmp:
                for label, model in (("Tool default, DSP (detected)", None), ("Speech (detected)", "speech")):
                    pred, rep = detected(mono, frame, Path(tmp), model)
                    rows.append({"method": label, "clip": f"{src}@{az:+.0f}, silent cat@{-az:+.0f}",
                                 # the separator is loaded (and its settings reported) only when something is taken apart
                                 "separated": "atten_lim_db" in ((rep.get("learned_model") or {}).get("args") or {}),
                                 **scores(pred, gt)})
            print(f"silent object {src}@{az:+.0f}: " + ", ".join(f"{r['method']} {r['gao2019/stft']:.3f}"
                                                                  for r in rows[-2:]), file=sys.stderr)
    return rows


def _write_png(path, frame) -> None:
    from position_real_brir import _write_png as write_png  # the frame written whole or not at all

    write_png(path, frame)


def _write(path, text: str) -> None:
    """Write ``text`` whole or not at all (:func:`binauralize.evaluate.write_text_atomic`), folders made."""
    from binauralize.evaluate import write_text_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(path), text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results_speech_real_brir.md"))
    ap.add_argument("--json", default=str(HERE / "results" / "speech_real_brir.json"))
    ap.add_argument("--frame-png", default=str(ROOT / "docs" / "speech_real_brir_frame.png"))
    ap.add_argument("--no-detected", action="store_true", help="skip the rows that run the whole tool on a video")
    ap.add_argument("--single", action="store_true",
                    help="also single sources: each dry recording alone at -40, 0 and +40 deg, a face photograph "
                         "where it is, the whole tool with the default and with --model speech (no worse?)")
    ap.add_argument("--silent-object", action="store_true",
                    help="also a talker beside a silent object: each voice alone at -40/+40 deg, a face photograph "
                         "where it is and a cat photograph (silent) at the mirrored azimuth")
    ap.add_argument("--only-extra", action="store_true", help="skip the mixtures (with --single / --silent-object)")
    ap.add_argument("--pairs", choices=["four", "all"], default="four",
                    help="'four': the four pairs of position_real_brir.py (8 mixtures); 'all': every voice recording "
                         "with each instrument (12 pairs, 24 mixtures)")
    ap.add_argument("--position", default="position", metavar="CKPT",
                    help="the position checkpoint of the 'Position' rows (default: the shipped one; a checkpoint outside "
                         "the package has no crop bank unless one lies beside it)")
    ap.add_argument("--photo-position", action="store_true",
                    help="also the position model shown the detected rows' frame (a face photograph and a cat "
                         "photograph where the sources are) instead of the class glyphs")
    ap.add_argument("--overwrite", action="store_true", help="replace existing --out/--json/--frame-png files "
                    "(the tracked docs page, results and frame by default)")
    args = ap.parse_args(argv)
    for flag, f in (("--out", args.out), ("--json", args.json), ("--frame-png", args.frame_png)):
        if f and Path(f).exists() and not args.overwrite:
            sys.exit(f"speech_real_brir.py: error: {flag} {f} exists (pass --overwrite to replace it, or give another {flag})")
    pairs = [(v, i) for v in sorted(ALL_VOICES) for i in INSTRUMENTS] if args.pairs == "all" else PAIRS

    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import MonoMono, Renderer, RenderOptions
    from binauralize.evaluate import summarize, summary_table_lines
    from binauralize.models.spatializer import open_spatializer
    from binauralize.tracks import SourceTrack

    data = Path(args.data)
    renderer = Renderer(HRTF.default(SR), RenderOptions())
    speech = open_spatializer("speech", renderer_factory=lambda sr: renderer)
    position = open_spatializer(args.position, renderer_factory=lambda sr: renderer, fov_deg=FOV)
    pos_label = "Position, shipped" if args.position == "position" else f"Position ({args.position})"
    rows, t0, saved_frame, found = [], time.time(), False, []
    for a, b, az_a, az_b, img_a, img_b, gt, mono, t60 in ([] if args.only_extra else real_mixtures(data, pairs)):
        voice_first = a in ALL_VOICES
        az_v, az_o = (az_a, az_b) if voice_first else (az_b, az_a)
        ref_v, ref_o = ((img_a, img_b) if voice_first else (img_b, img_a))
        voice = SourceTrack.static(az_v, distance=6.3, name="voice")
        other = SourceTrack.static(az_o, distance=6.3, name="instrument")
        tracks = [voice, other]
        preds = {"Mono-Mono": MonoMono().render(mono, []),
                 "DSP, the mix at the voice (oracle)": renderer.render(mono, [voice], t60=t60),
                 "DSP, both tracks, no separation (oracle)": renderer.render(mono, tracks, t60=t60)}
        glyphs = frame_with([(CLASS[a], az_a), (CLASS[b], az_b)])
        feats = position.features_from_frames(np.array([0.0]), glyphs[None])
        ptracks = [SourceTrack.static(az_a, distance=6.3, name="a"), SourceTrack.static(az_b, distance=6.3, name="b")]
        preds[f"{pos_label} (oracle)"] = position.render(mono, SR, ptracks, t60=t60, feature_at=feats)
        seps = {}
        if args.photo_position:  # what it sees in footage: photographs (a face, a cat) where the sources are
            photo = position.features_from_frames(np.array([0.0]), two_photo_frame(az_v, az_o)[None])
            preds[f"{pos_label} (oracle, photo frame)"] = position.render(mono, SR, ptracks, t60=t60,
                                                                               feature_at=photo)
            for name, f in ((f"{pos_label} (oracle)", feats), (f"{pos_label} (oracle, photo frame)", photo)):
                seps[name] = si_sdr_improvement(position.separate(mono, SR, ptracks, f),
                                                [img_a.mean(axis=0), img_b.mean(axis=0)], mono)
        preds["Speech (oracle)"] = speech.render(mono, SR, tracks, t60=t60)
        parts = speech.separate(mono, SR, t60=t60)
        sep = si_sdr_improvement(parts, [ref_v.mean(axis=0), ref_o.mean(axis=0)], mono)
        if not args.no_detected:
            frame = two_photo_frame(az_v, az_o)
            if not saved_frame:
                _write_png(args.frame_png, frame)
                saved_frame = True
            with tempfile.TemporaryDirectory() as tmp:
                for label, model in (("Tool default, DSP (detected)", None), ("Speech (detected)", "speech")):
                    preds[label], rep = detected(mono, frame, Path(tmp), model)
                    found.append({"clip": f"{a}@{az_a:+d} + {b}@{az_b:+d}", "method": label, "tracks": [
                        (s["name"], s.get("azimuth", s.get("track", [[0, None]])[0][1]))
                        for s in rep["tracks"]["sources"]]})
        for name, pred in preds.items():
            r = {"method": name, "clip": f"{a}@{az_a:+d} + {b}@{az_b:+d}", "t60_est": t60}
            r.update(scores(pred, gt))
            r["si_sdri_db"] = sep if name == "Speech (oracle)" else seps.get(name, float("nan"))
            rows.append(r)
        print(f"{a}@{az_a:+d} + {b}@{az_b:+d}: " + ", ".join(
            f"{r['method']} {r['gao2019/stft']:.3f}" for r in rows[-len(preds):]), file=sys.stderr)
    single_rows = single_sources(data) if args.single else []
    silent_rows = silent_object(data) if args.silent_object else []
    cmd = "python benchmarks/speech_real_brir.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["# A voice and an instrument at -40 and +40 degrees (measured BRIRs): `--model speech`", "",
             f"Regenerate with `{cmd}` ({(time.time() - t0) / 60:.1f} min). {len(rows) // max(1, len(methods))} mixtures: "
             f"{len(pairs)} pairs of a voice (speech or singing) and an instrument (castanets or trumpet), each pair in "
             "both placements, equal levels, convolved with BRIRs measured on a KEMAR in a seminar room (6.3 m) and "
             "summed; input (L+R)/2 of that mix. Oracle rows are told the true azimuths and which one is the voice; "
             "detected rows run the whole tool with `--objects` on a video whose frame shows a face photograph where "
             "the voice is and a cat where the instrument is (docs/speech_real_brir_frame.png). Mean +- standard "
             "error; lower is better except ILD side agreement and SI-SDRi (the speech and the rest against the "
             "voice's and the instrument's own real contributions to the mono, minus the unseparated mono's SI-SDR, "
             "averaged over the two). L+R and L-R part: the STFT distance split exactly between the sum and "
             "difference channels; STFT at best level: each output scaled by the gain that minimises it.", ""]
    summary = summarize(rows)
    if rows:  # not with --only-extra
        lines += summary_table_lines(summary, COLS, clips=False)
    if found:
        lines += ["", "Tracks the tool found in the detected runs (name, azimuth at the start):", ""]
        lines += [f"- {f['clip']}, {f['method']}: " + ", ".join(f"{n} {az:+.1f}" if az is not None else n
                                                                 for n, az in f["tracks"]) for f in found]
    if single_rows:
        lines += ["", "## One source alone (is `--model speech` no worse?)", "",
                  "Each of the five dry recordings alone (castanets, two voices, singing, trumpet) at -40, 0 and +40 "
                  "degrees through the same measured BRIRs (15 clips); a video with a face photograph where the "
                  "source is; the whole tool with its default and with `--model speech` (detected tracks). For the "
                  "instruments the face is a wrong guess of the tool's (it sees a face, the sound is not speech). With only "
                  "a face seen the rest of the sound goes with the voice, so `--model speech` must equal the default "
                  "here (it does not even separate).", ""]
        lines += summary_table_lines(summarize(single_rows), COLS[:-1], clips=True)
        for kind in ("voices", "instruments"):
            sub = [r for r in single_rows if (r["clip"].split("@")[0] in VOICES) == (kind == "voices")]
            lines += ["", f"{kind.capitalize()} only:", ""] + summary_table_lines(summarize(sub), COLS[:-1], clips=True)
    if silent_rows:
        n_sep = sum(r["separated"] for r in silent_rows if r["method"].startswith("Speech"))
        lines += ["", "## A talker beside an object that makes no sound", "",
                  "Each voice recording alone (two voices, singing) at -40 and +40 degrees through the same measured "
                  "BRIRs (6 clips); a video with a face photograph where the voice is and a cat photograph at the "
                  "mirrored azimuth, the cat silent; the whole tool with `--objects` and its default, and with "
                  f"`--model speech` (which took the sound apart in {n_sep} of {len(silent_rows) // 2} clips).", ""]
        lines += summary_table_lines(summarize(silent_rows), COLS[:-1], clips=True)
    _write(args.out, "\n".join(lines) + "\n")
    _write(args.json, json.dumps({"command": cmd, "summary": summary, "rows": rows, "detected_tracks": found,
                                           "single_rows": single_rows, "silent_object_rows": silent_rows}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
