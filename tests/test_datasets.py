"""PyTorch training datasets (2.5D window protocol) and the frozen-feature cache."""
import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
from binauralize.data.datasets import BinauralWindows, FeatureCache  # noqa: E402
from binauralize.data.synth import SynthConfig, generate_clip  # noqa: E402


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("dry")
    rng = np.random.default_rng(0)
    for k in range(2):
        sf.write(d / f"drum_{k}.wav", rng.standard_normal(16000) * (np.arange(16000) % 3000 < 900), 16000)
    root = tmp_path_factory.mktemp("set")
    cfg = SynthConfig(seconds=2.0, sample_rate=16000, width=96, height=54, sources_dir=str(d), max_order=1,
                      p_silent_distractor=0.0)
    for i in range(2):
        generate_clip(root, i, 1, cfg)
    return root


def test_window_protocol(synth_set):
    ds = BinauralWindows(synth_set, ["000000", "000001"], window_s=0.63, sample_rate=16000)
    item = ds[0]
    assert item["binaural"].shape == (2, 10080) and item["mono"].shape == (1, 10080)
    torch.testing.assert_close(item["mono"][0], item["binaural"].mean(dim=0))
    assert item["frame"].shape == (3, 54, 96) and 0 <= float(item["frame"].min()) <= float(item["frame"].max()) <= 1
    full = BinauralWindows(synth_set, ["000000"], window_s=2.0, random_crop=False)[0]["binaural"].numpy()
    assert np.sqrt(np.mean(full**2)) == pytest.approx(0.1, rel=1e-3)  # RMS-normalised as the 2.5D code does
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["binaural"], BinauralWindows(synth_set, ["000000"])[0]["binaural"])  # new crop


def test_mirror_flips_picture_and_swaps_channels_together(synth_set):
    plain = BinauralWindows(synth_set, ["000001"], random_crop=False, mirror_p=0.0)[0]
    mirrored = BinauralWindows(synth_set, ["000001"], random_crop=False, mirror_p=1.0)[0]
    assert mirrored["mirrored"] and not plain["mirrored"]
    torch.testing.assert_close(mirrored["binaural"], plain["binaural"].flip(0))
    torch.testing.assert_close(mirrored["frame"], plain["frame"].flip(2))


def test_real_mono_input_differs_from_the_mix(synth_set):
    real = BinauralWindows(synth_set, ["000000"], random_crop=False, input="real")[0]
    mix = BinauralWindows(synth_set, ["000000"], random_crop=False, input="mix")[0]
    assert not torch.allclose(real["mono"], mix["mono"], atol=1e-3)


def test_feature_cache(synth_set, tmp_path):
    clips = {cid: (synth_set / "videos" / f"{cid}.mp4", None) for cid in ("000000", "000001")}
    cache = FeatureCache.build(tmp_path / "feat", clips, lambda imgs: imgs.reshape(len(imgs), -1, 3).mean(axis=1))
    ds = BinauralWindows(synth_set, ["000000"], random_crop=False, features=cache)
    item = ds[0]
    frame = BinauralWindows(synth_set, ["000000"], random_crop=False)[0]["frame"]
    np.testing.assert_allclose(item["feature"].numpy(), frame.numpy().reshape(3, -1).mean(axis=1) * 255, rtol=2e-3)
    assert FeatureCache(tmp_path / "feat").array.dtype == np.float16  # memory-mapped, reopened
