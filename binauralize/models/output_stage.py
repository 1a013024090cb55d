"""A learned output stage for a mask model: complex gains per time-frequency bin on the output's sum and
difference, trained on the model's outputs with the papers' objective (complex L2 on the STFT; Gao & Grauman 2019,
eq. 1), so the rendered mixture moves toward what the recording head heard (option (b) of issue 7 on top of (a)).

    S_out = (a(f) + dA(f, t)) S,   D_out = (c(f) + dC(f, t)) D     (S = L+R, D = L-R of the mask model's output)

``a``, ``c``: the closed-form per-frequency least-squares gains on the training outputs; ``dA``, ``dC``: a small
dilated convolutional network over log |S|, log |D|, log |M| (M the input mono), the phase of D relative to S and the
frequency; its last layer starts at zero, so an untrained stage is the linear filter. With ``keep_sum`` (the shipped
stage) S passes unchanged (a = 1, dA = 0) and only the interaural difference is corrected, as Mono2Binaural corrects
only D: a least-squares gain on S shrinks whatever the input does not predict in phase, and with a camera
microphone's mono that is everything above ~2 kHz (the first stage learned |a| = 0.05 at 4 kHz: muffled output).
The network works on the metric's 16-kHz STFT (512 points, hop 160 = 10 ms, 400-sample Hann); the gains are applied
to the output at its own rate on an STFT with the same time step and frequency spacing; above the band the stage was
trained on (7.5 kHz, where the 16-kHz resampler rolls off) they fade to 1 (over 7-7.5 kHz), so the rest of the band is
the mask model's own; the output's overall level is kept (the stage changes interaural difference and, without
``keep_sum``, spectral balance; not loudness).
"""
from __future__ import annotations

import numpy as np

from .registry import register

N_FFT, HOP, WIN, SR = 512, 160, 400, 16000
TRAINED_BAND_HZ = (7000.0, 7500.0)  # gains fade to 1 between these (the 16-kHz resampler's roll-off at 7.58 kHz)
BLOCK_FRAMES = 6000  # 60 s of 10-ms frames per pass (memory bounded on long clips), with CONTEXT frames each side
CONTEXT = 64


def _torch():
    import torch

    return torch


def stft16(x, torch):
    """``librosa.stft(x, 512, 160, 400, 'hann', center=True)`` in torch: ``[..., T]`` -> ``[..., 257, L]``."""
    w = torch.hann_window(WIN, periodic=True, dtype=x.dtype, device=x.device)
    shp = x.shape
    X = torch.stft(x.reshape(-1, shp[-1]), N_FFT, HOP, WIN, w, center=True, pad_mode="reflect", return_complex=True)
    return X.reshape(*shp[:-1], *X.shape[-2:])


def _build():
    torch = _torch()
    nn = torch.nn

    @register("output-stage")
    class OutputStage(nn.Module):
        """Complex gains for S and D around per-frequency ones. ``channels``: width of the network; ``keep_sum``:
        S passes unchanged (gain 1), only D is corrected."""

        def __init__(self, channels: int = 16, keep_sum: bool = False):
            super().__init__()
            self.init_args = {"channels": channels, "keep_sum": bool(keep_sum)}
            self.keep_sum = bool(keep_sum)
            F = N_FFT // 2 + 1
            self.register_buffer("a", torch.tensor([[1.0, 0.0]] * F))  # view_as_real of the per-frequency gains
            self.register_buffer("c", torch.tensor([[1.0, 0.0]] * F))
            layers = [nn.Conv2d(6, channels, 3, padding=1), nn.GELU()]
            for d in (1, 2, 4, 8):
                layers += [nn.Conv2d(channels, channels, 3, padding=(1, d), dilation=(1, d)), nn.GELU()]
            self.body = nn.Sequential(*layers)
            self.head = nn.Conv2d(channels, 2 if self.keep_sum else 4, 1)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

        def set_linear(self, a: np.ndarray, c: np.ndarray) -> None:
            """The per-frequency complex gains ``[257]`` for S and D (closed-form least squares)."""
            self.a.copy_(torch.view_as_real(torch.as_tensor(np.asarray(a), dtype=torch.complex64)))
            self.c.copy_(torch.view_as_real(torch.as_tensor(np.asarray(c), dtype=torch.complex64)))

        def gains(self, S, D, M):
            """``[B, 257, L]`` complex STFTs (16 kHz) -> complex gains ``(gS, gD)`` of the same shape."""
            eps = 1e-5
            rel = D * S.conj()
            rel = rel / (rel.abs() + eps)
            F, L = S.shape[-2:]
            freq = torch.linspace(-1, 1, F, device=S.device)[:, None].expand(F, L).expand_as(rel.real)
            x = torch.stack([torch.log(S.abs() + eps), torch.log(D.abs() + eps), torch.log(M.abs() + eps),
                             rel.real, rel.imag, freq], dim=1)
            g = self.head(self.body(x))
            gd = torch.view_as_complex(self.c.contiguous())[:, None] + torch.complex(g[:, -2], g[:, -1])
            if self.keep_sum:
                return torch.ones_like(S), gd
            gs = torch.view_as_complex(self.a.contiguous())[:, None] + torch.complex(g[:, 0], g[:, 1])
            return gs, gd

        def forward(self, S, D, M):
            gs, gd = self.gains(S, D, M)
            return gs * S, gd * D

    return OutputStage


OutputStage = _build()


def stage_gains(stage, binaural: np.ndarray, mono: np.ndarray, sr: float) -> tuple[np.ndarray, np.ndarray]:
    """The stage's gains for one output: ``binaural`` ``[2, T]`` and its input ``mono`` ``[T]`` at ``sr`` ->
    complex ``(gS, gD)`` ``[257, L16]`` on the 16-kHz STFT grid (frames every 10 ms). Both signals are resampled
    to 16 kHz and peak-normalised as in training; long clips run in 60-s blocks with 0.64 s of context each side."""
    from ..metrics.signal import peak_normalize, resample_like_librosa

    torch = _torch()
    p = peak_normalize(resample_like_librosa(np.asarray(binaural, np.float32), sr))
    m = peak_normalize(resample_like_librosa(np.asarray(mono, np.float32)[None], sr))[0]
    n = min(p.shape[-1], len(m))
    p, m = torch.as_tensor(p[:, :n]), torch.as_tensor(m[:n])
    S, D, M = stft16(p[0] + p[1], torch), stft16(p[0] - p[1], torch), stft16(m, torch)
    L = S.shape[-1]
    gs, gd = np.empty(S.shape, np.complex64), np.empty(S.shape, np.complex64)
    with torch.no_grad():
        for s in range(0, L, BLOCK_FRAMES):
            lo, hi = max(0, s - CONTEXT), min(L, s + BLOCK_FRAMES + CONTEXT)
            a, b = stage.gains(S[None, :, lo:hi], D[None, :, lo:hi], M[None, :, lo:hi])
            e = min(L, s + BLOCK_FRAMES)
            gs[:, s:e], gd[:, s:e] = a[0, :, s - lo:e - lo].numpy(), b[0, :, s - lo:e - lo].numpy()
    return gs, gd


def apply_stage(stage, binaural: np.ndarray, mono: np.ndarray, sr: float) -> np.ndarray:
    """The stage on a mask model's output ``[2, T]`` (its input ``mono`` ``[T]``) at any rate ``sr`` -> ``[2, T]``,
    full band, the same overall level (RMS) as ``binaural``."""
    from scipy.signal import istft, stft

    gs16, gd16 = stage_gains(stage, binaural, mono, sr)
    x = np.asarray(binaural, np.float64)
    T = x.shape[-1]
    hop = max(1, int(round(HOP * sr / SR)))
    win = max(2, int(round(WIN * sr / SR)))
    nfft = max(win, int(round(N_FFT * sr / SR)))
    kw = dict(fs=sr, window="hann", nperseg=win, noverlap=win - hop, nfft=nfft, boundary="even", padded=True)
    f, _, S = stft(x[0] + x[1], **kw)
    _, _, D = stft(x[0] - x[1], **kw)
    f16 = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    L = S.shape[-1]

    # linear interpolation over frequency is the same for every frame: one matrix [F_out, 257]; the gains fade to 1
    # (the mask model's output unchanged) above the band the stage was trained on
    interp = np.stack([np.interp(f, f16, e) for e in np.eye(len(f16))], axis=1).astype(np.float32)
    lo, hi = TRAINED_BAND_HZ
    w = np.clip((hi - f) / (hi - lo), 0.0, 1.0).astype(np.float32)[:, None]  # 1 in the band, 0 above it

    def on_grid(g16):  # 16-kHz grid -> this STFT's frequencies and frames (the last frame's gains held at the end)
        g = w * (interp @ g16) + (1 - w)
        if g.shape[1] < L:
            g = np.concatenate([g, np.repeat(g[:, -1:], L - g.shape[1], axis=1)], axis=1)
        return g[:, :L]

    ikw = {k: v for k, v in kw.items() if k not in ("boundary", "padded")}
    _, s_out = istft(on_grid(gs16) * S, **ikw)
    _, d_out = istft(on_grid(gd16) * D, **ikw)
    s_out, d_out = np.pad(s_out, (0, max(0, T - len(s_out))))[:T], np.pad(d_out, (0, max(0, T - len(d_out))))[:T]
    y = np.stack([(s_out + d_out) / 2, (s_out - d_out) / 2])
    rms_in, rms_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    return (y * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


class StagedSpatializer:
    """A mask model's spatializer followed by its learned output stage: everything (tracks, frames, classes) is the
    inner model's; ``render`` passes the inner output through :func:`apply_stage`. With one source the output is
    the DSP renderer's through the stage (the mask model's own one-source identity holds before the stage)."""

    def __init__(self, inner, stage, path=None, meta: dict | None = None):
        self.inner, self.stage, self.path, self.meta = inner, stage, path, meta or {}
        self.label = f"{getattr(inner, 'label', 'mask model')} + output stage"
        self.how = (getattr(inner, "how", "") + "; a learned output stage then corrects the spectral balance and "
                    "interaural difference of the mixture").lstrip("; ")

    _OWN = ("inner", "stage", "path", "meta", "label", "how")

    def __getattr__(self, name):  # uses_tracks, uses_visual, features_from_frames, ...: the inner model's
        return getattr(self.__dict__["inner"], name)

    def __setattr__(self, name, value):  # e.g. the camera's fov set by the tool: on the inner model
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def render(self, mono, sample_rate, tracks, *args, **kwargs):
        out = self.inner.render(mono, sample_rate, tracks, *args, **kwargs)
        return apply_stage(self.stage, out, np.asarray(mono, np.float32), sample_rate)

    def render_iter(self, mono, sample_rate, tracks, *args, **kwargs):
        """:meth:`render` as one piece (the stage works on the whole output; the inner model's pieces would skip
        it)."""
        yield self.render(mono, sample_rate, tracks, *args, **kwargs)
