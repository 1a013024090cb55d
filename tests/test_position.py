"""Position-conditioned source masks (issue 7, deterministic variant): invariances and the DSP fallback."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from binauralize.dsp.hrtf import HRTF  # noqa: E402
from binauralize.dsp.render import Renderer  # noqa: E402
from binauralize.models.position import PositionMasker, PositionSpatializer, fourier_direction  # noqa: E402
from binauralize.tracks import SourceTrack  # noqa: E402


ARCHS = ("conv", "tcn")


def spatializer(arch: str = "conv"):
    torch.manual_seed(0)
    return PositionSpatializer(PositionMasker(hidden=8, arch=arch, blocks=3), lambda sr: Renderer(HRTF.default(sr)))


def test_direction_encoding_is_periodic_and_left_right_distinct():
    a = fourier_direction(np.array([30.0, 390.0, -30.0]), np.zeros(3), np.full(3, 2.0))
    np.testing.assert_allclose(a[0], a[1], atol=1e-5)
    assert np.abs(a[0] - a[2]).max() > 0.5 and a.shape == (3, 17)


@pytest.mark.parametrize("arch", ARCHS)
def test_masks_sum_to_one_and_absent_sources_take_nothing(arch):
    m = PositionMasker(hidden=8, arch=arch)
    logmag = torch.randn(2, 257, 30)
    tok = torch.randn(2, 3, 30, 17)
    pres = torch.ones(2, 3, 30)
    pres[:, 1, 10:] = 0
    out = m(logmag, tok, pres)
    assert out.shape == (2, 4, 257, 30)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 257, 30))
    assert out[:, 1, :, 10:].max() < 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_permuting_sources_does_not_change_the_output(rng, arch):
    sp = spatializer(arch)
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


@pytest.mark.parametrize("arch", ARCHS)
def test_one_source_equals_the_dsp_renderer_whatever_the_mask(rng, arch):
    """With one source, source part + residual both go along its track: exactly the DSP renderer (it is linear)."""
    sp = spatializer(arch)
    x = rng.standard_normal(16000) * 0.1
    tr = SourceTrack.static(50.0)
    parts = sp.separate(x, 16000, [tr])
    assert 0.01 < np.std(parts[0]) / np.std(x) < 0.99  # the untrained masks split the mono
    r = Renderer(HRTF.default(16000))
    np.testing.assert_allclose(sp.render(x, 16000, [tr]), r.render(x, [tr]), atol=1e-9)


def test_two_sources_separated_go_to_their_own_sides(rng):
    """A model that gives source 0 everything below 2 kHz and source 1 the rest puts a low tone left, a high right."""
    sp = spatializer()
    with torch.no_grad():  # decoder logits: +20 for bins < 2 kHz if the token's sin(az) > 0, else the opposite
        for prm in sp.model.parameters():
            prm.zero_()
    sr = 16000
    t = np.arange(sr) / sr
    low, high = 0.1 * np.sin(2 * np.pi * 300 * t), 0.1 * np.sin(2 * np.pi * 5000 * t)
    left, right = SourceTrack.static(60.0, name="l"), SourceTrack.static(-60.0, name="r")

    class Fixed(torch.nn.Module):
        n_freq, extra_dim, use_visual, receptive_frames = 4, 0, False, 0

        def forward(self, logmag, tokens, presence):
            f = torch.arange(logmag.shape[1]) * sr / 512
            is_left = tokens[:, :, :, 0] > 0                                      # sin(az) > 0: left
            low_bins = (f < 2000)[None, None, :, None]
            m = (low_bins == is_left[:, :, None, :]).float()                      # [B, K, F, T]
            return torch.cat([m, torch.zeros_like(m[:, :1])], 1)

    sp.model = Fixed()
    parts = sp.separate(low + high, sr, [left, right])
    assert np.std(parts[0] - low) < 0.05 * np.std(low) and np.std(parts[1] - high) < 0.05 * np.std(high)
    y = sp.render(low + high, sr, [left, right])
    r = Renderer(HRTF.default(sr))
    np.testing.assert_allclose(y, r.render(parts[0], [left]) + r.render(parts[1], [right]) + r.render(parts[2], [left, right]),
                               atol=1e-9)


def test_crop_embedding_samples_the_map_where_the_source_projects():
    from binauralize.models.position import crop_embedding

    fmap = np.zeros((2, 5, 10), np.float32)
    fmap[0, 2, 2] = 1.0   # a feature in the left part of the frame
    fmap[1, 2, 7] = 1.0   # another on the right
    e_left = crop_embedding(fmap, 20.0, 0.0, 70.0)
    e_right = crop_embedding(fmap, -20.0, 0.0, 70.0)
    assert e_left[0] > 0.5 and e_left[1] == 0 and e_left[2] == 1
    assert e_right[1] > 0.5 and e_right[0] == 0 and e_right[2] == 1
    np.testing.assert_array_equal(crop_embedding(fmap, 150.0, 0.0, 70.0), np.zeros(3))  # behind: off screen
    np.testing.assert_array_equal(crop_embedding(fmap, 50.0, 0.0, 70.0), np.zeros(3))   # outside the field of view


def test_zero_sources_fall_back_to_the_renderer_in_front(rng):
    sp = spatializer()
    x = rng.standard_normal(8000) * 0.1
    y = sp.render(x, 16000, [])
    np.testing.assert_allclose(y, Renderer(HRTF.default(16000)).render(x, [SourceTrack.static(0.0)]), atol=1e-12)


def test_si_sdr_known_answers(rng):
    from binauralize.metrics.separation import align_reference, si_sdr

    s = rng.standard_normal(8000)
    n = rng.standard_normal(8000)
    assert si_sdr(3 * s, s) > 100                                   # scale-invariant: a perfect estimate
    np.testing.assert_allclose(si_sdr(s + 0.1 * n / np.std(n) * np.std(s), s), 20.0, atol=0.5)  # 20 dB SNR
    delayed = np.concatenate([np.zeros(37), s[:-37]])
    np.testing.assert_allclose(align_reference(s, delayed + 0.01 * n, 100), delayed, atol=1e-12)


@pytest.mark.parametrize("arch", ARCHS)
def test_position_objective_decreases_and_checkpoints_round_trip(tmp_path, arch):
    from binauralize.models import checkpoint
    from binauralize.train.objectives import losses

    torch.manual_seed(0)
    m = PositionMasker(hidden=8, extra_dim=5, arch=arch, blocks=2).train()
    g = torch.Generator().manual_seed(0)
    stems = torch.randn(3, 2, 10080, generator=g) * 0.1
    frames = 10080 // 160 + 1
    x = {"mix": stems.sum(1), "stems": stems, "tokens": torch.randn(3, 2, frames, 17 + 5, generator=g),
         "presence": torch.ones(3, 2, frames)}
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    vals = []
    for _ in range(5):
        t = losses(m, x)
        opt.zero_grad()
        t["total"].backward()
        opt.step()
        vals.append(float(t["total"].detach()))
    assert np.all(np.isfinite(vals)) and vals[-1] < vals[0]
    m.eval()
    m2, meta = checkpoint.load(checkpoint.save(tmp_path / "p.safetensors", m, {}, {}))
    assert meta["model"] == "position" and m2.use_visual and m2.extra_dim == 5 and m2.arch == arch
    lm = torch.log(torch.rand(1, 257, frames) + 1e-3)
    with torch.no_grad():
        torch.testing.assert_close(m(lm, x["tokens"][:1], x["presence"][:1]), m2(lm, x["tokens"][:1], x["presence"][:1]))


def test_linear_weights_match_np_interp_including_both_ends():
    from binauralize.models.position import _linear_weights

    rng = np.random.default_rng(3)
    grid = np.sort(rng.uniform(0, 8000, 40))
    x = np.linspace(-500, 9000, 301)  # beyond both ends: clamped as np.interp does
    v = rng.normal(size=(40, 4))
    i, a = _linear_weights(grid, x)
    got = v[i] * (1 - a)[:, None] + v[i + 1] * a[:, None]
    ref = np.stack([np.interp(x, grid, v[:, j]) for j in range(4)], axis=1)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_chunked_full_rate_masking_equals_one_whole_signal_pass(rng):
    """Memory-bounded masking: 0.3-s pieces give the same signals as one piece longer than the input."""
    from binauralize.models.position import apply_masks_full_rate

    for sr in (16000, 48000):
        x = rng.standard_normal(int(1.37 * sr))
        tt = np.arange(140) * 0.01
        masks = rng.uniform(0, 1, (2, 257, len(tt)))
        whole = apply_masks_full_rate(x, sr, masks, tt, chunk_s=100.0)
        pieces = apply_masks_full_rate(x, sr, masks, tt, chunk_s=0.3)
        np.testing.assert_allclose(pieces, whole, atol=1e-9)
        ones = apply_masks_full_rate(x, sr, np.ones((1, 257, len(tt))), tt, chunk_s=0.3)
        np.testing.assert_allclose(ones[0], x, atol=1e-9)  # an all-pass mask gives the input back


@pytest.mark.parametrize("arch", ARCHS)
def test_chunked_masks_equal_one_whole_clip_pass(rng, arch):
    """The network in 40-frame pieces (+- its receptive field of context) gives the whole-clip masks."""
    sp = spatializer(arch)
    x = rng.standard_normal(16000 * 2) * 0.1
    tr = [SourceTrack("moving", np.array([0.0, 2.0]), np.array([-40.0, 40.0]), np.zeros(2), np.full(2, 2.0)),
          SourceTrack.static(-20.0)]
    whole, tt = sp.masks(x, tr, chunk_frames=10 ** 6)
    pieces, tt2 = sp.masks(x, tr, chunk_frames=40)
    np.testing.assert_array_equal(tt, tt2)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)


def test_tcn_receptive_field_is_what_the_chunking_assumes():
    """A change at frame 60 moves the tcn's masks exactly within +-receptive_frames of it, nowhere else."""
    torch.manual_seed(0)
    m = PositionMasker(hidden=8, arch="tcn", blocks=3).eval()
    assert m.receptive_frames == 14
    lm, tok, pres = torch.randn(1, 257, 121), torch.randn(1, 2, 121, 17), torch.ones(1, 2, 121)
    lm2 = lm.clone()
    lm2[:, :, 60] += 3.0
    with torch.no_grad():
        d = (m(lm, tok, pres) - m(lm2, tok, pres)).abs().amax(dim=(0, 1, 2))
    changed = np.flatnonzero(d.numpy() > 1e-7)
    assert changed.min() == 60 - 14 and changed.max() == 60 + 14


def test_binaural_loss_term_ignores_errors_between_sources_at_one_place():
    """The output-domain term: moving mask mass between two sources with the same HRTF costs nothing; between
    sources on opposite sides it costs, and a perfect mask costs zero in both terms."""
    from binauralize.train.objectives import position_losses
    from binauralize.train.sources import hrtf_response as hr

    g = torch.Generator().manual_seed(0)
    stems = torch.randn(1, 2, 4000, generator=g) * 0.1
    frames = 4000 // 160 + 1
    left, right = torch.from_numpy(hr(60.0, 0.0)), torch.from_numpy(hr(-60.0, 0.0))

    class Fixed(torch.nn.Module):
        def __init__(self, masks):
            super().__init__()
            self.masks = masks

        def forward(self, logmag, tokens, presence):
            return self.masks

    from binauralize.models.mono2binaural import stft

    p = stft(stems).abs() ** 2
    irm = p / p.sum(1, keepdim=True)
    perfect = torch.cat([irm, torch.zeros_like(irm[:, :1])], 1)
    swapped = torch.cat([irm.flip(1), torch.zeros_like(irm[:, :1])], 1)
    batch = {"mix": stems.sum(1), "stems": stems, "tokens": torch.zeros(1, 2, frames, 17),
             "presence": torch.ones(1, 2, frames)}
    same = position_losses(Fixed(swapped), {**batch, "hrtf": torch.stack([left, left])[None]}, {"binaural": 1.0})
    opposite = position_losses(Fixed(swapped), {**batch, "hrtf": torch.stack([left, right])[None]}, {"binaural": 1.0})
    ideal = position_losses(Fixed(perfect), {**batch, "hrtf": torch.stack([left, right])[None]}, {"binaural": 1.0})
    assert same["mask"] > 0.01 and same["binaural"] < 1e-10
    assert opposite["binaural"] > 0.1 * opposite["mask"]
    assert ideal["total"] < 1e-10


def test_metric_weighting_follows_the_peak_normalised_distance():
    """weighting = "metric": a mask error costs |X|^2 over the window's squared peak, as in the peak-normalised STFT
    distance, so scaling the input does not change the loss, and of two windows with the same peak, the same error
    costs more in the dense one (noise: high RMS for its peak) than in the sparse one (clicks). "magnitude"
    weighting normalises each window by its mean |X|, which evens them out. Unknown values are input errors."""
    from binauralize.errors import InputError
    from binauralize.models.mono2binaural import stft
    from binauralize.train.objectives import position_losses

    g = torch.Generator().manual_seed(1)
    n = 4000
    frames = n // 160 + 1
    dense = torch.randn(1, 2, n, generator=g) * 0.1
    sparse = torch.zeros(1, 2, n)
    sparse[0, 0, 100::400], sparse[0, 1, 300::400] = 0.4, -0.4
    stems = torch.cat([dense / dense.sum(1).abs().amax(), sparse / sparse.sum(1).abs().amax()])  # same peaks

    class Fixed(torch.nn.Module):
        def forward(self, logmag, tokens, presence):
            return self.m

    def loss(stems, weighting, wrong):
        """The mask loss when the masks of the windows in ``wrong`` are swapped between the sources."""
        p = stft(stems).abs() ** 2
        irm = p / (p.sum(1, keepdim=True) + 1e-12)
        m = torch.cat([irm, torch.zeros_like(irm[:, :1])], 1)
        for i in wrong:
            m[i, :2] = irm[i].flip(0)
        model = Fixed()
        model.m = m
        batch = {"mix": stems.sum(1), "stems": stems, "tokens": torch.zeros(len(stems), 2, frames, 17),
                 "presence": torch.ones(len(stems), 2, frames)}
        return float(position_losses(model, batch, {"weighting": weighting})["mask"])

    metric_ratio = loss(stems, "metric", [0]) / loss(stems, "metric", [1])
    magnitude_ratio = loss(stems, "magnitude", [0]) / loss(stems, "magnitude", [1])
    assert metric_ratio > 3.0 * magnitude_ratio and metric_ratio > 3.0
    assert loss(stems * 7.0, "metric", [0]) == pytest.approx(loss(stems, "metric", [0]), rel=1e-5)
    assert loss(stems, "metric", []) < 1e-12
    with pytest.raises(InputError, match="weighting"):
        loss(stems, "loudness", [0])


def test_the_user_is_told_when_separation_rests_on_pictures_it_was_not_trained_on():
    """A visual model with two sources separates from each crop (glyphs in training): the tool says so; with one
    source (the DSP renderer's output) or a positions-only model there is nothing to say."""
    render = lambda sr: Renderer(HRTF.default(sr))  # noqa: E731
    looks = PositionSpatializer(PositionMasker(hidden=8, extra_dim=5), render)
    blind = PositionSpatializer(PositionMasker(hidden=8), render)
    two = [SourceTrack.static(30.0, name="a"), SourceTrack.static(-30.0, name="b")]
    msg = looks.tell(two)
    assert msg and "real footage" in msg and "glyphs" in msg
    assert looks.tell(two[:1]) is None and looks.tell([]) is None
    assert blind.tell(two) is None
