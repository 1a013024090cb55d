import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
import soundfile as sf

# The tests (and the CLI runs they start) keep derived data in a cache of their own, never in the user's.
_CACHE = tempfile.mkdtemp(prefix="binauralize-test-cache-")
os.environ["BINAURALIZE_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

from binauralize.dsp.hrtf import HRTF


@pytest.fixture(scope="session")
def hrtf48():
    """The bundled MIT KEMAR set at 48 kHz."""
    return HRTF.default(48000)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def sources_dir(tmp_path_factory):
    """Tiny dry 'recordings' the test makes: plucked tones and noise bursts in two classes."""
    d = tmp_path_factory.mktemp("dry")
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(sr) / sr
    for k in range(2):
        tone = np.sin(2 * np.pi * (220 * (k + 1)) * t) * np.exp(-3 * t) + 0.05 * rng.standard_normal(sr)
        sf.write(d / f"guit_tone{k}.wav", tone, sr)
        burst = rng.standard_normal(sr) * (np.arange(sr) % 4000 < 800)
        sf.write(d / f"drum_burst{k}.wav", burst, sr)
    return str(d)


@pytest.fixture(scope="session")
def tiny_set(sources_dir):
    """A function that generates a tiny synthetic set (16 kHz, 160x90, one worker) from ``sources_dir`` at ``out``
    with the command line, asserts it succeeded and returns ``out``."""
    from binauralize.cli import main

    def make(out, clips: int = 4, seconds: float = 2.0, seed: int = 5):
        assert main(["dataset", "synth", "--out", str(out), "--num-clips", str(clips), "--seconds", str(seconds),
                     "--seed", str(seed), "--workers", "1", "--sample-rate", "16000", "--size", "160x90",
                     "--sources-dir", sources_dir, "-q"]) == 0
        return out

    return make
