"""The learned output stage on a mask model (issue 7, option (b) on top of (a)): identity when untrained, known
gains at any rate and full band, level kept, a learnable known answer, invariances and the checkpoint round trip."""
import numpy as np
import pytest

pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")

from binauralize.dsp.hrtf import HRTF  # noqa: E402
from binauralize.dsp.render import Renderer  # noqa: E402
from binauralize.metrics.spatial import ild_db  # noqa: E402
from binauralize.models.output_stage import OutputStage, StagedSpatializer, apply_stage, stft16  # noqa: E402
from binauralize.tracks import SourceTrack  # noqa: E402
from test_class_nmf import SR, position_nmf_spatializer, tones  # noqa: E402


def noise(rng, sr, seconds=2.0):
    return (0.1 * rng.standard_normal((2, int(sr * seconds)))).astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_untrained_stage_is_the_identity_at_any_rate(rng, sr):
    x = noise(rng, sr)
    np.testing.assert_allclose(apply_stage(OutputStage().eval(), x, x.mean(0), sr), x, atol=1e-5)


def band_energy(x, sr, lo, hi):
    X = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return X[(f >= lo) & (f < hi)].sum()


def test_known_gains_in_the_trained_band_the_rest_untouched_and_level_kept(rng):
    sr = 48000
    x = noise(rng, sr)
    st = OutputStage().eval()
    st.set_linear(np.ones(257), np.zeros(257))  # no interaural difference left where the stage was trained
    y = apply_stage(st, x, x.mean(0), sr)
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-4)  # loudness kept
    d_in, d_out = x[0] - x[1], y[0] - y[1]
    assert band_energy(d_out, sr, 100, 6800) < 1e-4 * band_energy(d_in, sr, 100, 6800)
    # above 7.5 kHz (beyond the 16-kHz training signals) the mask model's output is kept, up to 24 kHz
    for lo, hi in ((7700, 12000), (12000, 23500)):  # (relative to the sum: the whole output is rescaled)
        r_in = band_energy(d_in, sr, lo, hi) / band_energy(x[0] + x[1], sr, lo, hi)
        assert band_energy(d_out, sr, lo, hi) / band_energy(y[0] + y[1], sr, lo, hi) == pytest.approx(r_in, rel=0.02)
    st.set_linear(np.ones(257), 0.5 * np.ones(257))  # half the difference (relative to the sum)
    y = apply_stage(st, x, x.mean(0), sr)
    ratio = np.sqrt(band_energy(y[0] - y[1], sr, 100, 6800) / band_energy(y[0] + y[1], sr, 100, 6800))
    ref = np.sqrt(band_energy(d_in, sr, 100, 6800) / band_energy(x[0] + x[1], sr, 100, 6800))
    assert ratio == pytest.approx(0.5 * ref, rel=1e-2)


def test_keep_sum_stage_never_changes_the_sum(rng):
    """The shipped stage corrects only L-R: whatever its weights, L+R (what a mono listener hears) is the mask
    model's up to the level kept, at every frequency: no muffling."""
    sr = 44100
    x = noise(rng, sr)
    st = OutputStage(keep_sum=True).eval()
    st.set_linear(np.zeros(257), 0.3 * np.ones(257))  # a is ignored with keep_sum
    with torch.no_grad():
        for p in st.parameters():
            p.add_(0.1 * torch.randn_like(p))
    y = apply_stage(st, x, x.mean(0), sr)
    s_in, s_out = x[0] + x[1], y[0] + y[1]
    g = np.dot(s_out, s_in) / np.dot(s_in, s_in)  # the level-keeping scale
    assert np.abs(s_out - g * s_in).max() < 1e-3 * np.abs(s_in).max()
    assert band_energy(y[0] - y[1], sr, 100, 6800) < 0.5 * band_energy(x[0] - x[1], sr, 100, 6800)  # D acts


def test_direction_survives_an_identity_stage_and_shrinks_with_the_difference():
    r = Renderer(HRTF.default(SR))
    x = tones([300, 700, 1500, 3000], seconds=2.0)
    left = r.render(x, [SourceTrack.static(60.0)])
    st = OutputStage().eval()
    ild = ild_db(*apply_stage(st, left, x, SR), SR)
    assert ild == pytest.approx(ild_db(*left, SR), abs=0.05) and ild > 3  # + = left
    st.set_linear(np.ones(257), 0.3 * np.ones(257))
    assert 0 < ild_db(*apply_stage(st, left, x, SR), SR) < ild - 2


def test_the_stage_learns_a_known_correction(rng):
    """Target = the input with its difference halved: a few hundred steps of the papers' objective (complex L2)
    move the stage's gains for D toward 0.5 and the loss down."""
    st = OutputStage(channels=4)
    opt = torch.optim.Adam(st.parameters(), lr=1e-2)
    x = torch.as_tensor(noise(rng, SR, 1.0))
    S, D, M = stft16(x[0] + x[1], torch), stft16(x[0] - x[1], torch), stft16(x.mean(0), torch)
    S, D, M = S[None], D[None], M[None]
    losses = []
    for _ in range(150):
        So, Do = st(S, D, M)
        loss = ((So - S).abs() ** 2).mean() + ((Do - 0.5 * D).abs() ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.05 * losses[0]
    with torch.no_grad():
        gd = st.gains(S, D, M)[1]
    assert float(gd.real.mean()) == pytest.approx(0.5, abs=0.05)


def test_staged_position_nmf_permutation_invariant_and_round_trip(tmp_path, rng):
    from binauralize.models import checkpoint
    from binauralize.models.spatializer import open_spatializer

    inner = position_nmf_spatializer()
    stage = OutputStage().eval()
    with torch.no_grad():  # a trained-looking stage: non-zero corrections
        for p in stage.parameters():
            p.add_(0.05 * torch.randn_like(p))
    sp = StagedSpatializer(inner, stage)
    assert sp.uses_tracks and sp.label.endswith("output stage")
    x = tones([300, 3000]) + 0.01 * rng.standard_normal(SR)
    a = [SourceTrack.static(50.0, name="low0"), SourceTrack.static(-50.0, name="high0")]
    ya = sp.render(x, SR, a)
    np.testing.assert_allclose(ya, sp.render(x, SR, a[::-1]), atol=1e-6)
    assert np.abs(ya - inner.render(x, SR, a)).max() > 1e-3  # the stage acts
    sp.fov_deg = 50.0  # what the tool sets goes to the mask model
    assert inner.fov_deg == 50.0
    from binauralize.api import _TrackModelRenderer

    tool = _TrackModelRenderer(sp, SR)  # the tool streams the mask models in pieces: the stage must still act
    np.testing.assert_allclose(np.concatenate(list(tool.render_pieces(x, a, None, None)), axis=1),
                               sp.render(x, SR, a), atol=1e-9)
    pn = checkpoint.save(tmp_path / "pn.safetensors", inner.model)
    st = checkpoint.save(tmp_path / "stage.safetensors", stage, config={"inner": "elsewhere/pn.safetensors"})
    back = open_spatializer(st, renderer_factory=lambda sr: Renderer(HRTF.default(sr)))  # found beside the stage
    assert isinstance(back, StagedSpatializer) and back.inner.path == pn
    np.testing.assert_allclose(back.render(x, SR, a), ya, atol=1e-5)
    pn.unlink()
    from binauralize.errors import InputError

    with pytest.raises(InputError, match="mask model it refines"):
        open_spatializer(st)
