"""Generative variant of the position-conditioned binauralizer (issue 7): conditional flow matching over the
binaural difference spectrogram, conditioned on the mono and on a physically placed rendering of the tracks.

Okano et al. condition a diffusion model on the mono, visual features and source positions; ViSAudio trains a
flow-matching generator end to end. Here the positions (and, through the tracks, what the detectors saw) enter as
the DSP renderer's binaural rendering of the mono along the tracks: the network sees the mono STFT M and the DSP's
difference spectrogram D_dsp, and generates the residual r = c(D) - c(D_dsp) of the true difference D = STFT(L - R)
(c: power-law compression |z|^0.3 e^{i angle z}, common in speech enhancement, which evens out the dynamic range).
Rectified flow (Liu et al. 2023; Lipman et al. 2023, conditional flow matching): x_t = (1 - t) x_0 + t x_1,
x_0 ~ N(0, I), x_1 = r. The network predicts the endpoint x^_1(x_t, t | M, D_dsp) (data prediction), trained with
||x^_1 - x_1||^2; the velocity is v = (x^_1 - x_t) / (1 - t), and sampling integrates dx/dt = v with a
configurable number of Euler steps (1 step = the network's estimate from pure noise, i.e. the conditional mean).
Data prediction rather than velocity regression because an untrained or undertrained velocity network leaves part
of the noise x_0 in the sample, which the decompression (power 1/0.3) then amplifies; a first run with velocity
regression scored worse than the DSP renderer even at one step. The objective lives in
``binauralize.train.objectives``; the network here.

Mono fidelity by construction, no vocoder: the generated D is turned back into a waveform by the inverse STFT of
the complex spectrogram (phase included), and the output is L = x + D / 2, R = x - D / 2 from the full-rate input x,
so (L + R) / 2 equals the input exactly. Full band: the network works below 8 kHz (16-kHz STFT); above 8 kHz the
DSP rendering's own difference is kept.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .registry import register

N_FFT, HOP, WIN, SR = 512, 160, 400, 16000
POWER = 0.3


def compress(z: torch.Tensor) -> torch.Tensor:
    """Complex ``[...]`` -> real ``[..., 2]`` (re, im) of |z|^0.3 e^{i angle z}."""
    mag = z.abs()
    c = z * (mag.clamp_min(1e-8) ** (POWER - 1))
    return torch.stack([c.real, c.imag], dim=-1)


def decompress(c: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`compress`: real ``[..., 2]`` -> complex ``[...]``."""
    z = torch.complex(c[..., 0], c[..., 1])
    mag = z.abs()
    return z * (mag.clamp_min(1e-8) ** (1 / POWER - 1))


def stft16(x: torch.Tensor) -> torch.Tensor:
    """``[..., n]`` at 16 kHz -> complex ``[..., 256, frames]`` (Nyquist bin dropped; the 2.5D code's STFT)."""
    shape = x.shape[:-1]
    z = torch.stft(x.reshape(-1, x.shape[-1]).float(), N_FFT, HOP, WIN, torch.hann_window(WIN, device=x.device),
                   center=True, return_complex=True)
    return z[:, :-1].reshape(*shape, N_FFT // 2, -1)


def istft16(z: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of :func:`stft16` (Nyquist bin set to zero)."""
    shape = z.shape[:-2]
    z = F.pad(z.reshape(-1, *z.shape[-2:]), (0, 0, 0, 1))
    y = torch.istft(z, N_FFT, HOP, WIN, torch.hann_window(WIN, device=z.device), center=True, length=length)
    return y.reshape(*shape, length)


def _time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    f = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    a = t.float()[:, None] * 1000.0 * f[None]
    return torch.cat([a.sin(), a.cos()], dim=1)


class _Block(nn.Module):
    """Residual dilated 1-D convolution over time with time-FiLM."""

    def __init__(self, ch: int, temb: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(ch, ch, 1)
        self.film = nn.Linear(temb, 2 * ch)

    def forward(self, x, e):
        g, b = self.film(e)[:, :, None].chunk(2, dim=1)
        h = F.gelu(self.conv(x))
        return x + self.mix(F.gelu(h * (1 + g) + b))


@register("flow")
class FlowBinaural(nn.Module):
    """Endpoint network: x_t ``[B, 2, 256, T]`` + t ``[B]`` + condition ``[B, 4, 256, T]`` (compressed mono and
    DSP difference, re/im) -> x^_1 ``[B, 2, 256, T]`` (the residual it expects at t = 1). Frequency bins and re/im are channels (every frame sees
    the whole spectrum); residual dilated 1-D convolutions over time (receptive field ~0.6 s at the defaults) with
    the flow time entering every block by FiLM. Cheap enough to train on a CPU.

    Args: hidden: channels; blocks: residual blocks (dilations 1, 2, 4, ... cycling to 16); window_s: training
    window (s)."""

    def __init__(self, hidden: int = 256, blocks: int = 6, window_s: float = 0.63):
        super().__init__()
        self.init_args = dict(hidden=hidden, blocks=blocks, window_s=window_s)
        self.use_visual, self.trunk = False, None
        self.window_samples = int(round(window_s * SR))
        te = 128
        self.temb = nn.Sequential(nn.Linear(64, te), nn.SiLU(), nn.Linear(te, te))
        self.inp = nn.Conv1d(6 * (N_FFT // 2), hidden, 1)
        self.blocks = nn.ModuleList(_Block(hidden, te, 2 ** (i % 5)) for i in range(blocks))
        self.out = nn.Conv1d(hidden, 2 * (N_FFT // 2), 1)
        nn.init.zeros_(self.out.weight)  # an untrained model predicts no residual: the DSP rendering
        nn.init.zeros_(self.out.bias)

    def forward(self, xt: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        b, _, f, n = xt.shape
        e = self.temb(_time_embedding(t, 64))
        h = self.inp(torch.cat([xt, cond], dim=1).reshape(b, -1, n))
        for blk in self.blocks:
            h = blk(h, e)
        return self.out(h).reshape(b, 2, f, n)


def condition(mono16: torch.Tensor, dsp16: torch.Tensor) -> torch.Tensor:
    """Mono ``[B, n]`` and DSP binaural ``[B, 2, n]`` (16 kHz) -> condition ``[B, 4, 256, T]`` (compressed M, D_dsp)."""
    m = compress(stft16(mono16)).permute(0, 3, 1, 2)
    d = compress(stft16(dsp16[:, 0] - dsp16[:, 1])).permute(0, 3, 1, 2)
    return torch.cat([m, d], dim=1)


@torch.no_grad()
def sample(model: FlowBinaural, cond: torch.Tensor, steps: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Euler integration of the learned flow from noise: condition ``[B, 4, F, T]`` -> residual ``[B, 2, F, T]``.
    Velocity from the predicted endpoint: v = (x^_1 - x_t) / (1 - t); the last step lands on x^_1."""
    x = torch.randn(cond.shape[0], 2, *cond.shape[2:], generator=generator, device=cond.device)
    steps = max(1, int(steps))
    for i in range(steps):
        t = torch.full((cond.shape[0],), i / steps, device=cond.device)
        x = x + (model(x, t, cond) - x) / (steps - i)  # dt * v = (1 / steps) * (x^_1 - x) / (1 - i / steps)
    return x


def difference_from_residual(residual: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Residual ``[B, 2, F, T]`` + condition -> complex D ``[B, F, T]`` = decompress(c(D_dsp) + residual)."""
    return decompress((cond[:, 2:4] + residual).permute(0, 2, 3, 1))


class FlowSpatializer:
    """A trained :class:`FlowBinaural` + the DSP renderer: mono at any rate + tracks -> binaural at the same rate.

    The DSP renderer renders the mono along the tracks (full rate); below 8 kHz its difference L - R is replaced by
    the generated one (16 kHz, processed in chunks of ``chunk_s`` seconds with a linear cross-fade); the output is
    L = x + D / 2, R = x - D / 2, so (L + R) / 2 is the input exactly. ``steps``: Euler steps; ``seed``: noise seed."""

    uses_tracks = True
    how = "flow matching generates L-R below 8 kHz from the mono and the DSP rendering along the tracks"
    full_band = ("generated L-R below 7.6 kHz (below 0.45 x the rate under 16 kHz), the DSP rendering's own L-R above; "
                 "L + R = 2 x input")

    def __init__(self, model: FlowBinaural, renderer_factory, steps: int = 4, device: str = "cpu", seed: int = 0,
                 chunk_s: float = 5.12, path=None, meta: dict | None = None):
        self.model, self.make_renderer, self.steps, self.device, self.seed = model.eval(), renderer_factory, steps, device, seed
        self.chunk_s, self.path, self.meta, self.hop_s = chunk_s, path, meta or {"model": "flow", "args": model.init_args}, None
        self.uses_visual = False

    def difference16(self, mono16: np.ndarray, dsp16: np.ndarray) -> np.ndarray:
        """Mono ``[n]`` and DSP binaural ``[2, n]`` at 16 kHz -> generated D = L - R ``[n]`` at 16 kHz."""
        from ..data.datasets import rms_scale

        n = len(mono16)
        chunk = int(self.chunk_s * SR)
        fade = int(0.16 * SR)
        out = np.zeros(n)
        wsum = np.zeros(n)
        g = torch.Generator().manual_seed(self.seed)
        start = 0
        while start < n:
            stop = min(n, start + chunk)
            m = mono16[start:stop]
            s = rms_scale(m) if np.any(m) else 1.0
            length = stop - start
            pad = 0
            mt = torch.from_numpy(np.pad(m * s, (0, pad)).astype(np.float32))[None].to(self.device)
            dt = torch.from_numpy(np.pad(dsp16[:, start:stop] * s, ((0, 0), (0, pad))).astype(np.float32))[None].to(self.device)
            cond = condition(2 * mt, dt)
            r = sample(self.model, cond, self.steps, g)
            d = istft16(difference_from_residual(r, cond), mt.shape[-1])[0, :length].cpu().numpy() / s
            w = np.ones(length)
            if start > 0:
                w[:fade] = np.linspace(0, 1, min(fade, length))[: length]
            if stop < n:
                w[-fade:] = np.minimum(w[-fade:], np.linspace(1, 0, fade))
            out[start:stop] += w * d
            wsum[start:stop] += w
            if stop == n:
                break
            start = stop - fade
        return out / np.maximum(wsum, 1e-9)

    def render(self, mono: np.ndarray, sr: int, tracks: list, t60=None, feature_at=None) -> np.ndarray:
        """Mono ``[T]`` + tracks -> binaural ``[2, T]``."""
        import soxr
        from scipy.signal import butter, sosfiltfilt

        from ..tracks import SourceTrack

        x = np.asarray(mono, float).reshape(-1)
        dsp = self.make_renderer(sr).render(x, tracks or [SourceTrack.static(0.0, name="front")], t60=t60)
        x16 = soxr.resample(x, sr, SR, quality="HQ") if sr != SR else x
        d16 = soxr.resample(dsp.T, sr, SR, quality="HQ").T if sr != SR else dsp
        d = self.difference16(x16, d16)
        if sr != SR:
            d = soxr.resample(d, SR, sr, quality="HQ")[: len(x)]
            d = np.pad(d, (0, len(x) - len(d)))
            # above the model's band (7.6 kHz; at a rate below 16 kHz, the top 10% the resampling round trip
            # loses) the renderer's difference takes over
            fc = 7600.0 if sr > SR else 0.45 * sr
            hi = sosfiltfilt(butter(8, fc, "highpass", fs=sr, output="sos"), dsp[0] - dsp[1])
            lo = sosfiltfilt(butter(8, fc, "lowpass", fs=sr, output="sos"), d)
            d = lo + hi
        return np.stack([x + d / 2, x - d / 2])
