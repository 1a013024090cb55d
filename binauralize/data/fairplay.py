"""FAIR-Play (Gao & Grauman, CVPR 2019) in its original layout, and the preprocessing its authors never released.

Original layout under ``ROOT``::

    binaural_audios/000001.wav ...     10-s binaural recordings
    videos/000001.mp4 ...              the matching videos
    splits/split1/{train,val,test}.h5  (the ten random splits) dataset ``audio``: byte strings holding ABSOLUTE paths
                                       to binaural_audios/NNNNNN.wav on the authors' machine (re-rooted here)

The five scene-disjoint splits of Xu et al. (CVPR 2021) ship with this package (``fairplay_splits/``).
``prepare`` writes what the 2.5D Visual Sound code expects: frames at 10 fps as
``frames/NNNNNN.mp4/000001.png ...`` (frame k at time (k - 1) / 10 s; their loader picks
``round((t_centre + 0.05) * 10)``) and audio resampled to 16 kHz in ``binaural_audios_16k/``.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError


def _clip_id(entry: str) -> str:
    return Path(entry.strip()).stem


def read_h5_split(path: str | Path) -> list[str]:
    """Clip ids of an original ``splits/splitN/*.h5`` file (dataset ``audio``, absolute byte-string paths)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"split file not found: {path}")
    with h5py.File(path, "r") as f:
        if "audio" not in f:
            raise InputError(f"{path.name}: no dataset 'audio' (not a FAIR-Play split file)")
        entries = [e.decode() if isinstance(e, bytes) else str(e) for e in f["audio"][()]]
    return [_clip_id(e) for e in entries]


def scene_disjoint_split(n: int, part: str) -> list[str]:
    """Clip ids of the scene-disjoint split ``n`` (1-5), ``part`` in train/val/test (bundled, CC BY 4.0)."""
    if not 1 <= n <= 5 or part not in ("train", "val", "test"):
        raise InputError("scene-disjoint splits are 1-5 with parts train/val/test")
    text = (resources.files("binauralize") / "data" / "fairplay_splits" / f"split{n}_{part}.txt").read_text()
    return [_clip_id(line) for line in text.split()]


class FairPlay:
    """Access to a FAIR-Play copy at ``root`` (original layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / "binaural_audios").is_dir():
            raise InputError(f"{self.root} has no binaural_audios/ folder: not a FAIR-Play root")

    def split(self, kind: str, n: int, part: str) -> list[str]:
        """Ids of split ``n`` part ``part``; ``kind`` 'random' (the original ten, from splits/*.h5) or 'scene'."""
        if kind == "random":
            return read_h5_split(self.root / "splits" / f"split{n}" / f"{part}.h5")
        if kind == "scene":
            return scene_disjoint_split(n, part)
        raise InputError("split kind must be 'random' or 'scene'")

    def audio(self, cid: str, rate16k: bool = False) -> Path:
        return self.root / ("binaural_audios_16k" if rate16k else "binaural_audios") / f"{cid}.wav"

    def video(self, cid: str) -> Path:
        return self.root / "videos" / f"{cid}.mp4"

    def frames_dir(self, cid: str) -> Path:
        return self.root / "frames" / f"{cid}.mp4"

    def frame_at(self, cid: str, t_centre: float) -> Path:
        """The frame the 2.5D Visual Sound loader uses for a window centred at ``t_centre`` seconds."""
        return self.frames_dir(cid) / f"{int(round((t_centre + 0.05) * 10)):06d}.png"

    def ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "binaural_audios").glob("*.wav"))


def check_root(root: str | Path) -> "FairPlay":
    """The FAIR-Play copy at ``root``; InputError (one line) for a set this tool generated (``binauralize dataset
    synth``: preparing it would write frames and audio it does not need into it) or a root without clips."""
    fp = FairPlay(root)
    if (fp.root / "synth_recipe.json").exists() or (fp.root / "meta").is_dir():
        raise InputError(f"{fp.root} is a generated set (synth_recipe.json / meta/), not a FAIR-Play copy: "
                         "prepare-fairplay is for FAIR-Play; generated sets need no preparation")
    if not fp.ids():
        raise InputError(f"{fp.root}/binaural_audios holds no .wav clips: nothing to prepare (not a FAIR-Play copy, "
                         "or an incomplete one)")
    return fp


def prepare(root: str | Path, fps: float = 10.0, sample_rate: int = 16000, overwrite: bool = False,
            progress: Callable | None = None) -> dict:
    """Extract frames at ``fps`` (PNG) and resample audio to ``sample_rate`` for every clip of a FAIR-Play root."""
    import soundfile as sf
    import soxr
    from PIL import Image

    from ..io.media import iter_frames

    import shutil

    fp = check_root(root)
    counts = {"clips": 0, "frames": 0, "skipped": 0}
    (fp.root / "binaural_audios_16k").mkdir(exist_ok=True)
    for cid in fp.ids():
        out_audio = fp.audio(cid, rate16k=True)
        if overwrite or not out_audio.exists():
            x, sr = sf.read(fp.audio(cid), always_2d=True)
            y = soxr.resample(x, sr, sample_rate, quality="HQ") if sr != sample_rate else x
            tmp = out_audio.with_suffix(".partial.wav")
            sf.write(tmp, y.astype(np.float32), sample_rate, subtype="FLOAT")
            tmp.replace(out_audio)
        video = fp.video(cid)
        if video.exists():
            d = fp.frames_dir(cid)
            if overwrite or not d.is_dir() or not any(d.iterdir()):
                # frames go to a temporary folder renamed when complete: an interrupted run leaves no partial
                # folder that a rerun would take as done
                part = d.with_name(d.name + ".partial")
                shutil.rmtree(part, ignore_errors=True)
                part.mkdir(parents=True)
                for k, (_, img) in enumerate(iter_frames(video, fps, max_width=None), start=1):
                    Image.fromarray(img).save(part / f"{k:06d}.png")
                    counts["frames"] += 1
                if d.exists():
                    shutil.rmtree(d)
                part.replace(d)
        else:
            counts["skipped"] += 1
        counts["clips"] += 1
        if progress:
            progress()
    return counts
