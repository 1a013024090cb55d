"""Evaluation harness: score spatializers or folders of predictions against binaural ground truth.

Three uses (``binauralize evaluate ...``):

1. ``--predictions DIR [DIR ...] --ground-truth DIR``: score folders of predicted binaural files against ground truth
   files paired by name.
2. ``--model mono|dsp|plain --data DIR --split NAME``: run a spatializer over a dataset split. Layout (the one the
   dataset generator writes, FAIR-Play-like): ``binaural_audios/<id>.wav`` (ground truth), ``meta/<id>.json`` with
   a ``"tracks"`` entry in the ``--sources`` schema (oracle positions), ``splits/<NAME>.txt`` (one id per line),
   optional ``mono_audios/<id>.wav`` (a real single-microphone recording; otherwise the input is (L+R)/2).
3. ``--direction-check OUTPUT --tracks TRACKS``: no ground truth; does the output's lateralization over time follow
   the tracks (e.g. the detected sounding source of a real video)?

Every run writes to ``--out``: ``per_clip.csv``, ``summary.json``, ``results.md`` (mean and standard error, as the
papers report) and PNG plots (per-method bars, ITD/ILD over time against the ground truth, L-R spectrograms).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError
from .metrics.signal import all_signal_metrics
from .metrics.spatial import (cue_errors, cues_against_tracks, cues_over_time, direction_metrics,
                              mono_compatibility_db)

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".mp4", ".mkv", ".mov", ".webm")
HEADLINE = [("gao2019/stft", "STFT", "{:.3f}"), ("gao2019/env", "ENV", "{:.4f}"), ("pseudobinaural/mag", "Mag", "{:.3f}"),
            ("pseudobinaural/dphase", "D_phase", "{:.3f}"), ("pseudobinaural/snr", "SNR dB", "{:.2f}"),
            ("richard2021/wave_l2_x1e3", "wave L2 x1e3", "{:.3f}"), ("richard2021/amplitude", "amplitude", "{:.4f}"),
            ("richard2021/phase", "phase", "{:.3f}"), ("mrstft/distance", "MR-STFT", "{:.3f}"),
            ("itd_err_us", "ITD err us", "{:.0f}"), ("ild_err_db", "ILD err dB", "{:.2f}"),
            ("azimuth_err_deg", "az err deg", "{:.1f}"), ("lcr_accuracy", "L/C/R acc", "{:.0%}"),
            ("width_band_db", "width dB (per band)", "{:+.1f}"),
            ("mono_compat_db", "mono dev dB", "{:.1f}")]


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """Any audio (or video's audio) file -> float ``[C, T]`` and its rate (via PyAV; mono becomes [1, T])."""
    from .io import media

    info = media.probe(path)
    if not info.has_audio:
        raise InputError(f"{path.name} has no audio")
    x = np.concatenate(list(media.iter_audio(path)), axis=1).astype(np.float64)
    return x, int(info.sample_rate)


def _stereo(x: np.ndarray, what: str) -> np.ndarray:
    if x.shape[0] == 1:
        return np.repeat(x, 2, axis=0)
    if x.shape[0] != 2:
        raise InputError(f"{what}: expected 1 or 2 channels, got {x.shape[0]}")
    return x


def width_db(pred: np.ndarray, gt: np.ndarray) -> float:
    """How wide the prediction ``[2, T]`` is against the ground truth ``[2, T]``: its side-to-mid energy ratio
    E|L-R|^2 / E|L+R|^2 over the truth's, in dB (0 = as wide, negative = narrower, -120 = mono). An objective that
    is squared error on L-R shrinks what it cannot predict in phase: this is where that shows."""
    def ratio(x):
        return float(np.sum((x[0] - x[1]) ** 2.0)) / max(float(np.sum((x[0] + x[1]) ** 2.0)), 1e-20)

    rp, rg = ratio(np.asarray(pred, np.float64)), ratio(np.asarray(gt, np.float64))
    if rg <= 0:
        return float("nan")
    return float(max(10 * np.log10(max(rp, 1e-30) / rg), -120.0))


WIDTH_BANDS_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)


def width_bands_db(pred: np.ndarray, gt: np.ndarray, sr: float, bands=WIDTH_BANDS_HZ) -> dict:
    """Width per octave band: how the prediction's side-to-mid energy ratio compares with the truth's, in dB
    (``{centre_hz: dB}``; bands above Nyquist or where the truth is silent are left out). Within a band, the ratio
    is compared frequency by frequency (Welch spectra, 2048 points) and the dB differences are averaged with the
    truth's mid energy as weights. Unlike :func:`width_db` this does not depend on the output's tone: a broadband
    ratio weighs each frequency by the output's own mid energy, so an output with less energy where the side is
    strong (a microphone's tone without the ears' 2-4 kHz resonance) reads narrower with the same interaural
    differences at every frequency."""
    from scipy.signal import welch

    nper = int(min(2048, max(16, pred.shape[-1])))

    def psd(x):
        return welch(np.asarray(x, np.float64), fs=sr, nperseg=nper)

    f, ps = psd(pred[0] - pred[1])
    pm = psd(pred[0] + pred[1])[1]
    gs = psd(gt[0] - gt[1])[1]
    gm = psd(gt[0] + gt[1])[1]
    tiny = 1e-30
    ratio_db = 10 * np.log10((np.maximum(ps, tiny) / np.maximum(pm, tiny)) / (np.maximum(gs, tiny) / np.maximum(gm, tiny)))
    ratio_db = np.clip(ratio_db, -120.0, 120.0)
    out = {}
    for fc in bands:
        sel = (f >= fc / np.sqrt(2)) & (f < fc * np.sqrt(2))
        if fc * np.sqrt(2) > sr / 2 or not sel.any() or gs[sel].sum() <= tiny or gm[sel].sum() <= tiny:
            continue
        out[int(fc)] = float(np.sum(gm[sel] * ratio_db[sel]) / np.sum(gm[sel]))
    return out


def mean_width_db(bands: dict) -> float:
    """The mean over bands of a :func:`width_bands_db` result (NaN when it has none): ``width_band_db``."""
    return float(np.mean(list(bands.values()))) if bands else float("nan")


def score_pair(pred: np.ndarray, gt: np.ndarray, sr: int, mono: np.ndarray | None = None,
               azimuth: float | None = None) -> dict:
    """All metrics for one prediction ``[2, T]`` against its ground truth ``[2, T]`` at ``sr``."""
    n = min(pred.shape[-1], gt.shape[-1])
    pred, gt = pred[:, :n], gt[:, :n]
    r = all_signal_metrics(pred, gt, sr)
    ce = cue_errors(pred, gt, sr)
    r.update({"itd_err_us": ce["itd_err_us"], "ild_err_db": ce["ild_err_db"], "iacc_pred": ce["iacc_pred"],
              "iacc_gt": ce["iacc_gt"], "ild_side_agreement": ce["side_agreement"]})
    for band, v in ce["ild_band_err_db"].items():
        r[f"ild_err_db/{band}"] = v
    r["width_db"] = width_db(pred, gt)
    wb = width_bands_db(pred, gt, sr)
    for fc, v in wb.items():
        r[f"width_db/{fc}"] = v
    r["width_band_db"] = mean_width_db(wb)
    if azimuth is not None:
        r.update(direction_metrics(pred, sr, azimuth))
    if mono is not None:  # (L+R)/2 against the input the method was given (unknown: left out)
        r["mono_compat_db"] = mono_compatibility_db(pred, mono[:n])
    return r


@dataclass
class Clip:
    name: str
    gt: Path
    mono: Path | None = None
    tracks: list | None = None


def default_split(data: Path) -> str:
    """The split ``evaluate --data`` scores when no ``--split`` is given: ``scene_test`` (the generated sets' test
    split) when the set has it, else ``test``; InputError listing the set's splits otherwise."""
    sd = Path(data) / "splits"
    for name in ("scene_test", "test"):
        if (sd / f"{name}.txt").is_file():
            return name
    have = sorted(p.stem for p in sd.glob("*.txt")) if sd.is_dir() else []
    if not have:
        raise InputError(f"{data} has no splits/*.txt (not a dataset folder?)")
    raise InputError(f"{data} has no scene_test or test split: choose one with --split ({', '.join(have)})")


def training_splits(checkpoint: str) -> dict:
    """``{"train": NAME, "val": NAME}`` of a checkpoint's training data as its metadata records them (empty when
    it does not say, or the model is a built-in without a checkpoint)."""
    try:
        from .models.checkpoint import read_metadata
        from .models.spatializer import resolve_checkpoint

        cfg = read_metadata(resolve_checkpoint(checkpoint)).get("config") or {}
    except Exception:  # built-ins without weights, unreadable files: the run itself reports those
        return {}
    dc = cfg.get("data") if isinstance(cfg, dict) else None
    if not isinstance(dc, dict):
        return {}
    return {k: dc[f"{k}_split"] for k in ("train", "val") if isinstance(dc.get(f"{k}_split"), str)}


def discover_dataset(data: Path, split: str) -> list[Clip]:
    """Clips of a dataset split (layout in the module docstring)."""
    from .tracks import parse_tracks

    ids_file = data / "splits" / f"{split}.txt"
    if not ids_file.is_file():
        have = sorted(p.stem for p in (data / "splits").glob("*.txt")) if (data / "splits").is_dir() else []
        from .data.synth import GENERATED_SPLITS

        empty = " (a generated split with no clip in this set has no file)" if split in GENERATED_SPLITS and have else ""
        raise InputError(f"no split file {ids_file}{empty}" + (f"; this set has: {', '.join(have)}" if have else
                                                               " (not a dataset folder?)"))
    clips = []
    for line in ids_file.read_text().split():
        cid = Path(line).stem
        gt = next((data / "binaural_audios" / f"{cid}{e}" for e in (".wav", ".flac")
                   if (data / "binaural_audios" / f"{cid}{e}").exists()), None)
        if gt is None:
            raise InputError(f"split {split}: no binaural_audios/{cid}.wav")
        meta = data / "meta" / f"{cid}.json"
        tracks = parse_tracks(json.loads(meta.read_text())["tracks"]) if meta.exists() else None
        mono = data / "mono_audios" / f"{cid}.wav"
        clips.append(Clip(cid, gt, mono if mono.exists() else None, tracks))
    return clips


def pair_folders(pred_dir: Path, gt_dir: Path) -> list[tuple[str, Path, Path]]:
    """(name, prediction, ground truth) for files with the same stem in both folders; a prediction named as the
    tool's batch mode names its outputs (``clip_binaural.wav`` for ``clip``) pairs with ``clip`` too."""
    def index(d: Path) -> dict:
        if not d.is_dir():
            raise InputError(f"not a folder: {d}")
        return {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in AUDIO_EXTS}

    p, g = index(pred_dir), index(gt_dir)
    for stem in list(p):
        base = stem.removesuffix("_binaural")
        if base != stem and base in g and base not in p:
            p[base] = p.pop(stem)
    common = sorted(set(p) & set(g))
    if not common:
        raise InputError(f"no files with matching names in {pred_dir} and {gt_dir}")
    return [(k, p[k], g[k]) for k in common]


def length_tolerance(sr: int) -> int:
    """Samples by which a prediction may be longer or shorter than its ground truth and still be scored (cropped
    to the shorter): one STFT hop of the papers' metrics (160 samples at 16 kHz, 10 ms at 48 kHz) or 10 ms,
    whichever is longer. A larger difference is a truncated, padded or misaligned file, not an encoder's edge."""
    return max(int(round(0.010 * sr)), int(round(160 * sr / 16000)), 1)


def check_lengths(clip: str, n_pred: int, n_gt: int, sr: int) -> None:
    """InputError when a prediction's length differs from its ground truth's by more than
    :func:`length_tolerance` (scoring the overlap only would hide a truncated or padded prediction)."""
    if abs(n_pred - n_gt) > length_tolerance(sr):
        raise InputError(f"{clip}: the prediction has {n_pred} samples ({n_pred / sr:.3f} s) and the ground truth "
                         f"{n_gt} ({n_gt / sr:.3f} s) at {sr} Hz: lengths must match to within "
                         f"{length_tolerance(sr)} samples")


def missing_clips(pred_dirs: list[Path], gt_dir: Path) -> dict:
    """``{folder: [ground-truth clips it has no prediction for]}`` for the folders that lack some."""
    gt = {p.stem for p in gt_dir.iterdir() if p.suffix.lower() in AUDIO_EXTS} if gt_dir.is_dir() else set()
    out = {}
    for d in pred_dirs:
        have = {k for k, _, _ in pair_folders(d, gt_dir)}
        if gt - have:
            out[d] = sorted(gt - have)
    return out


def evaluate_folders(pred_dirs: list[Path], gt_dir: Path, names: list[str] | None = None,
                     azimuths: dict | None = None, progress: Callable | None = None,
                     inputs_dir: Path | None = None) -> list[dict]:
    """Rows (one per method and clip) for folders of predictions against a folder of ground truths;
    ``inputs_dir``: the mono inputs (paired by name, mixed down to mono) for the mono deviation, else left out."""
    rows = []
    names = names or [d.name for d in pred_dirs]
    for method, d in zip(names, pred_dirs):
        for clip, pp, gp in pair_folders(d, gt_dir):
            pred, sr_p = load_audio(pp)
            gt, sr_g = load_audio(gp)
            if sr_p != sr_g:
                import soxr

                pred = soxr.resample(pred.T, sr_p, sr_g, quality="HQ").T
            check_lengths(f"{clip} ({pp})", pred.shape[-1], gt.shape[-1], sr_g)
            az = (azimuths or {}).get(clip)
            mono = _input_for(inputs_dir, clip, sr_g) if inputs_dir is not None else None
            r = score_pair(_stereo(pred, pp.name), _stereo(gt, gp.name), sr_g, mono=mono, azimuth=az)
            rows.append({"method": method, "clip": clip, **r})
            if progress:
                progress()
    return rows


def _input_for(inputs_dir: Path, clip: str, sr: int) -> np.ndarray:
    """The mono input of ``clip`` in ``inputs_dir`` at ``sr`` (channels averaged)."""
    path = next((p for p in sorted(inputs_dir.iterdir()) if p.stem == clip and p.suffix.lower() in AUDIO_EXTS), None)
    if path is None:
        raise InputError(f"--inputs {inputs_dir}: no input for {clip}")
    x, sr_x = load_audio(path)
    x = x.mean(axis=0)
    if sr_x != sr:
        import soxr

        x = soxr.resample(x, sr_x, sr, quality="HQ")
    return x


MODELS = ("mono", "dsp", "plain", "dsp-flipped", "dsp-detected", "dsp-objects")


@dataclass
class LearnedSpec:
    """A learned model on the command line:
    ``[LABEL=]NAME_OR_CHECKPOINT[@flipped][@detected][@objects][@noname][@stepsN]``
    (Flipped-Visual: mirrored frames, and mirrored tracks for track-driven models, at test time; ``@detected``: a
    track-driven model gets the tracks the tool finds in the clip's video instead of the oracle ones; ``@objects``:
    the tracks the tool finds with ``--objects`` (the object detector's, else the faces/motion ones); ``@noname``:
    the oracle tracks lose their names, so a model that reads a source's class from its name (class-nmf) has to
    recognise it in the frames; ``@stepsN``: sampling steps of a flow model, default 4), with the sliding-window
    hop."""
    label: str
    checkpoint: str
    flipped: bool = False
    hop_s: float = 0.1
    detected: bool = False
    steps: int = 4
    noname: bool = False
    objects: bool = False

    @classmethod
    def parse(cls, token: str, hop_s: float = 0.1) -> "LearnedSpec":
        label, _, rest = token.rpartition("=")
        ck, *flags = rest.split("@")
        steps = [f for f in flags if f.startswith("steps") and f[5:].isdigit()]
        bad = set(flags) - {"flipped", "detected", "objects", "noname"} - set(steps)
        if bad:
            raise InputError(f"unknown model flag @{bad.pop()} in {token!r}: use @flipped, @detected, @objects, "
                             "@noname or @stepsN")
        flipped, detected = "flipped" in flags, "detected" in flags or "objects" in flags
        label = label or (Path(ck).stem if ck.endswith(".safetensors") else ck)
        label += "".join(f"-{f}" for f in ("flipped", "detected", "objects", "noname", *steps)
                         if f in flags and not label.endswith(f))
        return cls(label, ck, flipped, hop_s, detected, int(steps[-1][5:]) if steps else 4, "noname" in flags,
                   "objects" in flags)


def unnamed_tracks(tracks: list) -> list:
    """The tracks with neutral names (``source0``, ...): nothing about a source's class is read from its name."""
    from dataclasses import replace

    return [replace(t, name=f"source{i}") for i, t in enumerate(tracks)]


def is_learned(token: str) -> bool:
    from .models.spatializer import WITHOUT_CHECKPOINT, shipped_models

    t = token.rpartition("=")[2].split("@")[0]
    return t.endswith(".safetensors") or t in shipped_models() or t in WITHOUT_CHECKPOINT


def _clip_features(sp, data: Path | None, clip: "Clip", flipped: bool):
    """t -> trunk feature map for a dataset clip: from the training cache when present, else from its video."""
    from .models.spatializer import features_lookup, video_features

    if data is not None:
        cache = data / "cache" / sp.model.trunk
        f = cache / f"{clip.name}.npz"
        if f.exists() and (cache / "trunk.json").exists():
            z = np.load(f)
            feats = np.load(cache / f"{clip.name}_flipped.npy") if flipped and (cache / f"{clip.name}_flipped.npy").exists() else None
            if not flipped or feats is not None:
                return features_lookup(z["feature_times"], feats if flipped else z["features"])
        video = data / "videos" / f"{clip.name}.mp4"
        if video.exists():
            if flipped:
                from .io.media import iter_frames

                items = [(t, img[:, ::-1]) for t, img in iter_frames(video, 0.5, None)]
                return sp.features_from_frames(np.array([t for t, _ in items]),
                                               np.stack([np.ascontiguousarray(i) for _, i in items]))
            return video_features(sp, video, fps=0.5)
    raise InputError(f"{clip.name}: no cached features and no video for the visual model")


def mirror_tracks(tracks: list) -> list:
    """The Flipped-Visual variant of position-based inputs: every azimuth mirrored (left <-> right), as if the
    frames were flipped horizontally."""
    from dataclasses import replace

    return [replace(t, azimuth=-np.asarray(t.azimuth)) for t in tracks]


_DETECTED: dict = {}


def detect_tracks(video: Path, mono: np.ndarray, sr: int, objects: bool = False, beside_faces: bool = False) -> list:
    """The tool's own localization on a clip's frames and sound (what users get with no --sources; with
    ``objects``, what they get with ``--objects``; ``beside_faces``: as for ``--model speech``, objects keep their
    weight beside faces); remembered per (video, sound, objects, beside_faces) so that several models compared on
    the same clip share one detection."""
    key = (str(video), int(sr), len(mono), hash(np.asarray(mono[:: max(1, len(mono) // 4096)], np.float32).tobytes()),
           objects, beside_faces)
    if key not in _DETECTED:
        if len(_DETECTED) > 256:
            _DETECTED.clear()
        _DETECTED[key] = _detect_tracks(video, mono, sr, objects, beside_faces)
    return _DETECTED[key]


def _detect_tracks(video: Path, mono: np.ndarray, sr: int, objects: bool = False, beside_faces: bool = False) -> list:
    from .api import EnvelopeMeter
    from .io.media import iter_frames
    from .vision.localize import LocalizeOptions, analyse_video, decide

    lo = LocalizeOptions(objects=objects, keep_every_s=0.5 if objects else 0.0)  # as the tool sets them
    fa = analyse_video(iter_frames(video, lo.fps, lo.width, fast=True), lo)
    meter = EnvelopeMeter(sr)
    meter(mono)
    tracks, rep = decide(fa, *meter.result(), lo)
    if objects:
        from .api import _object_tracks

        tracks = _object_tracks(video, lo, tracks, rep, lambda m: None, frames=fa.keyframes, beside_faces=beside_faces)
    return tracks


def model_label(model: str, hop_s: float = 0.1) -> str:
    """The method name a ``--model`` token's rows carry (a built-in's name, or the learned model's label)."""
    return model if model in MODELS or not is_learned(model) else LearnedSpec.parse(model, hop_s).label


def refuse_repeated(labels: list[str], how: str) -> None:
    """InputError when two methods would carry the same name (their rows would be pooled into one)."""
    seen = set()
    for lab in labels:
        if lab in seen:
            raise InputError(f"two methods are both named {lab!r}: {how}")
        seen.add(lab)


def evaluate_model(model: str, clips: list[Clip], hrtf=None, progress: Callable | None = None,
                   data: Path | None = None, input: str = "auto", hop_s: float = 0.1, options=None) -> list[dict]:
    """Run a spatializer over clips and score it: 'mono' (Mono-Mono), 'dsp' (renderer with the oracle tracks),
    'plain' (plain HRTF convolution with the oracle tracks), 'dsp-flipped' (Flipped-Visual: mirrored tracks),
    'dsp-detected' (renderer with the tracks the tool finds in the clip's video), 'dsp-objects' (the same with
    ``--objects``), or a learned model
    (``[LABEL=]NAME_OR_CHECKPOINT[@flipped]``, see :class:`LearnedSpec`).

    ``input``: 'real' (the real-mono track; error if missing), 'mix' ((L+R)/2 of the ground truth) or 'auto'
    (real when the clip has one). ``options``: :class:`RenderOptions` of the DSP renderer, for 'dsp',
    'dsp-flipped', 'dsp-detected' and the track-driven learned models (default: the tool's defaults)."""
    from .api import Binauralizer
    from .dsp.render import PLAIN, RenderOptions
    from .dsp.reverb import band_envelopes, estimate_t60
    from .tracks import block_directions

    learned = None
    if model not in MODELS:
        if not is_learned(model):
            raise InputError(f"unknown model {model!r}: choose from {', '.join(MODELS)}, a shipped learned model "
                             "or a .safetensors checkpoint")
        from .models.spatializer import open_spatializer

        spec = LearnedSpec.parse(model, hop_s)
        dsp = Binauralizer(hrtf=hrtf, options=options or RenderOptions())
        learned = open_spatializer(spec.checkpoint, hop_s=hop_s, renderer_factory=dsp.renderer, steps=spec.steps)
        if spec.detected and not learned.uses_tracks:
            raise InputError(f"{spec.label}: @detected is for track-driven models (position); this one reads frames")
        label = spec.label
    else:
        label = model
        b = Binauralizer(hrtf=hrtf, method="mono" if model == "mono" else "dsp",
                         options=PLAIN if model == "plain" else (options or RenderOptions()))
    rows = []
    for c in clips:
        gt, sr = load_audio(c.gt)
        gt = _stereo(gt, c.gt.name)
        if input == "real" and c.mono is None:
            raise InputError(f"{c.name}: no real-mono track (mono_audios/) for input 'real'")
        if c.mono is not None and input != "mix":
            mono, sr_m = load_audio(c.mono)
            mono = mono.mean(axis=0)
        else:
            mono = gt.mean(axis=0)
        if learned is not None and learned.uses_tracks:
            feats = _clip_features(learned, data, c, spec.flipped) if learned.uses_visual and c.tracks else None
            if spec.detected:
                if data is None or not (data / "videos" / f"{c.name}.mp4").exists():
                    raise InputError(f"{c.name}: @detected needs the clip's video (videos/)")
                tracks = detect_tracks(data / "videos" / f"{c.name}.mp4", mono, sr, spec.objects,
                                       bool(getattr(learned, "separates_speech", False)))
            else:
                tracks = c.tracks or []
            tracks = mirror_tracks(tracks) if spec.flipped else tracks
            tracks = unnamed_tracks(tracks) if spec.noname else tracks
            t60 = estimate_t60(band_envelopes(mono, sr)) if dsp.options.reverb == "split" else None
            pred = learned.render(mono, sr, tracks, t60=t60, feature_at=feats)
        elif learned is not None:
            feats = _clip_features(learned, data, c, spec.flipped) if learned.uses_visual else None
            pred = learned.render(mono, sr, feats)
        else:
            if model in ("dsp-detected", "dsp-objects"):
                if data is None or not (data / "videos" / f"{c.name}.mp4").exists():
                    raise InputError(f"{c.name}: {model} needs the clip's video (videos/)")
                tracks = detect_tracks(data / "videos" / f"{c.name}.mp4", mono, sr, model == "dsp-objects")
            else:
                tracks = mirror_tracks(c.tracks or []) if model == "dsp-flipped" else (c.tracks or [])
            pred = b.render(mono, sr, tracks)
        az = None
        if c.tracks:
            t = np.arange(0, gt.shape[-1] / sr, 0.1) + 0.05
            a, _, _, w = block_directions(c.tracks, t)
            az = (a * w).sum(axis=0)
        rows.append({"method": label, "clip": c.name, **score_pair(pred, gt, sr, mono=mono, azimuth=az)})
        if progress:
            progress()
    return rows


def direction_check(output: Path, tracks_path: Path, frame_s: float = 0.1) -> dict:
    """No ground truth: the output's ITD-derived azimuth per 100 ms against the tracks' weighted azimuth
    (:func:`binauralize.metrics.spatial.cues_against_tracks`)."""
    from .tracks import load_tracks

    y, sr = load_audio(output)
    return cues_against_tracks(cues_over_time(_stereo(y, output.name), sr, frame_s), load_tracks(tracks_path))


# ------------------------------------------------------------------------------------------------ reporting
def summarize(rows: list[dict]) -> dict:
    """Per method and metric: mean, standard error and count (NaNs ignored)."""
    out: dict = {}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    keys = [k for k in rows[0] if k not in ("method", "clip")] if rows else []
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        out[m] = {}
        for k in keys:
            v = np.array([r.get(k, np.nan) for r in rs], dtype=float)
            v = v[np.isfinite(v)]
            if len(v):
                out[m][k] = {"mean": float(v.mean()), "sem": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0,
                             "n": int(len(v))}
    return out


MONO_COMPAT_FLOOR_DB = -119.5  # mono_compatibility_db's floor is -120 dB: (L+R)/2 is the input to float precision


def _cell(key: str, stats: dict, fmt: str, n_most: int = 0) -> str:
    """One table cell, "mean +- sem"; a mono deviation at the metric's floor reads "exact" (the output's (L+R)/2 is
    the input), not as a clamped number; a metric measured on fewer clips than the method's others (``n_most``)
    says on how many."""
    if key == "mono_compat_db" and stats["mean"] <= MONO_COMPAT_FLOOR_DB:
        return "exact"
    if stats.get("n", 2) < 2:  # one clip: no standard error, not a zero one
        return fmt.format(stats["mean"]) + " (1 clip)"
    cell = fmt.format(stats["mean"]) + " +- " + fmt.format(stats["sem"]).lstrip("+")
    return cell + (f" (n={stats['n']})" if stats.get("n", n_most) < n_most else "")


def summary_table_lines(summary: dict, cols: list, blank: str = "", clips: bool = True) -> list[str]:
    """A :func:`summarize` result -> markdown table lines, one row per method: ``cols`` = (metric key, header,
    format) with "mean +- sem" cells (``blank`` where a method lacks the metric), plus the clip count."""
    head = "| method | " + " | ".join(c[1] for c in cols) + (" | clips |" if clips else " |")
    lines = [head, "|---" * (len(cols) + 1 + clips) + "|"]
    for m, s in summary.items():
        n = max((v["n"] for v in s.values()), default=0)
        cells = [_cell(k, s[k], fmt, n) if k in s else blank for k, _, fmt in cols]
        lines.append(f"| {m} | " + " | ".join(cells) + (f" | {n} |" if clips else " |"))
    return lines


def markdown_table(summary: dict, title: str = "Results") -> str:
    cols = [c for c in HEADLINE if any(c[0] in s for s in summary.values())]
    lines = [f"# {title}", "", "Mean +- standard error over clips. STFT/ENV/Mag/D_phase/SNR: protocols gao2019 and "
             "pseudobinaural (16 kHz, peak-normalised, sums over channels); wave L2 / amplitude / phase: richard2021 "
             "(48 kHz, no normalisation); mono dev: the level of (L+R)/2 minus the input, dB re the "
             "input (\"exact\": equal to float precision); width: side-to-mid energy against the ground truth's per "
             "octave band, dB (0 = as wide, -120 = mono); lower is better except SNR, L/C/R accuracy and width.", "",
             "| method | " + " | ".join(c[1] for c in cols) + " | clips |", "|---" * (len(cols) + 2) + "|"]
    for m, s in summary.items():
        n = max((v["n"] for v in s.values()), default=0)
        cells = [_cell(key, s[key], fmt, n) if key in s else "n/a" for key, _, fmt in cols]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines) + "\n"


PUBLISHED = """## Published FAIR-Play numbers (different data: for orientation only, not comparable with the table above)

| method | STFT | ENV | splits |
|---|---|---|---|
| Mono-Mono | 1.155 | 0.153 | 10 random splits (Gao & Grauman 2019) |
| Mono2Binaural | 0.836 (paper) / 0.959 (re-evaluated) | 0.132 / 0.141 | 10 random splits |
| CLUP (CVPR 2024) | 0.787 | 0.128 | 10 random splits |
| Mono-Mono | 1.024 | 0.145 | 5 scene-disjoint splits (Xu et al. 2021) |
| Mono2Binaural | 0.917 | 0.137 | 5 scene-disjoint splits |
"""


def write_text_atomic(path: Path, text: str) -> None:
    """``path`` gets ``text`` whole or not at all: a temporary file in the same folder, then ``os.replace``."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def holds_training_run(folder: Path) -> bool:
    """Whether ``folder`` holds a training run (``config.json`` beside a ``.safetensors`` checkpoint): an
    evaluation's summary.json there would replace the run's."""
    folder = Path(folder)
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def write_results_page(summary: dict, path: Path, title: str, command: str) -> None:
    """A docs page: our table (regenerated by ``command``) beside the published FAIR-Play numbers."""
    text = markdown_table(summary, title) + f"\nRegenerate with `{command}`.\n\n" + PUBLISHED
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def write_outputs(rows: list[dict], out: Path, title: str, plots: list[tuple] | None = None) -> dict:
    """per_clip.csv, summary.json, results.md and bar plots in ``out`` (each written whole: a temporary file, then
    renamed). Returns the summary."""
    import io

    out.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    with open(out / ".per_clip.csv.partial", "w", newline="") as f:
        f.write(buf.getvalue())
    (out / ".per_clip.csv.partial").replace(out / "per_clip.csv")
    summary = summarize(rows)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_text_atomic(out / "results.md", markdown_table(summary, title))
    _bar_plot(summary, out / "bars.png")
    for args in plots or []:
        _cue_plot(*args)
    return summary


def _savefig_atomic(fig, path: Path, dpi: int) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    fig.savefig(tmp, dpi=dpi)
    tmp.replace(path)


def _bar_plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("gao2019/stft", "STFT distance"), ("gao2019/env", "ENV distance"), ("itd_err_us", "ITD error (us)")]
    fig, ax = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    methods = list(summary)
    for a, (k, label) in zip(ax, keys):
        means = [summary[m].get(k, {}).get("mean", np.nan) for m in methods]
        sems = [summary[m].get(k, {}).get("sem", 0) for m in methods]
        a.bar(range(len(methods)), means, yerr=sems, color=[f"C{i}" for i in range(len(methods))])
        a.set_xticks(range(len(methods)))
        a.set_xticklabels(methods, rotation=30, ha="right", fontsize=7)
        a.set_title(label, fontsize=9)
    fig.tight_layout()
    _savefig_atomic(fig, path, 80)
    plt.close(fig)


def _cue_plot(path: Path, pred: np.ndarray, gt: np.ndarray, sr: int, title: str) -> None:
    """ITD and ILD over time of a prediction against the ground truth, and L-R spectrograms of both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cp, cg = cues_over_time(pred, sr), cues_over_time(gt, sr)
    fig, ax = plt.subplots(2, 2, figsize=(11, 5))
    act = cg["active"]
    ax[0, 0].plot(cg["time"][act], cg["itd"][act] * 1e6, ".", label="ground truth")
    ax[0, 0].plot(cp["time"][act], cp["itd"][act] * 1e6, ".", label="prediction")
    ax[0, 0].set_ylabel("ITD (us), + = left leads")
    ax[0, 0].legend(fontsize=7)
    ax[1, 0].plot(cg["time"][act], cg["ild"][act], ".")
    ax[1, 0].plot(cp["time"][act], cp["ild"][act], ".")
    ax[1, 0].set_ylabel("ILD (dB), + = left louder")
    ax[1, 0].set_xlabel("time (s)")
    for j, (sig, name) in enumerate(((gt, "ground truth"), (pred, "prediction"))):
        d = sig[0] - sig[1]
        ax[j, 1].specgram(d, NFFT=1024, Fs=sr, noverlap=768, cmap="magma")
        ax[j, 1].set_title(f"L-R spectrogram: {name}", fontsize=8)
        ax[j, 1].set_ylabel("Hz")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _savefig_atomic(fig, path, 70)
    plt.close(fig)
