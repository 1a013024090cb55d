"""Every shipped model that takes sources apart keeps the soundtrack's timbre: what a mono listener hears of the
output, (L+R)/2, has the input's spectral balance within 1.5 dB per octave band from 125 Hz to 16 kHz.

A least-squares-trained output stage once shipped that cut 4 kHz by 26 dB on a camera's mono (docs/position.md,
"A learned output stage on position-nmf: withdrawn"); this keeps any model like it from shipping again.
"""
import numpy as np
import pytest

pytest.importorskip("safetensors")
pytest.importorskip("torch")

from binauralize.models.spatializer import open_spatializer, shipped_models  # noqa: E402
from binauralize.tracks import SourceTrack  # noqa: E402

SR = 48000
CENTRES = [125, 250, 500, 1000, 2000, 4000, 8000, 16000]


def octave_db(x):
    X = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return np.array([10 * np.log10(X[(f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))].sum()) for c in CENTRES])


def two_sources(seconds=3.0):
    """A harmonic low source and a noisy bright one, mixed: a broadband mono with two separable parts."""
    rng = np.random.default_rng(7)
    t = np.arange(int(SR * seconds)) / SR
    low = sum(np.sin(2 * np.pi * f0 * t) / k for k, f0 in enumerate((110, 220, 330, 440, 660), 1))
    bright = np.convolve(rng.standard_normal(len(t)), [1, -0.6], mode="same")
    return (0.1 * low * (1 + np.sin(2 * np.pi * 1.5 * t)) + 0.05 * bright).astype(np.float32)


TRACK_MODELS = [m for m in ("position", "class-nmf", "position-nmf") if m in shipped_models()]


@pytest.mark.parametrize("name", TRACK_MODELS)
def test_shipped_track_models_keep_the_timbre(name):
    x = two_sources()
    sp = open_spatializer(name)
    tracks = [SourceTrack.static(45.0, name="guitar"), SourceTrack.static(-45.0, name="drum")]
    y = sp.render(x, SR, tracks)
    assert y.shape == (2, len(x))
    d = octave_db(y.mean(0)) - octave_db(x)
    d -= np.median(d)
    assert np.abs(d).max() < 1.5, dict(zip(CENTRES, np.round(d, 1)))
    assert abs(10 * np.log10(np.sum((y[0] - y[1]) ** 2) / np.sum((y[0] + y[1]) ** 2))) < 30  # not collapsed to mono


def test_no_shipped_model_is_a_stage_that_may_change_the_sum():
    from binauralize.models import checkpoint as ck

    for name, path in shipped_models().items():
        meta = ck.read_metadata(path)
        if meta.get("model") == "output-stage":
            assert '"keep_sum": true' in str(meta.get("args", "")), name
