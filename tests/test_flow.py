"""Flow-matching variant (issue 7): compression round trip, the sampler's known answer, mono fidelity."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from binauralize.dsp.hrtf import HRTF  # noqa: E402
from binauralize.dsp.render import Renderer  # noqa: E402
from binauralize.models.flow import (FlowBinaural, FlowSpatializer, compress, decompress, istft16,  # noqa: E402
                                     sample, stft16)
from binauralize.tracks import SourceTrack  # noqa: E402


def test_compression_and_stft_round_trip(rng):
    z = torch.complex(torch.randn(3, 256, 20), torch.randn(3, 256, 20)) * 5
    torch.testing.assert_close(decompress(compress(z)), z, rtol=1e-4, atol=1e-4)
    x = torch.from_numpy(rng.standard_normal((2, 8000)).astype(np.float32))
    lowpassed = istft16(stft16(x), 8000)  # only the Nyquist bin is lost
    assert float((lowpassed - x).pow(2).mean() / x.pow(2).mean()) < 1e-3


class ToZero(torch.nn.Module):
    """A model certain that the residual is zero: its flow carries any x_0 to x_1 = 0."""

    init_args: dict = {}

    def forward(self, xt, t, cond):
        return torch.zeros_like(xt)


class ToTarget(torch.nn.Module):
    """A model that predicts the endpoint x_1 = 0.5 everywhere."""

    def forward(self, xt, t, cond):
        return torch.full_like(xt, 0.5)


def test_sampler_integrates_the_flow_exactly_for_a_known_field():
    cond = torch.zeros(2, 4, 256, 16)
    for steps in (1, 3, 8):
        assert sample(ToZero(), cond, steps).abs().max() < 1e-5
        torch.testing.assert_close(sample(ToTarget(), cond, steps), torch.full((2, 2, 256, 16), 0.5))


def test_zero_residual_gives_the_dsp_rendering_and_the_input_is_kept(rng):
    """A model that generates no residual reproduces the DSP renderer's L - R; (L + R) / 2 is the input exactly;
    also below the model's 16-kHz rate (8 kHz failed in the crossover filter above 7.6 kHz)."""
    for sr in (8000, 16000, 44100):
        x = rng.standard_normal(sr) * 0.1
        tr = [SourceTrack.static(50.0)]
        r = Renderer(HRTF.default(sr))
        sp = FlowSpatializer(ToZero(), lambda s: r, steps=2)
        y = sp.render(x, sr, tr)
        np.testing.assert_allclose(y.mean(axis=0), x, atol=1e-12)
        dsp = r.render(x, tr)
        err = np.sqrt(np.mean(((y[0] - y[1]) - (dsp[0] - dsp[1])) ** 2)) / np.sqrt(np.mean((dsp[0] - dsp[1]) ** 2))
        assert err < 0.05, err


def test_network_shapes_and_zero_init():
    m = FlowBinaural(hidden=16, blocks=2)
    out = m(torch.randn(2, 2, 256, 64), torch.rand(2), torch.randn(2, 4, 256, 64))
    assert out.shape == (2, 2, 256, 64) and out.abs().max() == 0  # zero-initialised output layer


def _flow_batch(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(b, 2, 10080, generator=g) * 0.1
    dsp = target + 0.05 * torch.randn(b, 2, 10080, generator=g)
    return {"mix": target.sum(1), "target": target, "dsp": dsp}


def test_flow_objective_decreases_on_a_repeated_batch_and_checkpoints_round_trip(tmp_path):
    from binauralize.models import checkpoint
    from binauralize.train.objectives import losses

    torch.manual_seed(0)
    m = FlowBinaural(hidden=16, blocks=2).train()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x = _flow_batch()
    vals = []
    for _ in range(5):
        torch.manual_seed(1)  # the same noise and times every step
        t = losses(m, x)
        opt.zero_grad()
        t["total"].backward()
        opt.step()
        vals.append(float(t["total"].detach()))
    assert np.all(np.isfinite(vals)) and vals[-1] < vals[0]
    m.eval()
    p = checkpoint.save(tmp_path / "f.safetensors", m, {}, {})
    m2, meta = checkpoint.load(p)
    assert meta["model"] == "flow"
    cond = torch.randn(1, 4, 256, 32)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(sample(m, cond, 3, g1), sample(m2, cond, 3, g2))


def test_the_linear_loss_term_is_the_relative_error_of_the_decompressed_difference():
    """[loss] linear = 1: the loss is ||D^ - D||^2 / ||D||^2 on the linear difference spectrogram. Known answers: a
    model predicting no residual scores the DSP rendering's own relative error, computed here from the STFTs
    directly; a model predicting x_1 exactly scores 0; with a = 0.5 the total is the mean of the two terms."""
    from binauralize.train.objectives import flow_losses

    class Exact(torch.nn.Module):
        """Predicts x_1 itself (read from the batch it is given)."""

        def __init__(self, x1):
            super().__init__()
            self.x1 = x1

        def forward(self, xt, t, cond):
            return self.x1

    batch = _flow_batch()
    d_true = stft16(batch["target"][:, 0] - batch["target"][:, 1])
    d_dsp = stft16(batch["dsp"][:, 0] - batch["dsp"][:, 1])
    want = float((d_dsp - d_true).abs().pow(2).mean() / d_true.abs().pow(2).mean())
    zero = flow_losses(ToZero().eval(), batch, {"linear": 1.0})
    assert float(zero["total"]) == pytest.approx(want, rel=1e-3) and float(zero["linear"]) == float(zero["total"])
    x1 = (compress(d_true) - compress(d_dsp)).permute(0, 3, 1, 2)
    exact = flow_losses(Exact(x1).eval(), batch, {"linear": 1.0})
    assert float(exact["linear"]) < 1e-8 and float(exact["flow"]) < 1e-10
    half = flow_losses(ToZero().eval(), batch, {"linear": 0.5})
    assert float(half["total"]) == pytest.approx(0.5 * (float(half["flow"]) + float(half["linear"])), rel=1e-6)
    assert "linear" not in flow_losses(ToZero().eval(), batch)  # the default: the plain flow-matching loss
