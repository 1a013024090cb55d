"""FAIR-Play loader and preprocessing on a tiny fake replica of the original layout."""
import h5py
import numpy as np
import soundfile as sf

from binauralize.cli import main
from binauralize.data.fairplay import FairPlay, read_h5_split, scene_disjoint_split
from binauralize.testing.clips import make_clip


def replica(root):
    (root / "binaural_audios").mkdir(parents=True)
    (root / "videos").mkdir()
    ids = ["000001", "000002", "000003"]
    rng = np.random.default_rng(0)
    for cid in ids:
        sf.write(root / "binaural_audios" / f"{cid}.wav", rng.standard_normal((48000, 2)) * 0.1, 48000)
        make_clip(root / "videos" / f"{cid}.mp4", seconds=1.0, fps=30, with_audio=False, width=64, height=48)
    split = root / "splits" / "split1"
    split.mkdir(parents=True)
    for part, sel in (("train", ids[:2]), ("val", ids[2:]), ("test", ids[2:])):
        with h5py.File(split / f"{part}.h5", "w") as f:  # absolute paths from the authors' machine
            f.create_dataset("audio", data=[f"/private/home/someone/FAIR-Play/binaural_audios/{c}.wav".encode() for c in sel])
    return ids


def test_h5_splits_are_rerooted(tmp_path):
    ids = replica(tmp_path / "fp")
    fp = FairPlay(tmp_path / "fp")
    train = fp.split("random", 1, "train")
    assert train == ids[:2]
    assert fp.audio(train[0]).exists()
    assert read_h5_split(tmp_path / "fp" / "splits" / "split1" / "test.h5") == ["000003"]


def test_scene_disjoint_splits_ship_with_the_package():
    tr, va, te = (scene_disjoint_split(1, p) for p in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (1497, 187, 187)  # 1,871 clips in all, as in FAIR-Play
    assert not set(tr) & set(te)
    assert te[0] == "001325"


def test_prepare_extracts_frames_and_16k_audio(tmp_path, capsys):
    ids = replica(tmp_path / "fp")
    assert main(["dataset", "prepare-fairplay", str(tmp_path / "fp"), "-q"]) == 0
    fp = FairPlay(tmp_path / "fp")
    for cid in ids:
        frames = sorted(fp.frames_dir(cid).glob("*.png"))
        assert len(frames) == 10  # 1 s at 10 fps
        assert fp.frame_at(cid, 0.315).name == "000004.png"
        info = sf.info(fp.audio(cid, rate16k=True))
        assert info.samplerate == 16000 and info.channels == 2 and abs(info.duration - 1.0) < 1e-3
