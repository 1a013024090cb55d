"""Position-conditioned source masks (issue 7, deterministic variant): invariances and the DSP fallback."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from binauralize.dsp.hrtf import HRTF  # noqa: E402
from binauralize.dsp.render import Renderer  # noqa: E402
from binauralize.models.position import PositionMasker, PositionSpatializer, fourier_direction  # noqa: E402
from binauralize.tracks import SourceTrack  # noqa: E402


def spatializer():
    torch.manual_seed(0)
    return PositionSpatializer(PositionMasker(hidden=8), lambda sr: Renderer(HRTF.default(sr)))


def test_direction_encoding_is_periodic_and_left_right_distinct():
    a = fourier_direction(np.array([30.0, 390.0, -30.0]), np.zeros(3), np.full(3, 2.0))
    np.testing.assert_allclose(a[0], a[1], atol=1e-5)
    assert np.abs(a[0] - a[2]).max() > 0.5 and a.shape == (3, 17)


def test_masks_sum_to_one_and_absent_sources_take_nothing():
    m = PositionMasker(hidden=8)
    logmag = torch.randn(2, 257, 30)
    tok = torch.randn(2, 3, 30, 17)
    pres = torch.ones(2, 3, 30)
    pres[:, 1, 10:] = 0
    out = m(logmag, tok, pres)
    assert out.shape == (2, 4, 257, 30)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 257, 30))
    assert out[:, 1, :, 10:].max() < 1e-6


def test_permuting_sources_does_not_change_the_output(rng):
    sp = spatializer()
    x = rng.standard_normal(16000) * 0.1
    tr = [SourceTrack.static(40.0, name="a"), SourceTrack.static(-30.0, name="b"), SourceTrack.static(5.0, name="c")]
    y1 = sp.render(x, 16000, tr)
    y2 = sp.render(x, 16000, [tr[2], tr[0], tr[1]])
    np.testing.assert_allclose(y1, y2, atol=1e-6)


def test_parts_sum_to_the_mono_at_any_rate(rng):
    sp = spatializer()
    for sr in (16000, 44100):
        x = rng.standard_normal(sr) * 0.1
        parts = sp.separate(x, sr, [SourceTrack.static(30.0), SourceTrack.static(-30.0)])
        assert parts.shape == (3, sr)
        np.testing.assert_allclose(parts.sum(0), x, atol=1e-9)


def test_one_source_equals_the_dsp_renderer_up_to_the_mask(rng):
    """With one source the output is DSP(mask * x) along its track + DSP(residual) in front."""
    sp = spatializer()
    x = rng.standard_normal(16000) * 0.1
    tr = SourceTrack.static(50.0)
    parts = sp.separate(x, 16000, [tr])
    r = Renderer(HRTF.default(16000))
    want = r.render(parts[0], [tr]) + r.render(parts[1], [SourceTrack.static(0.0)])
    np.testing.assert_allclose(sp.render(x, 16000, [tr]), want, atol=1e-9)
    with torch.no_grad():  # a model that gives the source everything: exactly the DSP renderer
        sp.model.residual_logit.fill_(-1e4)
    np.testing.assert_allclose(sp.render(x, 16000, [tr]), r.render(x, [tr]), atol=1e-6)


def test_zero_sources_fall_back_to_the_renderer_in_front(rng):
    sp = spatializer()
    x = rng.standard_normal(8000) * 0.1
    y = sp.render(x, 16000, [])
    np.testing.assert_allclose(y, Renderer(HRTF.default(16000)).render(x, [SourceTrack.static(0.0)]), atol=1e-12)
