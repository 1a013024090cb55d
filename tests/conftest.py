import numpy as np
import pytest

from binauralize.dsp.hrtf import HRTF


@pytest.fixture(scope="session")
def hrtf48():
    """The bundled MIT KEMAR set at 48 kHz."""
    return HRTF.default(48000)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
