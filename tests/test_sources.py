"""Dry speech (espeak-ng) and instrument (fluidsynth) recordings for the generator (issue 5)."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from binauralize.cli import main
from binauralize.data.sources import SOUND_FONT, make_sources, sentence
from binauralize.data.synth import CLASS_GLYPH, dry_pool

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("fluidsynth") is None,
                                reason="needs Debian's espeak-ng and fluidsynth (bash scripts/setup.sh --dataset)")


def f0_hz(x: np.ndarray, sr: int) -> float:
    """Fundamental of the loudest 100 ms by autocorrelation (60-1200 Hz)."""
    n = sr // 10
    fr = x[: len(x) // n * n].reshape(-1, n)
    f = fr[np.argmax((fr ** 2).sum(1))]
    f = f - f.mean()
    ac = np.correlate(f, f, "full")[n - 1:]
    lo, hi = sr // 1200, sr // 60
    return sr / (lo + int(np.argmax(ac[lo:hi])))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("made")
    counts = make_sources(d, per_class=1, seed=7, seconds=2.0, classes=["voice", "trumpet", "flute"])
    return d, counts


def test_recordings_are_made_reproducibly_and_sound_like_their_class(made, tmp_path):
    d, counts = made
    assert counts == {"voice": 1, "trumpet": 1, "flute": 1}
    for cls in counts:
        assert cls in CLASS_GLYPH  # the picture can show it
        x, sr = sf.read(d / cls / f"{cls}_0000.wav")
        assert sr == 24000 and x.ndim == 1 and 1.5 < len(x) / sr < 8.0
        assert np.abs(x).max() == pytest.approx(10 ** (-3 / 20), abs=1e-3)
    # the notes lie in each instrument's General MIDI range (trumpet E3..Bb5, flute C4..C7), an octave of slack
    xt, sr = sf.read(d / "trumpet" / "trumpet_0000.wav")
    xf, _ = sf.read(d / "flute" / "flute_0000.wav")
    assert 110 < f0_hz(xt, sr) < 1000 and 200 < f0_hz(xf, sr) < 2200
    again = make_sources(tmp_path, per_class=1, seed=7, seconds=2.0, classes=["voice", "trumpet"])
    assert again == {"voice": 1, "trumpet": 1}
    for cls in again:
        assert (tmp_path / cls / f"{cls}_0000.wav").read_bytes() == (d / cls / f"{cls}_0000.wav").read_bytes()
    other = make_sources(tmp_path / "o", per_class=1, seed=8, seconds=2.0, classes=["voice"])
    assert other["voice"] == 1
    assert (tmp_path / "o" / "voice" / "voice_0000.wav").read_bytes() != (d / "voice" / "voice_0000.wav").read_bytes()
    s = sentence(np.random.default_rng(0))
    assert s[0].isupper() and s.endswith(".") and len(s.split()) >= 8


def test_pooled_source_folders_feed_the_generator(made, tmp_path, sources_dir, capsys):
    d, _ = made
    pool = dry_pool([str(d), sources_dir])
    classes = {c for _, c in pool}
    assert {"voice", "trumpet", "flute", "guitar", "drum"} <= classes
    out = tmp_path / "set"
    assert main(["dataset", "synth", "--out", str(out), "--num-clips", "3", "--seconds", "1.0", "--seed", "1",
                 "--workers", "1", "--sample-rate", "16000", "--size", "160x90", "--sources-dir", str(d), sources_dir,
                 "-q"]) == 0
    seen = {s["class"] for p in (out / "meta").glob("*.json") for s in json.loads(p.read_text())["sources"]}
    assert seen and seen <= classes


def test_cli_sources_and_bad_input(tmp_path, capsys):
    assert main(["dataset", "sources", "--out", str(tmp_path / "s"), "--per-class", "1", "--seconds", "1",
                 "--classes", "sax", "-q"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sax": 1}
    assert main(["dataset", "sources", "--out", str(tmp_path / "s"), "--classes", "banjo", "-q"]) == 1
    assert "unknown source class" in capsys.readouterr().err
    assert SOUND_FONT.endswith(".sf2")
