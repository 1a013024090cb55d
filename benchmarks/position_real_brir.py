"""Issue 7 against real ground truth: two different dry recordings placed with measured BRIRs at -40 and +40 deg.

Ground truth: each dry recording (../shared/data/dry_sources) convolved with a BRIR measured on a KEMAR 45BA in a
seminar room, 6.3 m away (../shared/data/measured_brir_kemar_seminar), one at -40 and one at +40 degrees, summed.
Input: the (L+R)/2 mono of that real binaural mix. A 320x180 frame (100 deg field of view, a scikit-image photo
behind) shows each source's class glyph where it is; every method gets the true azimuths (oracle tracks).
Methods: Mono-Mono; the DSP renderer with the mono at one position (centre) and along both tracks (what the tool
does with two sources and no separation); the position-conditioned model(s) ``RUNS/position_<input>/best.safetensors``.
Metrics: the papers' STFT and ENV distances (gao2019: 16 kHz, peak-normalised), ILD/ITD cue errors, and the SI-SDR
improvement of each separated part over the mono against that source's own real contribution to the mono.

    .venv/bin/python benchmarks/position_real_brir.py --data ../shared/data --runs runs --overwrite
Writes docs/results_position_real_brir.md, benchmarks/results/position_real_brir.json and the frame
docs/position_real_brir_frame.png (the defaults of --out, --json, --frame-png); an existing one is replaced only with
--overwrite (without it the run is refused before any work).
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import oaconvolve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from quality_real_brir import BRIRS, SR, load_brir, load_dry  # noqa: E402

# dry recording -> the glyph class drawn for it (the generator's classes; voices are not among its training classes)
CLASS = {"castanets_dry.wav": "percussion", "xmas.wav": "synth", "singing.wav": "voice", "198-209-0000.hq.ogg": "voice",
         "sorohanro_-_solo-trumpet-06.hq.ogg": "other", "result.wav": "voice", "3436-172162-0000.hq.ogg": "voice",
         "5703-47212-0000.hq.ogg": "voice"}
# --pairs all: every pair of different recordings in dry_sources/
ALL_RECORDINGS = ["castanets_dry.wav", "xmas.wav", "result.wav", "singing.wav", "198-209-0000.hq.ogg",
                  "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg", "sorohanro_-_solo-trumpet-06.hq.ogg"]
# --glyphs true: each recording's own class, as drawn in a set made with `binauralize dataset sources` (voice, trumpet)
TRUE_CLASS = {**CLASS, "xmas.wav": "voice", "sorohanro_-_solo-trumpet-06.hq.ogg": "trumpet"}
PAIRS = [("castanets_dry.wav", "198-209-0000.hq.ogg"), ("sorohanro_-_solo-trumpet-06.hq.ogg", "singing.wav"),
         ("xmas.wav", "castanets_dry.wav"), ("198-209-0000.hq.ogg", "sorohanro_-_solo-trumpet-06.hq.ogg")]
W, H, FOV = 320, 180, 100.0
COLS = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/stft_sum", "L+R part", "{:.3f}"),
        ("gao2019/stft_diff", "L-R part", "{:.3f}"), ("gao2019/stft_best_level", "STFT at best level", "{:.3f}"),
        ("gao2019/env", "ENV", "{:.4f}"), ("ild_err_db", "ILD err dB", "{:.2f}"),
        ("itd_err_us", "ITD err us", "{:.0f}"), ("side_agreement", "ILD side agr", "{:.0%}"),
        ("width_band_db", "width per band dB", "{:+.1f}"), ("si_sdri_db", "SI-SDRi dB", "{:+.1f}")]


def frame_with(sources: list[tuple[str, float]], seed: int = 0) -> np.ndarray:
    """A 320x180 RGB frame: a dimmed photo with each (class, azimuth) glyph drawn where it projects at eye level."""
    from binauralize.data.synth import _background, _glyph
    from binauralize.dsp.geometry import direction_to_pixel

    img = _background("chelsea", W, H, np.random.default_rng(seed)).copy()
    for cls, az in sources:
        g = _glyph(cls, 44)
        x, y = direction_to_pixel(az, 0.0, W, H, FOV)
        x0, y0 = int(round(x - 22)), int(round(y - 22))
        a = g[..., 3:4] / 255.0
        img[y0:y0 + 44, x0:x0 + 44] = (a * g[..., :3] + (1 - a) * img[y0:y0 + 44, x0:x0 + 44]).astype(np.uint8)
    return img


def _shown_path(p: str) -> str:
    """``p`` relative to the checkout when inside it (as the docs cite it), else as given."""
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return p


def si_sdr_improvement(parts: np.ndarray, refs: list[np.ndarray], mono: np.ndarray) -> float:
    """Mean over sources of SI-SDR(part k, ref k) - SI-SDR(mono, ref k), dB (``parts`` ``[>= K, T]``, K refs ``[T]``)."""
    from binauralize.metrics.separation import si_sdr

    return float(np.mean([si_sdr(parts[k], r) - si_sdr(mono, r) for k, r in enumerate(refs)]))


def scores(pred: np.ndarray, gt: np.ndarray) -> dict:
    """The table's metrics of ``pred`` against ``gt`` ``[2, T]`` at SR (COLS, without SI-SDRi)."""
    from binauralize.metrics.signal import (gao2019_metrics, prepare_gao2019, stft_distance_best_level,
                                            stft_distance_split)
    from binauralize.evaluate import mean_width_db, width_bands_db
    from binauralize.metrics.spatial import cue_errors

    r = {f"gao2019/{k}": v for k, v in gao2019_metrics(pred, gt, SR).items()}
    p16, g16 = prepare_gao2019(pred, gt, SR)
    r["gao2019/stft_sum"], r["gao2019/stft_diff"] = stft_distance_split(p16, g16)
    r["gao2019/stft_best_level"] = stft_distance_best_level(p16, g16)
    r.update({k: v for k, v in cue_errors(pred, gt, SR).items() if k != "ild_band_err_db"})
    r["width_band_db"] = mean_width_db(width_bands_db(pred, gt, SR))
    return r


def real_mixtures(data: Path, pairs=None):
    """The real test's mixtures: for each pair of ``pairs`` (default PAIRS) in both placements -> (a, b, az_a, az_b,
    img_a, img_b, gt, mono, t60): each dry recording (equal levels) convolved with the measured BRIR of its azimuth,
    their sum ``gt`` ``[2, T]``, its (L+R)/2 ``mono`` and the T60 estimated on it."""
    from binauralize.dsp.reverb import band_envelopes, estimate_t60

    brirs = {az: load_brir(data / "measured_brir_kemar_seminar" / BRIRS[az])[0] for az in (-40, 40)}
    for a, b in pairs or PAIRS:
        for az_a, az_b in ((40, -40), (-40, 40)):
            da, db = load_dry(data / "dry_sources" / a), load_dry(data / "dry_sources" / b)
            n = min(len(da), len(db))
            da, db = da[:n] / np.std(da[:n]), db[:n] / np.std(db[:n])  # equal levels
            img_a = np.stack([oaconvolve(da, brirs[az_a][c]) for c in range(2)])[:, : n + SR // 2]
            img_b = np.stack([oaconvolve(db, brirs[az_b][c]) for c in range(2)])[:, : n + SR // 2]
            gt = img_a + img_b
            mono = gt.mean(axis=0)
            yield a, b, az_a, az_b, img_a, img_b, gt, mono, estimate_t60(band_envelopes(mono, SR))


def _write(path, text: str) -> None:
    """Write ``text`` whole or not at all (:func:`binauralize.evaluate.write_text_atomic`), folders made."""
    from binauralize.evaluate import write_text_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(path), text)


def _write_png(path, frame) -> None:
    import imageio.v3 as iio

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial.png")
    iio.imwrite(tmp, frame)
    tmp.replace(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--runs", default="runs", help="folder with position_<input>/best.safetensors")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results_position_real_brir.md"))
    ap.add_argument("--json", default=str(HERE / "results" / "position_real_brir.json"))
    ap.add_argument("--class-nmf", default=None, metavar="CKPT",
                    help="also score a class-nmf checkpoint (classes recognised in the frame; the tracks are unnamed)")
    ap.add_argument("--models", nargs="*", default=[], metavar="NAME=CKPT[@stepsN]",
                    help="more track-driven models (position, class-nmf, flow; @stepsN: the flow model's sampling steps)")
    ap.add_argument("--frame-png", default=str(ROOT / "docs" / "position_real_brir_frame.png"))
    ap.add_argument("--reverb-itd", action="store_true",
                    help="also every track-driven method with the renderer's --reverb itd (the reverberant part keeps "
                         "the sources' time differences, diffuse width 1)")
    ap.add_argument("--glyphs", choices=["near", "true", "none"], default="near",
                    help="the glyph drawn for each recording: 'near' (the near set's classes, the tables' frame: the "
                         "trumpet as 'other', the male voice as 'synth'), 'true' (its own class: voice, trumpet; for "
                         "models trained on a set with speech and instrument phrases) or 'none' (the photo alone: "
                         "what the models do when they see nothing where the sources are)")
    ap.add_argument("--pairs", choices=["four", "all"], default="four",
                    help="'four': the tables' four pairs (8 mixtures); 'all': every pair of the eight different "
                         "recordings in dry_sources/ (28 pairs, 56 mixtures; two talkers among them)")
    ap.add_argument("--overwrite", action="store_true", help="replace existing --out/--json/--frame-png files "
                    "(the tracked docs page, results and frame by default)")
    args = ap.parse_args(argv)
    for flag, f in (("--out", args.out), ("--json", args.json), ("--frame-png", args.frame_png)):
        if f and Path(f).exists() and not args.overwrite:
            sys.exit(f"position_real_brir.py: error: {flag} {f} exists (pass --overwrite to replace it, or give another {flag})")
    pairs = list(itertools.combinations(ALL_RECORDINGS, 2)) if args.pairs == "all" else PAIRS
    glyph_of = TRUE_CLASS if args.glyphs == "true" else CLASS

    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import MonoMono, Renderer, RenderOptions
    from binauralize.evaluate import summarize, summary_table_lines
    from binauralize.models.spatializer import open_spatializer
    from binauralize.tracks import SourceTrack

    data = Path(args.data)
    renderer = Renderer(HRTF.default(SR), RenderOptions())
    models = {}
    for inp in ("real", "mix"):
        ck = Path(args.runs) / f"position_{inp}" / "best.safetensors"
        if ck.exists():
            models[f"Position ({'real-mono' if inp == 'real' else '(L+R)/2'}-trained)"] = open_spatializer(
                ck, renderer_factory=lambda sr: renderer, fov_deg=FOV)
    if args.class_nmf:
        models["Class NMF (classes from the frame)"] = open_spatializer(args.class_nmf, renderer_factory=lambda sr: renderer,
                                                                       fov_deg=FOV)
    itd_renderer = renderer.with_options(reverb_itd=True, diffuse=1.0)
    for spec in args.models:
        name, _, ck = spec.rpartition("=")
        ck, _, steps = ck.partition("@steps")
        models[name or Path(ck).stem] = open_spatializer(ck, renderer_factory=lambda sr: renderer, fov_deg=FOV,
                                                         steps=int(steps or 4))
        if args.reverb_itd:
            models[f"{name or Path(ck).stem}, --reverb itd"] = open_spatializer(
                ck, renderer_factory=lambda sr: itd_renderer, fov_deg=FOV, steps=int(steps or 4))
    if not models:
        print(f"no position_<input>/best.safetensors under {args.runs}", file=sys.stderr)
    rows, t0 = [], time.time()
    saved_frame = False
    for a, b, az_a, az_b, img_a, img_b, gt, mono, t60 in real_mixtures(data, pairs):
        tracks = [SourceTrack.static(az_a, distance=6.3, name="a"), SourceTrack.static(az_b, distance=6.3, name="b")]
        loud = tracks[0] if np.std(img_a) >= np.std(img_b) else tracks[1]
        preds = {"Mono-Mono": MonoMono().render(mono, []),
                 "DSP, one position (centre)": renderer.render(mono, [SourceTrack.static(0.0, distance=6.3)], t60=t60),
                 "DSP, one position (the louder source)": renderer.render(mono, [loud], t60=t60),
                 "DSP, both tracks (no separation)": renderer.render(mono, tracks, t60=t60)}
        if args.reverb_itd:
            preds["DSP, both tracks, --reverb itd"] = itd_renderer.render(mono, tracks, t60=t60)
        frame = frame_with([] if args.glyphs == "none" else [(glyph_of[a], az_a), (glyph_of[b], az_b)])
        if not saved_frame:
            _write_png(args.frame_png, frame)
            saved_frame = True
        seps = {}
        for name, sp in models.items():
            feats = sp.features_from_frames(np.array([0.0]), frame[None]) if sp.uses_visual else None
            preds[name] = sp.render(mono, SR, tracks, t60=t60, feature_at=feats)
            if not hasattr(sp, "separate"):  # the flow model renders without separating
                continue
            parts = sp.separate(mono, SR, tracks, feats)
            refs = [img_a.mean(axis=0), img_b.mean(axis=0)]
            seps[name] = si_sdr_improvement(parts, refs, mono)
            if hasattr(sp, "last_classes"):
                print(f"{name}: classes seen {sp.last_classes} (drawn: {glyph_of[a]}, {glyph_of[b]})", file=sys.stderr)
        for name, pred in preds.items():
            r = {"method": name, "clip": f"{a}@{az_a:+d} + {b}@{az_b:+d}", "t60_est": t60}
            r.update(scores(pred, gt))
            if name in seps:
                r["si_sdri_db"] = seps[name]
            rows.append(r)
        print(f"{a}@{az_a:+d} + {b}@{az_b:+d}: " + ", ".join(
            f"{r['method']} {r['gao2019/stft']:.3f}" for r in rows[-len(preds):]), file=sys.stderr)
    cmd = "python benchmarks/position_real_brir.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["# Two real sources at -40 and +40 degrees (measured BRIRs): issue 7", "",
             f"Regenerate with `{cmd}` ({(time.time() - t0) / 60:.1f} min). {len(rows) // len(methods)} mixtures: "
             f"{len(pairs)} pairs of different dry recordings, each pair in both placements, equal levels, convolved "
             "with BRIRs measured on a KEMAR in a seminar room (6.3 m) and summed; input (L+R)/2 of that mix; every "
             f"method told the true azimuths. The frame the position model sees: {_shown_path(args.frame_png)} "
             f"(the first mixture's; glyphs: {args.glyphs}). "
             "Mean +- standard error; lower is better except SI-SDRi (each separated part against that source's own "
             "real contribution to the mono, minus the unseparated mono's SI-SDR). L+R and L-R part: the STFT distance "
             "split exactly between the sum and difference channels; STFT at best level: with each output scaled by "
             "the gain that minimises it (removes the peak normalisation's effect; benchmarks/error_split.py).", ""]
    for r in rows:  # every row gets every key (summaries take their keys from the first row)
        r.setdefault("si_sdri_db", float("nan"))
    summary = summarize(rows)
    lines += summary_table_lines(summary, COLS, clips=False)
    _write(args.out, "\n".join(lines) + "\n")
    _write(args.json, json.dumps({"command": cmd, "summary": summary, "rows": rows}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
