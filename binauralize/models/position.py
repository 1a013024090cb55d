"""Position-conditioned source masks (after Okano et al. 2025), deterministic variant (a): one mask per source.

The mono is taken apart before it is placed: a network over the mono's log-magnitude STFT, conditioned on one token
per source (its direction and distance over time as Fourier features, as in the authors' DiffBinaural code:
azimuth as sin/cos of k * azimuth for k = 1..n_freq, elevation likewise, log distance; a presence mask; an optional
visual embedding of its image crop: the frozen trunk's feature map sampled where the source projects, plus an
on-screen flag), predicts a real mask per source plus one for the residual (what no source explains),
softmax-normalised over sources, so the masks sum to one and the separated parts sum to the mono. Each separated
source is then rendered by the DSP renderer along its own track (any SOFA HRTF, any sample rate); the residual is
rendered as the DSP renderer renders an unseparated mono (along all the tracks), so with one source the output is
exactly the DSP renderer's whatever the masks, and a model that separates nothing falls back to the DSP renderer. Conditioning is FiLM (per-frame scale and shift of the audio features from the
token): it costs one decoder pass per source and, because every source goes through the same weights and the
normalisation is symmetric, permuting the sources permutes the masks and leaves the output unchanged.

Why FiLM rather than cross-attention: every source needs its own mask anyway (one decoder pass per source), the
conditioning is a handful of numbers per frame, and FiLM keeps the cost linear in the number of sources and the
model permutation-equivariant without positional tricks.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ..dsp.masking import HOP, N_FFT, SR, WIN, _linear_weights, apply_masks_full_rate, iter_masked_full_rate  # noqa: F401
from .registry import register
from .spatializer import TrunkFeatures
RECEPTIVE_FRAMES = 16  # one side of the "conv" PositionMasker's receptive field in STFT frames (1+2+8, then 4+1)


class _ChannelNorm(nn.Module):
    """Layer norm over channels, frame by frame (``[B, C, T]``): no statistic spans time, so a clip processed in
    pieces gives the same activations as one pass."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class _Block(nn.Module):
    """Residual dilated temporal block (Conv-TasNet, Luo & Mesgarani 2019, Fig. 1C): norm -> 1x1 conv -> GELU ->
    depthwise 3-tap dilated conv -> GELU -> [FiLM] -> 1x1 conv, added to the input. ``[B, C, T]`` -> ``[B, C, T]``;
    receptive field +-dilation frames."""

    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.norm = _ChannelNorm(c)
        self.inp = nn.Conv1d(c, c, 1)
        self.conv = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation, groups=c)
        self.out = nn.Conv1d(c, c, 1)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor | None = None, beta: torch.Tensor | None = None):
        y = nn.functional.gelu(self.conv(nn.functional.gelu(self.inp(self.norm(x)))))
        if gamma is not None:
            y = y * (1 + gamma) + beta
        return x + self.out(y)


def fourier_direction(az_deg: np.ndarray, el_deg: np.ndarray, dist_m: np.ndarray, n_freq: int = 4) -> np.ndarray:
    """Directions ``[...]`` -> features ``[..., 4 * n_freq + 1]``: sin/cos(k az), sin/cos(k el) (k = 1..n_freq),
    log(distance / 2 m)."""
    az, el = np.deg2rad(np.asarray(az_deg, float)), np.deg2rad(np.asarray(el_deg, float))
    k = np.arange(1, n_freq + 1)
    parts = [np.sin(az[..., None] * k), np.cos(az[..., None] * k), np.sin(el[..., None] * k),
             np.cos(el[..., None] * k), np.log(np.maximum(np.asarray(dist_m, float), 0.1) / 2.0)[..., None]]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def crop_embedding(fmap: np.ndarray | None, az_deg: float, el_deg: float, fov_deg: float, width: int = 320,
                   height: int = 180) -> np.ndarray:
    """A source's visual embedding ``[C + 1]``: the trunk feature map ``[C, h, w]`` of a ``width x height`` frame
    sampled bilinearly where the direction (az, el) projects (pinhole camera, horizontal field of view ``fov_deg``),
    then an on-screen flag (1); zeros and flag 0 when the source is off screen or there is no map."""
    from ..dsp.geometry import direction_to_pixel

    if fmap is None:
        return np.zeros(1, np.float32)
    c, h, w = fmap.shape
    out = np.zeros(c + 1, np.float32)
    try:
        x, y = direction_to_pixel(float(az_deg), float(el_deg), width, height, fov_deg)
    except ValueError:  # behind the camera
        return out
    if not (0 <= x <= width and 0 <= y <= height):
        return out
    fx, fy = np.clip(x / width * w - 0.5, 0, w - 1), np.clip(y / height * h - 0.5, 0, h - 1)
    x0, y0 = int(np.floor(fx)), int(np.floor(fy))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    ax, ay = fx - x0, fy - y0
    f = np.asarray(fmap, np.float32)
    out[:c] = ((1 - ay) * ((1 - ax) * f[:, y0, x0] + ax * f[:, y0, x1]) + ay * ((1 - ax) * f[:, y1, x0] + ax * f[:, y1, x1]))
    out[c] = 1.0
    return out


def source_tokens(tracks: list, times: np.ndarray, n_freq: int = 4, feature_at=None, fov_deg: float | None = None,
                  visual_dim: int = 0, frame_size: tuple[int, int] = (320, 180),
                  known=None) -> tuple[np.ndarray, np.ndarray]:
    """Tracks -> (tokens ``[K, N, 4 n_freq + 1 + visual_dim]``, presence ``[K, N]`` in [0, 1]) at frame times
    ``times`` (s). With ``visual_dim`` > 0, each token ends with the source's :func:`crop_embedding` from
    ``feature_at(t)`` (t -> trunk map ``[C, h, w]`` of the nearest frame, or None). ``known``: embedding -> bool
    (a :class:`~binauralize.models.crop_bank.CropBank`'s ``known``); a crop it rejects is given as not seen (the
    off-screen embedding), so a picture unlike the training pictures cannot steer the separation."""
    d = 4 * n_freq + 1 + visual_dim
    if not tracks:
        return np.zeros((0, len(times), d), np.float32), np.zeros((0, len(times)), np.float32)
    toks, pres = [], []
    runs = []  # (first, end) frame ranges that share one feature map (the nearest video frame)
    if visual_dim and feature_at is not None:
        maps = [feature_at(t) for t in times]
        keys = [None if m is None else (m.__array_interface__["data"][0] if isinstance(m, np.ndarray) else id(m))
                for m in maps]  # the same frame's map (views of one array share their data pointer)
        first = 0
        for i in range(1, len(maps) + 1):
            if i == len(maps) or keys[i] != keys[first]:
                runs.append((first, i, maps[first]))
                first = i
    for t in tracks:
        az, el, dist, w = t.at(times)
        tok = fourier_direction(az, el, dist, n_freq)
        if visual_dim:
            vis = np.zeros((len(times), visual_dim), np.float32)
            for a, b, m in runs:  # one crop per frame map, where the source is at the run's middle (as in training:
                c = (a + b - 1) // 2  # one crop per window)
                e = crop_embedding(m, az[c], el[c], fov_deg or 60.0, *frame_size)
                if known is not None and e[-1] > 0 and not known(e[:-1]):
                    e = np.zeros_like(e)  # unlike every training picture: as if not seen
                vis[a:b, : len(e)] = e[:visual_dim]
            tok = np.concatenate([tok, vis], axis=-1)
        toks.append(tok)
        pres.append(np.clip(w, 0, 1).astype(np.float32))
    return np.stack(toks), np.stack(pres)


@register("position")
class PositionMasker(nn.Module):
    """Mono log-magnitude ``[B, F, T]`` + tokens ``[B, K, T, D]`` + presence ``[B, K, T]`` -> masks ``[B, K + 1, F, T]``
    (sources first, the residual last; they sum to 1).

    Args: hidden: channels; n_freq: Fourier frequencies of the direction encoding; extra_dim: size of the
    per-source visual embedding appended to the token (:func:`crop_embedding`: trunk channels + 1); 0 = positions
    only; trunk: the frozen image trunk the embedding comes from (recorded in the checkpoint); arch: "conv" (the
    first shipped net: 3 encoder convs, FiLM once, 2 decoder convs; +-16 frames of context) or "tcn" (residual
    dilated blocks, ``blocks`` shared ones over the mono, then ``blocks`` per source with FiLM in every one;
    dilations 1, 2, 4, ... so each stack sees +-(2^blocks - 1) frames); classes, atoms, nmf_iters: with classes,
    the network refines the masks of a class-conditioned NMF separator (``--model position-nmf``): its
    dictionaries ``[classes, atoms, F]`` (and crop classifier) are buffers, each token ends with the source's class
    one-hot, ``forward`` takes the NMF masks as ``prior`` and the output starts from them (a zero-initialised last
    layer: untrained, the model returns the prior).
    """

    full_precision = ("nmf_", "clf_")  # buffers a half-precision checkpoint keeps in float32

    def __init__(self, hidden: int = 32, n_freq: int = 4, extra_dim: int = 0, n_bins: int = N_FFT // 2 + 1,
                 trunk: str = "efficientnet-lite0", arch: str = "conv", blocks: int = 4,
                 classes: list | None = None, atoms: int = 12, nmf_iters: int = 100, nmf_context: int = 0):
        super().__init__()
        if arch not in ("conv", "tcn"):
            from ..errors import InputError

            raise InputError(f'[model] arch must be "conv" or "tcn", not {arch!r}')
        self.init_args = dict(hidden=hidden, n_freq=n_freq, extra_dim=extra_dim, n_bins=n_bins, trunk=trunk)
        if arch != "conv":  # the first shipped weights' args stay as they were
            self.init_args.update(arch=arch, blocks=blocks)
        self.classes = list(classes or [])
        if self.classes:  # class-NMF prior (position-nmf): its dictionaries and crop classifier travel as buffers
            self.init_args.update(classes=self.classes, atoms=atoms, nmf_iters=nmf_iters)
            if nmf_context:  # atoms over stacked frames (the shipped weights' args stay as they were)
                self.init_args.update(nmf_context=nmf_context)
            k = len(self.classes)
            self.register_buffer("nmf_dictionaries", torch.zeros(k, atoms, (2 * nmf_context + 1) * n_bins))
            if extra_dim > 1:
                self.register_buffer("clf_weight", torch.zeros(k, extra_dim - 1))
                self.register_buffer("clf_bias", torch.zeros(k))
                self.register_buffer("clf_mean", torch.zeros(extra_dim - 1))
                self.register_buffer("clf_std", torch.ones(extra_dim - 1))
        self.nmf_iters, self.nmf_context = nmf_iters, nmf_context
        self.n_freq, self.extra_dim, self.trunk, self.arch = n_freq, extra_dim, trunk, arch
        self.use_visual = extra_dim > 0
        d = 4 * n_freq + 1 + extra_dim + len(self.classes)  # tokens end with the class, one-hot (zeros: unknown)
        self.residual_logit = nn.Parameter(torch.zeros(1))
        if arch == "tcn":
            c = hidden * 4
            self.inp = nn.Conv1d(n_bins, c, 1)
            self.shared = nn.ModuleList(_Block(c, 2 ** i) for i in range(blocks))
            self.per_source = nn.ModuleList(_Block(c, 2 ** i) for i in range(blocks))
            self.film = nn.Sequential(nn.Linear(d + 1, hidden * 4), nn.GELU(), nn.Linear(hidden * 4, 2 * c * blocks))
            self.head = nn.Sequential(_ChannelNorm(c), nn.Conv1d(c, n_bins, 1))
            self.receptive_frames = 2 * (2 ** blocks - 1)
            self._prior_layers(c, n_bins, self.head[-1])
            return
        self.receptive_frames = RECEPTIVE_FRAMES
        self.encoder = nn.Sequential(nn.Conv1d(n_bins, hidden * 4, 3, padding=1), nn.GELU(),
                                     nn.Conv1d(hidden * 4, hidden * 4, 3, padding=2, dilation=2), nn.GELU(),
                                     nn.Conv1d(hidden * 4, hidden * 4, 3, padding=8, dilation=8), nn.GELU())
        self.film = nn.Sequential(nn.Linear(d + 1, hidden * 2), nn.GELU(), nn.Linear(hidden * 2, hidden * 8))
        self.decoder = nn.Sequential(nn.Conv1d(hidden * 4, hidden * 4, 3, padding=4, dilation=4), nn.GELU(),
                                     nn.Conv1d(hidden * 4, hidden * 4, 3, padding=1), nn.GELU(),
                                     nn.Conv1d(hidden * 4, n_bins, 1))
        self._prior_layers(hidden * 4, n_bins, self.decoder[-1])

    def _prior_layers(self, c: int, n_bins: int, last: nn.Conv1d) -> None:
        """With a class-NMF prior: a 1x1 conv that adds each source's prior log-mask to its features, and a
        zero-initialised last layer, so the untrained network returns the prior masks (it learns corrections)."""
        if not self.classes:
            return
        self.prior_in = nn.Conv1d(n_bins, c, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def nmf(self):
        """The class-NMF separator carried in this network's buffers
        (:class:`~binauralize.models.class_nmf.ClassNMF`), or None without a prior."""
        if not self.classes:
            return None
        from .class_nmf import ClassNMF

        clf = None
        if hasattr(self, "clf_weight") and float(self.clf_weight.abs().sum()) > 0:
            clf = {k: getattr(self, f"clf_{k}").detach().cpu().numpy() for k in ("weight", "bias", "mean", "std")}
        return ClassNMF(self.classes, self.nmf_dictionaries.detach().cpu().numpy(), clf, self.trunk, self.nmf_iters,
                        context=self.nmf_context)

    def set_nmf(self, nmf) -> None:
        """Copy a fitted :class:`~binauralize.models.class_nmf.ClassNMF` (same classes, atoms and bins) into the
        buffers."""
        if list(nmf.classes) != self.classes or nmf.context != self.nmf_context:
            from ..errors import InputError

            raise InputError("the class-NMF prior must have the model's classes and frame context")
        with torch.no_grad():
            self.nmf_dictionaries.copy_(torch.from_numpy(np.asarray(nmf.dictionaries, np.float32)))
            if nmf.classifier is not None and hasattr(self, "clf_weight"):
                for k in ("weight", "bias", "mean", "std"):
                    getattr(self, f"clf_{k}").copy_(torch.from_numpy(np.asarray(nmf.classifier[k], np.float32)))

    def forward(self, logmag: torch.Tensor, tokens: torch.Tensor, presence: torch.Tensor,
                prior: torch.Tensor | None = None) -> torch.Tensor:
        """``prior`` ``[B, K + 1, F, T]``: the class-NMF masks (needed when the model has ``classes``): the output
        starts from them (logits = log prior + the network's correction)."""
        b, f, t = logmag.shape
        k = tokens.shape[1]
        if k == 0:
            return torch.ones(b, 1, f, t, device=logmag.device, dtype=logmag.dtype)
        if self.classes and prior is None:
            raise ValueError("this model refines class-NMF masks: pass prior")
        logp = torch.log(prior.clamp(min=0) + 1e-4) if self.classes else None  # [B, K + 1, F, T]
        cond = self.film(torch.cat([tokens, presence[..., None]], dim=-1))  # [B, K, T, 2C] (x blocks for "tcn")
        if self.arch == "tcn":
            h = self.inp(logmag)
            for blk in self.shared:
                h = blk(h)                                                  # [B, C, T]
            c = h.shape[1]
            hk = h[:, None].expand(b, k, c, t).reshape(b * k, c, t)
            if logp is not None:
                hk = hk + self.prior_in(logp[:, :k].reshape(b * k, f, t))
            films = cond.reshape(b * k, t, len(self.per_source), 2, c).permute(2, 3, 0, 4, 1)  # [blocks, 2, BK, C, T]
            for blk, (gamma, beta) in zip(self.per_source, films):
                hk = blk(hk, gamma, beta)
            logits = self.head(hk).reshape(b, k, f, t)
        else:
            h = self.encoder(logmag)                                            # [B, C, T]
            gamma, beta = cond.chunk(2, dim=-1)
            hk = h[:, None] * (1 + gamma.transpose(2, 3)) + beta.transpose(2, 3)  # [B, K, C, T]
            hk = hk.reshape(b * k, -1, t)
            if logp is not None:
                hk = hk + self.prior_in(logp[:, :k].reshape(b * k, f, t))
            logits = self.decoder(hk).reshape(b, k, f, t)
        res = self.residual_logit.expand(b, 1, f, t)
        if logp is not None:
            logits = logits + logp[:, :k]
            res = res + logp[:, k:]
        logits = logits.masked_fill(presence[:, :, None, :] <= 0, -1e4)      # absent sources take nothing
        return torch.softmax(torch.cat([logits, res], dim=1), dim=1)


class PositionSpatializer(TrunkFeatures):
    """A :class:`PositionMasker` + the DSP renderer: mono at any rate + tracks -> binaural at the same rate.

    The masks (16 kHz, 10-ms frames) are interpolated to the input's STFT grid (frequencies above 8 kHz take the
    top bin's mask), applied to the full-rate mono, and each part is rendered along its track.

    Args: model; renderer_factory: sr -> a DSP renderer; device; fov_deg: the camera's horizontal field of view
    (to find each source in the frame for its crop embedding)."""

    uses_tracks = True  # the tool localizes (or takes --sources) and passes the tracks in
    how = "the mono is split into one part per source, each rendered along its track by the DSP renderer"
    piece_s = 10.0  # render_iter's pieces (s): the full-rate masking and the rendering go this far at a time
    full_band = "masks from 16 kHz applied to the full-rate STFT (above 8 kHz: the top bin's mask)"

    def __init__(self, model: PositionMasker, renderer_factory, device: str = "cpu", fov_deg: float | None = None,
                 path: Path | None = None, meta: dict | None = None):
        from ..dsp.geometry import DEFAULT_FOV_DEG

        self.model, self.make_renderer, self.device = model.eval(), renderer_factory, device
        self.fov_deg = fov_deg or DEFAULT_FOV_DEG
        self.path, self.meta, self.hop_s = path, meta or {"model": "position", "args": model.init_args}, None
        self._trunk = None
        from .crop_bank import CropBank

        # what its training pictures look like: crops unlike them count as not seen (models/crop_bank.py)
        self.crop_bank = None
        bank = CropBank.for_checkpoint(path) if model.use_visual else None
        if bank is not None:
            self.set_crop_bank(bank, path)

    def set_crop_bank(self, bank, checkpoint) -> None:
        """Use ``bank`` (a :class:`~binauralize.models.crop_bank.CropBank` found beside ``checkpoint``); one-line
        InputError when it was made from another trunk's crops than the model reads."""
        made_for = bank.meta.get("trunk")
        channels = self.model.extra_dim - 1 if isinstance(self.model, PositionMasker) else 0
        if (made_for and made_for != getattr(self.model, "trunk", made_for)) or (channels > 0 and channels != bank.dim):
            from pathlib import Path

            from ..errors import InputError

            raise InputError(f"the crop bank beside {Path(checkpoint).name} was made from {made_for or 'other'} crops "
                             f"({bank.dim} channels), but the model reads {self.model.trunk}'s: rebuild it with "
                             "`binauralize train-crop-bank`")
        self.crop_bank = bank

    @property
    def uses_visual(self) -> bool:
        return self.model.use_visual

    glyph_notice = True  # class-conditioned subclasses tell the user about their classes instead

    def crop_familiarity(self, tracks: list, feature_at, duration_s: float | None = None) -> list[float | None]:
        """Per track, the share of its on-screen crops (one a second over ``duration_s``, where it has weight) that
        the crop bank calls like the training pictures; None where the track is never on screen, or without frames
        or a bank. Without ``duration_s``, the span the tracks describe (at least 10 s)."""
        if self.crop_bank is None or feature_at is None:
            return [None] * len(tracks)
        if not duration_s:
            duration_s = max([10.0] + [float(np.max(t.times)) for t in tracks] +
                             [float(np.max(t.weight_times)) for t in tracks])
        times = np.arange(0.5, max(float(duration_s), 1.0), 1.0)
        out = []
        for tr in tracks:
            az, el, _, w = tr.at(times)
            seen = [crop_embedding(feature_at(t), a, e, self.fov_deg) for t, a, e, wt in zip(times, az, el, w) if wt > 0]
            seen = [e[:-1] for e in seen if e[-1] > 0]
            out.append(float(np.mean([self.crop_bank.known(e) for e in seen])) if seen else None)
        return out

    def tell(self, tracks: list, feature_at=None, duration_s: float | None = None) -> str | None:
        """One line for the user when the separation depends on pictures the model was not trained on (None: nothing
        to say). With two or more sources a visual model separates from each source's crop, and it has seen only
        the synthetic set's glyphs; shown real photographs it swapped the sources (docs/position.md). With a crop
        bank (the shipped models), crops unlike the training pictures are not looked at: the line names the
        sources whose picture is mostly unlike them (``feature_at`` given) and says they are separated by position
        only (judged over ``duration_s``, the clip's length); without a bank it warns that sources can be swapped."""
        if not (self.glyph_notice and self.uses_visual and len(tracks) >= 2):
            return None
        if self.crop_bank is None:
            return ("position: the sound is separated by what the model sees at each source, and it was trained on "
                    "the synthetic set's glyphs; on real footage (faces, objects) it can give a source another's "
                    "sound (measured: docs/position.md, \"The position model shown photographs instead of glyphs\")")
        shares = self.crop_familiarity(tracks, feature_at, duration_s)
        odd = [t.name for t, s in zip(tracks, shares) if s is not None and s < 0.5]
        if not odd:
            return None
        return (f"position: what it sees at {', '.join(odd)} is unlike the synthetic set's glyphs it was trained on, "
                f"so {'that source is' if len(odd) == 1 else 'those sources are'} separated by position only (the "
                "picture is not looked at there; docs/position.md, \"Pictures unlike the training glyphs\")")

    def masks(self, mono16: np.ndarray, tracks: list, feature_at=None,
              chunk_frames: int = 3000) -> tuple[np.ndarray, np.ndarray]:
        """-> (masks ``[K + 1, F, N]`` at 16 kHz, frame times ``[N]`` s). The network runs over ``chunk_frames``
        frames at a time with its receptive field (``model.receptive_frames``) of context either side, so its
        activations do not grow with the clip; the result equals one whole-clip pass (tested without crop embeddings;
        with them, the one video frame whose run of STFT frames straddles a piece boundary takes its crop once per
        piece)."""
        from scipy.signal import stft as sp_stft

        _, tt, z = sp_stft(mono16, SR, "hann", WIN, WIN - HOP, N_FFT, boundary="even", padded=True)
        mag = np.abs(z)
        del z
        prior, onehot = self.prior_masks(mag, tt, tracks, feature_at)
        logmag = torch.from_numpy(np.log(mag + 1e-5).astype(np.float32))
        del mag
        n, ctx = logmag.shape[-1], self.model.receptive_frames
        out = np.empty((len(tracks) + 1, logmag.shape[0], n), np.float32)
        with torch.inference_mode():
            for a in range(0, n, chunk_frames):
                b = min(n, a + chunk_frames)
                lo, hi = max(0, a - ctx), min(n, b + ctx)
                tok, pres = source_tokens(tracks, tt[lo:hi], self.model.n_freq, feature_at, self.fov_deg,
                                          self.model.extra_dim,  # per piece: visual tokens are large
                                          known=self.crop_bank.known if self.crop_bank is not None else None)
                if onehot is not None:
                    tok = np.concatenate([tok, np.repeat(onehot[:, None], hi - lo, axis=1)], axis=-1)
                args = [logmag[None, :, lo:hi], torch.from_numpy(tok)[None], torch.from_numpy(pres)[None]]
                if prior is not None:
                    args.append(torch.from_numpy(prior[None, :, :, lo:hi]))
                m = self.model(*(a.to(self.device) for a in args))
                out[:, :, a:b] = m[0, :, :, a - lo:b - lo].float().cpu().numpy()
        return out, tt

    def prior_masks(self, mag: np.ndarray, tt: np.ndarray, tracks: list, feature_at=None):
        """-> (prior masks ``[K + 1, F, N]``, class one-hots ``[K, classes]``) for a model that refines a prior;
        (None, None) for the plain position model."""
        return None, None

    def separate(self, mono: np.ndarray, sr: int, tracks: list, feature_at=None, chunk_s: float = 10.0) -> np.ndarray:
        """Mono ``[T]`` at ``sr`` -> parts ``[K + 1, T]`` (sources, then the residual) that sum to the mono.

        The full-rate masking runs in ``chunk_s``-second pieces on the whole signal's STFT frame grid (each piece
        with one window of real signal either side), so memory stays bounded and the result equals one whole-clip
        STFT pass (tested)."""
        x = np.asarray(mono, float).reshape(-1)
        parts = None
        for a, piece in self.iter_separated(x, sr, tracks, feature_at, chunk_s):
            if parts is None:
                parts = np.empty((len(piece), len(x)))
            parts[:, a:a + piece.shape[1]] = piece
        return np.zeros((len(tracks) + 1, 0)) if parts is None else parts

    def iter_separated(self, mono: np.ndarray, sr: int, tracks: list, feature_at=None,
                       chunk_s: float = 10.0) -> Iterator[tuple[int, np.ndarray]]:
        """:meth:`separate` a piece at a time, in order: ``(first sample, parts [K + 1, n])``; the masks are
        computed for the whole signal first (at 16 kHz), the full-rate parts ``chunk_s`` seconds at a time."""
        import soxr

        x = np.asarray(mono, float).reshape(-1)
        m16 = soxr.resample(x, sr, SR, quality="HQ") if sr != SR else x
        masks, tt = self.masks(m16, tracks, feature_at)
        for a, piece in iter_masked_full_rate(x, sr, masks[:-1], tt, chunk_s):
            residual = x[a:a + piece.shape[1]] - piece.sum(axis=0)  # the parts sum to the mono exactly
            yield a, np.concatenate([piece, residual[None]])

    def render(self, mono: np.ndarray, sr: int, tracks: list, t60=None, feature_at=None) -> np.ndarray:
        """Mono ``[T]`` + tracks -> binaural ``[2, T]``. No tracks: the whole mono in front (DSP renderer)."""
        x = np.asarray(mono, float).reshape(-1)
        out = np.empty((2, len(x)))
        pos = 0
        for y in self.render_iter(x, sr, tracks, t60=t60, feature_at=feature_at):
            out[:, pos:pos + y.shape[1]] = y
            pos += y.shape[1]
        return out

    def render_iter(self, mono: np.ndarray, sr: int, tracks: list, t60=None, feature_at=None) -> Iterator[np.ndarray]:
        """:meth:`render` as consecutive ``[2, n]`` pieces (about 10 s each), yielded as they are rendered: the tool
        encodes one while the next is computed."""
        from ..tracks import SourceTrack

        renderer = self.make_renderer(sr)
        x = np.asarray(mono, float).reshape(-1)
        if not tracks:
            yield renderer.render(x, [SourceTrack.static(0.0, name="front")], t60=t60)
            return
        parts = (piece for _, piece in self.iter_separated(x, sr, tracks, feature_at, self.piece_s))
        # each part along its own track, the residual (what no source explains) as the DSP renderer renders a mono
        # (along all tracks); one direct/reverberant split on the mono and one reverberant rendering for all parts
        yield from renderer.process(parts, None, t60=t60, segment_s=self.piece_s,
                                    track_sets=[[tr] for tr in tracks] + [tracks])
