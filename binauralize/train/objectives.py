"""Training objectives, kept apart from the networks (``binauralize.models``).

- ``mono2binaural``: 2.5D Visual Sound: mean squared error between the predicted and the true difference
  spectrogram D = STFT(L - R) (real and imaginary parts, Nyquist bin dropped).
- ``geometry``: Garg et al. 2021, L = l_B L_B + l_S L_S + l_G L_G + l_P L_P with the paper's weights
  (l_B = 10, l_S = 1, l_G = 0.01, l_P = 1; configurable): L_B = MSE on D, L and R spectrograms; L_S = BCE of the
  "channels swapped" classifier on the ground-truth binaural, swapped with probability 0.5; L_G =
  max(0, ||v_t - v_t'||^2 - margin) for frames t, t' of the same clip; L_P = MSE of the RIR log-magnitude spectrogram
  plus L1 of the RT60 computed from the predicted and the true RIR spectrograms by the same estimator
  (Schroeder backward integration of the frame energies, slope between -5 and -25 dB). The paper takes the RT60
  from a Griffin-Lim waveform; the frame energies of a magnitude spectrogram are what Griffin-Lim preserves, so
  we skip the phase reconstruction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..models.mono2binaural import spec_channels, stft

DEFAULT_WEIGHTS = {"backbone": 10.0, "coherence": 1.0, "geometric": 0.01, "rir": 1.0, "margin": 1.0}
RIR_FRAME_S = 128 / 16000


def rt60_from_logmag(logmag: torch.Tensor, frame_s: float = RIR_FRAME_S) -> torch.Tensor:
    """RIR log-magnitude spectrograms ``[B, C, F, T]`` -> RT60 ``[B]`` (s), differentiable.

    Energy decay curve: backward cumulative sum of the frame energies; RT60 = -60 / slope of the least-squares line
    through the EDC (dB) where it lies between -5 and -25 dB (T20 extrapolated), chosen on the detached curve.
    """
    e = torch.exp(2 * logmag.float()).sum(dim=(1, 2))                      # [B, T]
    edc = torch.flip(torch.cumsum(torch.flip(e, [1]), 1), [1])
    db = 10 * torch.log10(edc / edc[:, :1] + 1e-12)
    t = torch.arange(db.shape[1], device=db.device, dtype=db.dtype) * frame_s
    with torch.no_grad():
        w = ((db <= -5) & (db >= -25)).to(db.dtype)
        few = w.sum(1) < 3
        w[few] = ((db[few] <= -1) & (db[few] >= -15)).to(db.dtype)
        w = w + 1e-6
    tm = ((w * t).sum(1) / w.sum(1))[:, None]
    dm = ((w * db).sum(1) / w.sum(1))[:, None]
    slope = (w * (t - tm) * (db - dm)).sum(1) / (w * (t - tm) ** 2).sum(1)
    return -60.0 / torch.clamp(slope, max=-1.0)


def position_losses(model, batch: dict, weights: dict | None = None) -> dict:
    """Position-conditioned masks (issue 7): magnitude-weighted squared error between each source's mask and its
    ideal ratio mask from the dry stems, |S_k|^2 / sum_j |S_j|^2 (the residual's target: 1 where no stem sounds).
    The mono is reverberant and coloured while the stems are dry, so the targets are approximate by design.

    With ``weights["binaural"]`` > 0 and per-source HRTF responses in the batch (``hrtf`` ``[B, S, 2, 2, F]``: real
    and imaginary part of each source's HRTF pair at its direction), a second term measures the mask errors where
    they matter, in the rendered output: |sum_k (M_k - IRM_k) H_k|^2 per ear, bin and frame (the residual along the
    mean of the sources' responses, as the renderer renders it along all tracks), weighted by the mono's magnitude
    like the first term and divided by the mean |H|^2. Errors between two sources at the same place cost nothing;
    errors between sources on opposite sides cost most.

    ``weights["weighting"]``: "magnitude" (default; each bin by |X| over its window's mean |X|) or "metric" (by
    |X|^2 over the window's squared waveform peak, normalised to mean 1 per batch: the weight a mask error gets in
    the peak-normalised STFT distance of the 2.5D Visual Sound evaluation)."""
    w = weights or {}
    x = stft(batch["mix"])                                                  # [B, F, T]
    mag = x.abs()
    inputs = [torch.log(mag + 1e-5), batch["tokens"], batch["presence"]]
    if "prior" in batch:  # position-nmf: the class-NMF masks the network refines
        inputs.append(batch["prior"])
    masks = model(*inputs)
    p = stft(batch["stems"]).abs() ** 2                                     # [B, S, F, T]
    tot = p.sum(1, keepdim=True)
    irm = torch.where(tot > 1e-10, p / (tot + 1e-12), torch.zeros_like(p))
    target = torch.cat([irm, 1 - irm.sum(1, keepdim=True)], dim=1)
    weighting = str(w.get("weighting", "magnitude"))
    if weighting == "magnitude":  # |X| over the window's mean |X|: every window counts the same
        wgt = (mag / (mag.mean(dim=(1, 2), keepdim=True) + 1e-9))[:, None]
    elif weighting == "metric":  # |X|^2 over the window's squared peak, as the peak-normalised STFT distance counts
        peak2 = batch["mix"].abs().amax(-1).pow(2).clamp(min=1e-12)[:, None, None]
        r = mag.pow(2) / peak2
        wgt = (r / (r.mean() + 1e-12))[:, None]  # mean 1 over the batch: loud, dense windows weigh more
    else:
        raise InputError(f"[loss] weighting must be 'magnitude' or 'metric', not {weighting!r}")
    loss = (wgt * (masks - target) ** 2).mean()
    terms = {"mask": loss}
    lam = float(w.get("binaural", 0.0))
    if lam > 0 and "hrtf" in batch:
        h = torch.complex(batch["hrtf"][..., 0, :], batch["hrtf"][..., 1, :])   # [B, S, 2, F]
        on = (batch["presence"].amax(-1) > 0).to(h.real.dtype)                 # [B, S]
        h_res = (h * on[:, :, None, None]).sum(1) / on.sum(1).clamp(min=1)[:, None, None]  # [B, 2, F]
        err = masks - target                                                    # [B, S + 1, F, T]
        e = (err[:, :-1, None] * h[..., None]).sum(1) + err[:, -1, None] * h_res[..., None]  # [B, 2, F, T]
        hp = ((h.abs() ** 2).mean(dim=(2, 3)) * on).sum(1) / on.sum(1).clamp(min=1)         # [B]
        terms["binaural"] = (wgt * e.abs() ** 2 / hp[:, None, None, None].clamp(min=1e-6)).mean()
        loss = loss + lam * terms["binaural"]
    terms["total"] = loss
    return terms


def flow_losses(model, batch: dict, weights: dict | None = None) -> dict:
    """Conditional flow matching (rectified flow) for :class:`~binauralize.models.flow.FlowBinaural`: with
    x_1 = c(D) - c(D_dsp) (compressed true minus compressed DSP difference spectrogram), x_0 ~ N(0, I) and
    t ~ U(0, 1), x_t = (1 - t) x_0 + t x_1 and the network predicts the endpoint: loss ||x^_1(x_t, t | cond) - x_1||^2
    (data prediction; the sampler uses v = (x^_1 - x_t) / (1 - t)). In eval mode the
    noise and times are drawn from a fixed seed, so validation losses are comparable across epochs. ``residual``:
    the squared size of x_1 itself (what the DSP rendering misses), for scale.

    ``weights["linear"]`` = a in [0, 1] (config ``[loss] linear``; default 0): the loss becomes
    (1 - a) ||x^_1 - x_1||^2 + a ||D^ - D||^2 / ||D||^2, the second term on the decompressed difference spectrogram
    D (the papers' STFT distance lives there). The squared error of compressed values is minimised by their mean,
    which decompressed falls short of the linear mean wherever the phase is uncertain (Jensen); with a = 1 one step
    is the linear conditional mean, the minimiser of the papers' distance (several steps then no longer follow the
    exact probability flow)."""
    from ..models.flow import compress, condition, decompress, stft16

    mix, target, dsp = batch["mix"], batch["target"], batch["dsp"]
    cond = condition(mix, dsp)
    d_true = compress(stft16(target[:, 0] - target[:, 1])).permute(0, 3, 1, 2)
    x1 = d_true - cond[:, 2:4]
    g = None if model.training else torch.Generator(device=mix.device).manual_seed(0)
    x0 = torch.randn(x1.shape, generator=g, device=mix.device)
    t = torch.rand(x1.shape[0], generator=g, device=mix.device)
    xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * x1
    pred = model(xt, t, cond)
    flow = F.mse_loss(pred, x1)
    a = float((weights or {}).get("linear", 0.0))
    terms = {"flow": flow, "residual": x1.pow(2).mean().detach()}
    if a > 0:
        def spec(c):  # compressed [B, 2, F, T] (re, im) -> complex linear [B, F, T]
            return decompress((c + cond[:, 2:4]).permute(0, 2, 3, 1))

        d_lin = spec(x1)
        terms["linear"] = (spec(pred) - d_lin).abs().pow(2).mean() / d_lin.abs().pow(2).mean().clamp_min(1e-12)
        terms["total"] = (1 - a) * flow + a * terms["linear"]
    else:
        terms["total"] = flow
    return terms


def losses(model, batch: dict, weights: dict | None = None) -> dict:
    """Weighted loss terms for one batch; ``total`` is what to minimise. Works for every model family."""
    if model.registry_name == "position":
        return position_losses(model, batch, weights)
    if model.registry_name == "flow":
        return flow_losses(model, batch, weights)
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    mix, target = batch["mix"], batch["target"]
    feat = batch.get("feat") if model.use_visual else None
    out = model(mix, feat)
    true = stft(target)                                                    # [B, 2, F, T] complex
    diff_true = true[:, 0] - true[:, 1]
    terms = {"diff": F.mse_loss(spec_channels(out["diff"]), spec_channels(diff_true)),
             "diff_zero": spec_channels(diff_true).pow(2).mean().detach()}  # the loss of Mono-Mono (D = 0)
    if model.registry_name != "geometry":
        terms["total"] = terms["diff"]
        return terms
    lb = terms["diff"] + F.mse_loss(spec_channels(out["left"]), spec_channels(true[:, 0])) \
        + F.mse_loss(spec_channels(out["right"]), spec_channels(true[:, 1]))
    total = w["backbone"] * lb
    terms["backbone"] = lb
    vf = out["vf"]
    if vf is not None:
        swap = (torch.rand(mix.shape[0], device=mix.device) < 0.5)
        spec = torch.where(swap[:, None, None, None], true.flip(1), true)
        logit = model.coherence_logit(spec, vf)
        terms["coherence"] = F.binary_cross_entropy_with_logits(logit, swap.float())
        terms["coherence_acc"] = ((logit > 0) == swap).float().mean().detach()
        total = total + w["coherence"] * terms["coherence"]
        if "feat2" in batch:
            vf2 = model.visual_embedding(batch["feat2"])
            d2 = (vf - vf2).pow(2).flatten(1).mean(1)
            terms["geometric"] = F.relu(d2 - w["margin"]).mean()
            terms["feature_distance"] = d2.mean().detach()
            total = total + w["geometric"] * terms["geometric"]
        if "rir" in batch:
            pred = model.rir_logmag(vf)
            rir = batch["rir"]
            lp = F.mse_loss(pred, rir)
            rt_err = F.l1_loss(rt60_from_logmag(pred), rt60_from_logmag(rir))
            terms["rir"], terms["rt60_l1"] = lp, rt_err
            total = total + w["rir"] * (lp + rt_err)
    terms["total"] = total
    return terms
