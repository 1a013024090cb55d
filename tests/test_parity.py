"""Parity of our gao2019 protocol with the reference stack (librosa.load(sr=16000) + librosa.stft), re-derived here
from the published definition, on a deterministic reverberant binaural pair. Skipped when librosa is absent."""
import numpy as np
import pytest
import soundfile as sf

librosa = pytest.importorskip("librosa")
from binauralize.metrics.signal import gao2019_metrics, librosa_stft  # noqa: E402
from binauralize.testing.reference import reference_gao2019  # noqa: E402


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_gao2019_matches_librosa_pipeline(tmp_path, pad_mode):
    rng = np.random.default_rng(7)
    sr = 44100
    n = sr * 3
    dry = rng.standard_normal(n) * (np.arange(n) % 11025 < 4000)
    ir = rng.standard_normal((2, sr // 2)) * np.exp(-np.arange(sr // 2) / (0.1 * sr))
    ir[0, 30], ir[1, 45] = 8.0, 5.0
    gt = np.stack([np.convolve(dry, ir[0])[:n], np.convolve(dry, ir[1])[:n]])
    gt /= np.abs(gt).max() * 1.1
    pred = np.stack([gt.mean(0), gt.mean(0)])  # Mono-Mono
    sf.write(tmp_path / "gt.wav", gt.T, sr, subtype="FLOAT")
    sf.write(tmp_path / "pred.wav", pred.T, sr, subtype="FLOAT")
    ours = gao2019_metrics(sf.read(tmp_path / "pred.wav")[0].T, sf.read(tmp_path / "gt.wav")[0].T, sr, pad_mode=pad_mode)
    ref_stft, ref_env = reference_gao2019(str(tmp_path / "pred.wav"), str(tmp_path / "gt.wav"), pad_mode)
    assert ours["stft"] == pytest.approx(ref_stft, rel=5e-5)  # 4 significant digits
    assert ours["env"] == pytest.approx(ref_env, rel=5e-5)


def test_stft_equals_librosa():
    x = np.random.default_rng(0).standard_normal(5000)
    for pad in ("reflect", "constant"):
        np.testing.assert_allclose(librosa_stft(x, pad_mode=pad),
                                   librosa.stft(x, n_fft=512, hop_length=160, win_length=400, center=True, pad_mode=pad),
                                   rtol=1e-6, atol=1e-9)
