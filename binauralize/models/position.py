"""Position-conditioned source masks (after Okano et al. 2025), deterministic variant (a): one mask per source.

The mono is taken apart before it is placed: a network over the mono's log-magnitude STFT, conditioned on one token
per source (its direction and distance over time as Fourier features, as in the authors' DiffBinaural code:
azimuth as sin/cos of k * azimuth for k = 1..n_freq, elevation likewise, log distance; a presence mask; an optional
visual embedding of its image crop and class), predicts a real mask per source plus one for the residual (what no
source explains), softmax-normalised over sources, so the masks sum to one and the separated parts sum to the mono.
Each separated source is then rendered by the DSP renderer along its own track (any SOFA HRTF, any sample rate);
the residual is rendered in front. Conditioning is FiLM (per-frame scale and shift of the audio features from the
token): it costs one decoder pass per source and, because every source goes through the same weights and the
normalisation is symmetric, permuting the sources permutes the masks and leaves the output unchanged.

Status (issue 7): network, conditioning, rendering and their tests are here; training data (per-source stems in
the cache), training runs, shipped weights and the generative variant are not yet.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .registry import register

N_FFT, HOP, WIN, SR = 512, 160, 400, 16000


def fourier_direction(az_deg: np.ndarray, el_deg: np.ndarray, dist_m: np.ndarray, n_freq: int = 4) -> np.ndarray:
    """Directions ``[...]`` -> features ``[..., 4 * n_freq + 1]``: sin/cos(k az), sin/cos(k el) (k = 1..n_freq),
    log(distance / 2 m)."""
    az, el = np.deg2rad(np.asarray(az_deg, float)), np.deg2rad(np.asarray(el_deg, float))
    k = np.arange(1, n_freq + 1)
    parts = [np.sin(az[..., None] * k), np.cos(az[..., None] * k), np.sin(el[..., None] * k),
             np.cos(el[..., None] * k), np.log(np.maximum(np.asarray(dist_m, float), 0.1) / 2.0)[..., None]]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def source_tokens(tracks: list, times: np.ndarray, n_freq: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Tracks -> (tokens ``[K, N, 4 n_freq + 1]``, presence ``[K, N]`` in [0, 1]) at frame times ``times`` (s)."""
    if not tracks:
        return np.zeros((0, len(times), 4 * n_freq + 1), np.float32), np.zeros((0, len(times)), np.float32)
    toks, pres = [], []
    for t in tracks:
        az, el, dist, w = t.at(times)
        toks.append(fourier_direction(az, el, dist, n_freq))
        pres.append(np.clip(w, 0, 1).astype(np.float32))
    return np.stack(toks), np.stack(pres)


@register("position")
class PositionMasker(nn.Module):
    """Mono log-magnitude ``[B, F, T]`` + tokens ``[B, K, T, D]`` + presence ``[B, K, T]`` -> masks ``[B, K + 1, F, T]``
    (sources first, the residual last; they sum to 1).

    Args: hidden: channels; n_freq: Fourier frequencies of the direction encoding; extra_dim: size of optional
    per-source features appended to the token (visual embedding, class one-hot); 0 = positions only.
    """

    def __init__(self, hidden: int = 32, n_freq: int = 4, extra_dim: int = 0, n_bins: int = N_FFT // 2 + 1):
        super().__init__()
        self.init_args = dict(hidden=hidden, n_freq=n_freq, extra_dim=extra_dim, n_bins=n_bins)
        self.n_freq, self.extra_dim = n_freq, extra_dim
        d = 4 * n_freq + 1 + extra_dim
        self.encoder = nn.Sequential(nn.Conv1d(n_bins, hidden * 4, 3, padding=1), nn.GELU(),
                                     nn.Conv1d(hidden * 4, hidden * 4, 3, padding=2, dilation=2), nn.GELU())
        self.film = nn.Sequential(nn.Linear(d + 1, hidden * 2), nn.GELU(), nn.Linear(hidden * 2, hidden * 8))
        self.decoder = nn.Sequential(nn.Conv1d(hidden * 4, hidden * 4, 3, padding=4, dilation=4), nn.GELU(),
                                     nn.Conv1d(hidden * 4, n_bins, 1))
        self.residual_logit = nn.Parameter(torch.zeros(1))

    def forward(self, logmag: torch.Tensor, tokens: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
        b, f, t = logmag.shape
        k = tokens.shape[1]
        h = self.encoder(logmag)                                            # [B, C, T]
        if k == 0:
            return torch.ones(b, 1, f, t, device=logmag.device, dtype=logmag.dtype)
        cond = self.film(torch.cat([tokens, presence[..., None]], dim=-1))  # [B, K, T, 2C]
        gamma, beta = cond.chunk(2, dim=-1)
        hk = h[:, None] * (1 + gamma.transpose(2, 3)) + beta.transpose(2, 3)  # [B, K, C, T]
        logits = self.decoder(hk.reshape(b * k, -1, t)).reshape(b, k, f, t)
        logits = logits.masked_fill(presence[:, :, None, :] <= 0, -1e4)      # absent sources take nothing
        res = self.residual_logit.expand(b, 1, f, t)
        return torch.softmax(torch.cat([logits, res], dim=1), dim=1)


class PositionSpatializer:
    """A :class:`PositionMasker` + the DSP renderer: mono at any rate + tracks -> binaural at the same rate.

    The masks (16 kHz, 10-ms frames) are interpolated to the input's STFT grid (frequencies above 8 kHz take the
    top bin's mask), applied to the full-rate mono, and each part is rendered along its track."""

    def __init__(self, model: PositionMasker, renderer_factory, device: str = "cpu"):
        self.model, self.make_renderer, self.device = model.eval(), renderer_factory, device

    def masks(self, mono16: np.ndarray, tracks: list) -> tuple[np.ndarray, np.ndarray]:
        """-> (masks ``[K + 1, F, N]`` at 16 kHz, frame times ``[N]`` s)."""
        from scipy.signal import stft as sp_stft

        _, tt, z = sp_stft(mono16, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)
        logmag = np.log(np.abs(z) + 1e-5).astype(np.float32)
        tok, pres = source_tokens(tracks, tt, self.model.n_freq)
        with torch.inference_mode():
            m = self.model(torch.from_numpy(logmag)[None], torch.from_numpy(tok)[None], torch.from_numpy(pres)[None])
        return m[0].cpu().numpy(), tt

    def separate(self, mono: np.ndarray, sr: int, tracks: list) -> np.ndarray:
        """Mono ``[T]`` at ``sr`` -> parts ``[K + 1, T]`` (sources, then the residual) that sum to the mono."""
        import soxr
        from scipy.signal import istft as sp_istft
        from scipy.signal import stft as sp_stft

        x = np.asarray(mono, float).reshape(-1)
        m16 = soxr.resample(x, sr, SR, quality="HQ") if sr != SR else x
        masks, tt = self.masks(m16, tracks)
        nper = int(round(WIN * sr / SR))
        hop = int(round(HOP * sr / SR))
        nfft = int(2 ** np.ceil(np.log2(nper)))
        f, t, z = sp_stft(x, sr, "hann", nper, nper - hop, nfft, boundary="even", padded=True)
        f16 = np.fft.rfftfreq(N_FFT, 1 / SR)
        parts = []
        for mk in masks:
            mf = np.stack([np.interp(f, f16, mk[:, j]) for j in range(mk.shape[1])], axis=1)  # [F, N16]
            mt = np.stack([np.interp(t, tt, mf[i]) for i in range(len(f))])                   # [F, N]
            _, y = sp_istft(z * mt, sr, "hann", nper, nper - hop, nfft, boundary=True)
            parts.append(np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)])
        parts = np.stack(parts)
        parts[-1] += x - parts.sum(axis=0)  # STFT round-off goes to the residual: the parts sum to the mono
        return parts

    def render(self, mono: np.ndarray, sr: int, tracks: list, t60=None) -> np.ndarray:
        """Mono ``[T]`` + tracks -> binaural ``[2, T]``. No tracks: the whole mono in front (DSP renderer)."""
        from ..tracks import SourceTrack

        renderer = self.make_renderer(sr)
        x = np.asarray(mono, float).reshape(-1)
        if not tracks:
            return renderer.render(x, [SourceTrack.static(0.0, name="front")], t60=t60)
        parts = self.separate(x, sr, tracks)
        out = renderer.render(parts[-1], [SourceTrack.static(0.0, name="residual")], t60=t60)
        for p, tr in zip(parts[:-1], tracks):
            out = out + renderer.render(p, [tr], t60=t60)
        return out
