"""Class-conditioned supervised NMF separator (issue 7): known answers, invariances, the DSP fallback, files."""
import numpy as np
import pytest

pytest.importorskip("safetensors")

from binauralize.dsp.hrtf import HRTF  # noqa: E402
from binauralize.dsp.render import Renderer  # noqa: E402
from binauralize.metrics.separation import si_sdr  # noqa: E402
from binauralize.models.class_nmf import (ClassNMF, ClassNMFSpatializer, class_of, fit_dictionary,  # noqa: E402
                                          kl_activations)
from binauralize.tracks import SourceTrack  # noqa: E402

SR = 16000
F = 257


def tone_dictionary(freqs_hz, width=2.0) -> np.ndarray:
    """One atom per frequency: a narrow bump on the 16-kHz, 512-point STFT grid, unit sum."""
    bins = np.arange(F) * SR / 512
    d = np.stack([np.exp(-0.5 * ((bins - f) / (width * SR / 512)) ** 2) for f in freqs_hz])
    return d / d.sum(axis=1, keepdims=True)


def two_class_model(classifier=None) -> ClassNMF:
    low = tone_dictionary([200, 300, 400, 500])
    high = tone_dictionary([2000, 3000, 4000, 5000])
    return ClassNMF(["high", "low"], np.stack([high, low]), classifier)


def spatializer(model=None, **kw):
    return ClassNMFSpatializer(model or two_class_model(), lambda sr: Renderer(HRTF.default(sr)), **kw)


def tones(freqs, seconds=1.0, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs)) * 0.1


def test_kl_activations_reconstruct_a_mixture_of_known_atoms(rng):
    w = np.abs(rng.standard_normal((F, 6)))
    h_true = np.abs(rng.standard_normal((6, 40)))
    v = w @ h_true
    h = kl_activations(v, w, iters=500)
    assert np.abs(w @ h - v).sum() / v.sum() < 0.02
    np.testing.assert_allclose(kl_activations(v[:, :15], w, 50), kl_activations(v, w, 50)[:, :15])  # frames independent


def test_fit_dictionary_finds_the_spectral_shapes_of_a_class(rng):
    shapes = tone_dictionary([500, 3000])
    frames = np.abs(rng.standard_normal((400, 2))) @ shapes
    d = fit_dictionary(frames, 2, max_iter=500)
    np.testing.assert_allclose(d.sum(axis=1), 1, rtol=1e-5)
    corr = np.corrcoef(np.concatenate([d, shapes]))[:2, 2:]
    assert np.sort(corr.max(axis=0)).min() > 0.95  # each true shape is matched by an atom


def test_class_from_the_track_name():
    assert class_of("drum0", ["drum", "bass"]) == "drum" and class_of("Bass_2", ["drum", "bass"]) == "bass"
    assert class_of("face0", ["drum", "bass"]) is None and class_of("", ["drum"]) is None


def test_two_classes_are_separated_and_placed_on_their_own_sides():
    low, high = tones([300, 400]), tones([3000, 4000])
    sp = spatializer()
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    parts = sp.separate(low + high, SR, tracks)
    np.testing.assert_allclose(parts.sum(0), low + high, atol=1e-9)
    assert si_sdr(parts[0], low) > 15 and si_sdr(parts[1], high) > 15
    y = sp.render(low + high, SR, tracks)
    from scipy.signal import butter, sosfilt

    lp, hp = butter(6, 1000, fs=SR, output="sos"), butter(6, 1500, "high", fs=SR, output="sos")
    lo, hi = sosfilt(lp, y, axis=-1), sosfilt(hp, y, axis=-1)
    assert np.sum(lo[0] ** 2) > 1.5 * np.sum(lo[1] ** 2)  # the low source at +60 deg: louder on the left
    assert np.sum(hi[1] ** 2) > 3 * np.sum(hi[0] ** 2)  # the high one at -60 deg: louder on the right


def test_permuting_sources_does_not_change_the_output():
    x = tones([300, 3000])
    sp = spatializer()
    tr = [SourceTrack.static(40.0, name="low"), SourceTrack.static(-30.0, name="high"), SourceTrack.static(5.0)]
    np.testing.assert_allclose(sp.render(x, SR, tr), sp.render(x, SR, [tr[2], tr[0], tr[1]]), atol=1e-9)


def test_one_source_equals_the_dsp_renderer_and_zero_sources_fall_back(rng):
    x = rng.standard_normal(SR) * 0.1
    sp = spatializer()
    r = Renderer(HRTF.default(SR))
    tr = [SourceTrack.static(35.0, name="low")]
    np.testing.assert_allclose(sp.render(x, SR, tr), r.render(x, tr), atol=1e-9)
    np.testing.assert_allclose(sp.render(x, SR, []), r.render(x, [SourceTrack.static(0.0)]), atol=1e-9)


def test_unknown_classes_share_equally_and_a_silent_source_takes_nothing():
    x = tones([300, 3000])
    sp = spatializer()
    parts = sp.separate(x, SR, [SourceTrack.static(30.0, name="a"), SourceTrack.static(-30.0, name="b")])
    np.testing.assert_allclose(parts[0], parts[1], atol=1e-9)
    quiet = SourceTrack("high", np.zeros(1), np.array([-30.0]), np.zeros(1), np.full(1, 2.0),
                        weight_times=np.array([0.0, 1.0]), weight=np.array([0.0, 0.0]))
    parts = sp.separate(x, SR, [SourceTrack.static(30.0, name="low"), quiet])
    assert np.sum(parts[1] ** 2) < 1e-12 * np.sum(x ** 2)


def test_the_class_is_recognised_in_the_frames_when_the_name_says_nothing():
    """A trunk map whose channel 0 lights up on the left half of the picture and channel 1 on the right half, and a
    classifier that reads channel 0 as "low" and channel 1 as "high": unnamed sources get the class of what is
    drawn where they are."""
    fmap = np.zeros((2, 5, 10), np.float32)
    fmap[0, :, :5], fmap[1, :, 5:] = 1.0, 1.0
    clf = {"weight": np.array([[0.0, 5.0], [5.0, 0.0]], np.float32), "bias": np.zeros(2, np.float32),
           "mean": np.zeros(2, np.float32), "std": np.ones(2, np.float32)}  # rows: "high", "low"
    sp = spatializer(two_class_model(clf), fov_deg=90.0)
    low, high = tones([300, 400]), tones([3000, 4000])
    tracks = [SourceTrack.static(30.0, name="source0"), SourceTrack.static(-30.0, name="source1")]  # + = left
    parts = sp.separate(low + high, SR, tracks, feature_at=lambda t: fmap)
    assert sp.last_classes == ["low", "high"]
    assert si_sdr(parts[0], low) > 15 and si_sdr(parts[1], high) > 15
    sp.use_names = False
    sp.separate(low + high, SR, [SourceTrack.static(30.0, name="high")], feature_at=lambda t: fmap)
    assert sp.last_classes == ["low"]  # the picture, not the name


def test_checkpoint_round_trip(tmp_path):
    from binauralize.models.spatializer import open_spatializer

    clf = {"weight": np.eye(2, dtype=np.float32), "bias": np.zeros(2, np.float32), "mean": np.zeros(2, np.float32),
           "std": np.ones(2, np.float32)}
    m = two_class_model(clf)
    path = m.save(tmp_path / "nmf.safetensors", extra={"note": "test"})
    sp = open_spatializer(path)
    assert isinstance(sp, ClassNMFSpatializer) and sp.model.classes == ["high", "low"]
    np.testing.assert_array_equal(sp.model.dictionaries, m.dictionaries)
    np.testing.assert_array_equal(sp.model.classifier["weight"], clf["weight"])
    x = tones([300, 3000])
    tr = [SourceTrack.static(30.0, name="low"), SourceTrack.static(-30.0, name="high")]
    np.testing.assert_allclose(sp.render(x, SR, tr), spatializer(m).render(x, SR, tr), atol=1e-12)
    assert not list(tmp_path.glob(".*partial"))


def test_power_two_masks_are_sharper_and_still_sum_to_the_mono():
    low, high = tones([300, 400]), tones([3000, 4000])
    noise = np.random.default_rng(1).standard_normal(len(low)) * 0.02  # what neither dictionary explains
    x = low + high + noise
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    m1, m2 = two_class_model(), two_class_model()
    m2.power = 2.0
    p1, p2 = spatializer(m1).separate(x, SR, tracks), spatializer(m2).separate(x, SR, tracks)
    np.testing.assert_allclose(p2.sum(0), x, atol=1e-9)
    assert si_sdr(p2[0], low) >= si_sdr(p1[0], low) - 0.1 and si_sdr(p2[1], high) >= si_sdr(p1[1], high) - 0.1


def test_the_tool_runs_it_and_says_which_class_each_source_got(tmp_path, capsys):
    import json

    import soundfile as sf

    from binauralize.cli import main

    ck = two_class_model().save(tmp_path / "nmf.safetensors")
    wav = tmp_path / "mix.wav"
    sf.write(wav, tones([300, 3000], seconds=2.0), SR)
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"sources": [{"name": "low", "azimuth": 50}, {"name": "guitar", "azimuth": -50}]}))
    rep = tmp_path / "r.json"
    assert main([str(wav), "-o", str(tmp_path / "o.wav"), "--model", str(ck), "--sources", str(src),
                 "--report", str(rep), "-q"]) == 0
    notes = " ".join(json.loads(rep.read_text())["notices"])
    assert "low: low" in notes and "guitar: unknown" in notes
    y, sr = sf.read(tmp_path / "o.wav")
    assert sr == SR and y.shape == (2 * SR, 2)


def test_stack_context_puts_each_frame_beside_its_neighbours():
    from binauralize.models.class_nmf import stack_context

    m = np.arange(12, dtype=float).reshape(3, 4)  # F = 3, N = 4
    s = stack_context(m, 1)
    assert s.shape == (9, 4)
    np.testing.assert_array_equal(s[3:6], m)              # the centre block is the frame itself
    np.testing.assert_array_equal(s[0:3, 1:], m[:, :-1])  # the block before: the previous frame
    np.testing.assert_array_equal(s[6:9, :-1], m[:, 1:])  # the block after: the next frame
    np.testing.assert_array_equal(s[0:3, 0], m[:, 0])     # edges repeated
    assert stack_context(m, 0) is m


def test_a_context_model_separates_and_its_chunks_have_no_seams():
    """Atoms spanning 2 c + 1 frames (frame stacking): two tone classes are still separated, and masks computed a
    few frames at a time equal those computed at once (each chunk sees its neighbours' frames)."""
    c = 2
    base = two_class_model()
    stacked = np.concatenate([base.dictionaries] * (2 * c + 1), axis=-1) / (2 * c + 1)  # [K, C, 5 F], unit sum
    model = ClassNMF(base.classes, stacked, context=c)
    with pytest.raises(ValueError):
        ClassNMF(base.classes, stacked[..., :-1], context=c)
    low, high = tones([300, 400], 1.0), tones([3000, 4000], 1.0)
    low[: SR // 2] *= 0.05  # the low source enters half-way: the masks change over time
    sp = spatializer(model)
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    parts = sp.separate(low + high, SR, tracks)
    assert si_sdr(parts[0], low) > 12 and si_sdr(parts[1], high) > 15
    whole, _ = sp.masks(low + high, tracks)
    chunked, _ = sp.masks(low + high, tracks, chunk_frames=7)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


# --- position-nmf: the class-NMF masks refined by the position network ------------------------------------------
def position_nmf_spatializer(seed=0):
    import torch

    from binauralize.models.class_nmf import NMFPositionSpatializer
    from binauralize.models.position import PositionMasker

    torch.manual_seed(seed)
    nmf = two_class_model()
    net = PositionMasker(hidden=4, classes=nmf.classes, atoms=nmf.dictionaries.shape[1], nmf_iters=nmf.iters)
    net.set_nmf(nmf)
    return NMFPositionSpatializer(net, lambda sr: Renderer(HRTF.default(sr)))


def test_position_nmf_untrained_returns_the_class_nmf_masks():
    x = tones([300, 400, 3000, 4000])
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    refined, tt = position_nmf_spatializer().masks(x, tracks)
    plain, tt2 = spatializer().masks(x, tracks)
    np.testing.assert_array_equal(tt, tt2)
    assert np.abs(refined - plain).max() < 2e-3  # the zero-initialised correction: softmax(log(prior + 1e-4))
    np.testing.assert_allclose(refined.sum(0), 1, atol=1e-5)


def test_position_nmf_trained_correction_is_permutation_invariant_and_one_source_is_the_renderer(rng):
    import torch

    sp = position_nmf_spatializer()
    with torch.no_grad():  # a non-zero correction, as after training
        for p in sp.model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    x = tones([300, 3000]) + 0.01 * rng.standard_normal(SR)
    a = [SourceTrack.static(50.0, name="low0"), SourceTrack.static(-50.0, name="high0")]
    ma, _ = sp.masks(x, a)
    mb, _ = sp.masks(x, a[::-1])
    np.testing.assert_allclose(ma[[1, 0, 2]], mb, atol=1e-5)
    assert np.abs(ma - spatializer().masks(x, a)[0]).max() > 1e-3  # the network does change the masks
    np.testing.assert_allclose(sp.render(x, SR, a), sp.render(x, SR, a[::-1]), atol=1e-8)
    one = [SourceTrack.static(30.0, name="low0")]
    r = Renderer(HRTF.default(SR))
    np.testing.assert_allclose(sp.render(x, SR, one), r.render(x, one), atol=1e-8)
    y0 = sp.render(x, SR, [])  # no source: the renderer in front
    np.testing.assert_allclose(y0, r.render(x, [SourceTrack.static(0.0, name="front")]), atol=1e-8)


def test_position_nmf_checkpoint_round_trip_carries_the_separator(tmp_path):
    from binauralize.models import checkpoint
    from binauralize.models.class_nmf import NMFPositionSpatializer
    from binauralize.models.spatializer import open_spatializer

    sp = position_nmf_spatializer()
    path = checkpoint.save(tmp_path / "pn.safetensors", sp.model)
    back = open_spatializer(path, renderer_factory=lambda sr: Renderer(HRTF.default(sr)))
    assert isinstance(back, NMFPositionSpatializer) and back.nmf.classes == ["high", "low"]
    np.testing.assert_allclose(back.nmf.dictionaries, two_class_model().dictionaries)
    x = tones([300, 3000])
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    np.testing.assert_allclose(back.masks(x, tracks)[0], sp.masks(x, tracks)[0], atol=1e-6)


def test_position_nmf_with_a_stacked_frame_prior_round_trips(tmp_path):
    """A class-NMF prior whose atoms span several frames (context) travels in the position-nmf checkpoint too: the
    untrained network returns that prior's masks, before and after a save and load; a prior of another context
    is refused."""
    import torch

    from binauralize.errors import InputError
    from binauralize.models import checkpoint
    from binauralize.models.class_nmf import NMFPositionSpatializer
    from binauralize.models.position import PositionMasker
    from binauralize.models.spatializer import open_spatializer

    base = two_class_model()
    nmf = ClassNMF(base.classes, np.concatenate([base.dictionaries] * 3, axis=-1) / 3, context=1)
    torch.manual_seed(0)
    net = PositionMasker(hidden=4, classes=nmf.classes, atoms=nmf.dictionaries.shape[1], nmf_iters=nmf.iters,
                         nmf_context=1)
    net.set_nmf(nmf)
    with pytest.raises(InputError, match="frame context"):
        net.set_nmf(base)
    sp = NMFPositionSpatializer(net, lambda sr: Renderer(HRTF.default(sr)))
    x = tones([300, 400, 3000, 4000])
    tracks = [SourceTrack.static(60.0, name="low0"), SourceTrack.static(-60.0, name="high0")]
    m, _ = sp.masks(x, tracks)
    direct, _ = ClassNMFSpatializer(nmf, lambda sr: Renderer(HRTF.default(sr))).masks(x, tracks)
    np.testing.assert_allclose(m, direct, atol=2e-3)
    back = open_spatializer(checkpoint.save(tmp_path / "pn.safetensors", sp.model),
                            renderer_factory=lambda sr: Renderer(HRTF.default(sr)))
    assert back.nmf.context == 1
    np.testing.assert_allclose(back.masks(x, tracks)[0], m, atol=1e-6)


def test_stacked_columns_equal_the_whole_stack_at_those_columns():
    from binauralize.dsp.nmf import stack_context

    m = np.random.default_rng(0).uniform(size=(5, 30))
    cols = np.array([0, 1, 7, 28, 29])
    for c in (0, 1, 3):
        np.testing.assert_array_equal(stack_context(m, c, cols), stack_context(m, c)[:, cols])
