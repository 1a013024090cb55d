"""An optional synthetic room for dry inputs (``--room``): early reflections by the image-source method
(Allen & Berkley 1979, via pyroomacoustics' ShoeBox) rendered through the HRTF from their own directions, and a late
tail of exponentially decaying noise whose interaural coherence is the HRTF set's diffuse-field coherence.

The direct sound stays with the renderer; this module builds the reflections-only binaural room impulse response
``[2, L]`` for one source position, with the same delay reference as the direct sound (time 0 = direct arrival).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import cart_to_sph, sph_to_cart
from .hrtf import HRTF, minimum_phase_spectrum


@dataclass(frozen=True)
class RoomOptions:
    """A shoebox room. Sizes in metres; the listener (camera) stands at ``listener`` facing +x (front).

    Attributes:
        size: (length x, width y, height z).
        rt60: reverberation time in seconds (sets the wall absorption by Sabine's formula).
        listener: listener position; default: 1/3 of the length, centred across, 1.6 m high.
        max_order: image-source order of the early reflections (higher orders are in the late tail).
        seed: seed of the late tail's noise.
    """

    size: tuple = (7.0, 5.0, 3.0)
    rt60: float = 0.5
    listener: tuple | None = None
    max_order: int = 2
    seed: int = 11


def _listener(opts: RoomOptions) -> np.ndarray:
    if opts.listener is not None:
        return np.asarray(opts.listener, dtype=float)
    return np.array([opts.size[0] / 3.0, opts.size[1] / 2.0, min(1.6, opts.size[2] - 0.2)])


def diffuse_noise_pair(rng: np.random.Generator, n: int, freqs: np.ndarray, coherence: np.ndarray,
                       fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Two white noises ``[n]`` whose real coherence follows ``coherence`` (given at ``freqs``, Hz) bin by bin.

    The interaural coherence of a diffuse field is near 1 below ~200 Hz (the head is small against the wavelength)
    and near 0 above ~700 Hz; measured late reverberation follows it (the KEMAR BRIRs of ``../shared/data`` show
    0.81-0.86 at 60-250 Hz and ~0 above 500 Hz). Two independent noises A, B are mixed per frequency bin as
    L = cos(t) A + sin(t) B, R = sin(t) A + cos(t) B with t = arcsin(coherence) / 2, which keeps each channel's
    power and gives Re E[L R*] / E|L|^2 = sin(2t) = coherence (Habets, Cohen & Gannot, JASA 2008)."""
    a = np.fft.rfft(rng.standard_normal(n))
    b = np.fft.rfft(rng.standard_normal(n))
    c = np.clip(np.interp(np.fft.rfftfreq(n, 1.0 / fs), freqs, coherence), -0.999, 0.999)
    th = 0.5 * np.arcsin(c)
    left = np.fft.irfft(np.cos(th) * a + np.sin(th) * b, n)
    right = np.fft.irfft(np.sin(th) * a + np.cos(th) * b, n)
    return left, right


def reflections_brir(hrtf: HRTF, az: float, el: float, distance: float, opts: RoomOptions = RoomOptions(),
                     length_s: float | None = None, yaw_deg: float = 0.0, equalized: bool = True) -> np.ndarray:
    """Reflections-only BRIR ``[2, L]`` at ``hrtf.sample_rate`` for a source at (az, el, distance) relative to the
    listener's head, normalised so that the direct sound (not included) would have unit gain at the listener.
    ``yaw_deg``: the head is turned that much to the left of the room's +x axis (directions stay head-relative).
    ``equalized``: the head's diffuse-field response divided out of every reflection and the tail, to sit beside a
    direct sound that keeps the input's tone (the tool's renderer); False: the raw HRTF on every path and the tail
    shaped by the diffuse-field response, to sit beside a direct sound through the raw HRTF (a head in a room, as
    the dataset generator renders it)."""
    import pyroomacoustics as pra

    fs = int(hrtf.sample_rate)
    c = 343.0
    size = np.asarray(opts.size, dtype=float)
    lis = _listener(opts)
    src = lis + sph_to_cart(az + yaw_deg, el, distance)
    src = np.clip(src, 0.1, size - 0.1)  # keep the source inside the room
    d_direct = float(np.linalg.norm(src - lis))
    absorption, max_order = pra.inverse_sabine(opts.rt60, size)
    room = pra.ShoeBox(size, fs=fs, materials=pra.Material(absorption), max_order=min(opts.max_order, max_order))
    room.add_source(src)
    room.add_microphone(lis)
    room.image_source_model()
    srcobj = room.sources[0]
    images = srcobj.images.T  # [K, 3]
    damping = np.asarray(srcobj.damping).reshape(len(images), -1).mean(axis=1) if np.size(srcobj.damping) else np.ones(len(images))
    length = int((length_s or 1.5 * opts.rt60) * fs)
    out = np.zeros((2, length))
    df = minimum_phase_spectrum(hrtf.diffuse_field_magnitude, hrtf.nfft)
    for img, g in zip(images, damping):
        v = img - lis
        dist = float(np.linalg.norm(v))
        if dist - d_direct < 1e-6:
            continue  # the direct path: rendered by the renderer
        a, e, _ = cart_to_sph(v)
        a = float(a) - yaw_deg
        delay = (dist - d_direct) / c * fs
        gain = g * d_direct / dist
        spec = hrtf.spectra(float(a), float(e))
        h = np.fft.irfft(spec / df[None] if equalized else spec, n=hrtf.nfft)[:, : hrtf.nfft // 2]
        start = int(np.floor(delay))
        frac = delay - start
        seg = (1 - frac) * h + frac * np.pad(h, ((0, 0), (1, 0)))[:, :-1]  # linear fractional delay
        end = min(length, start + seg.shape[1])
        if start < length:
            out[:, start:end] += gain * seg[:, : end - start]
    # late tail: diffuse, from the end of the early part, energy continuous with the reflections' decay
    t_mix = (opts.max_order + 1) * float(np.min(size)) / c
    n0 = int(t_mix * fs)
    if n0 < length:
        rng = np.random.default_rng(opts.seed)
        n = length - n0
        decay = np.exp(-6.9 * np.arange(n) / (opts.rt60 * fs))
        left, right = diffuse_noise_pair(rng, n, hrtf.freqs, hrtf.diffuse_coherence, fs)
        if not equalized:  # a diffuse field heard through the head: its diffuse-field response
            dfn = np.interp(np.fft.rfftfreq(n, 1.0 / fs), hrtf.freqs, hrtf.diffuse_field_magnitude)
            left = np.fft.irfft(np.fft.rfft(left) * dfn, n)
            right = np.fft.irfft(np.fft.rfft(right) * dfn, n)
        # level: the diffuse energy of a room with this T60 relative to the direct sound at d_direct (Sabine)
        vol = float(np.prod(size))
        r_crit = 0.057 * np.sqrt(vol / opts.rt60)
        late_energy = (d_direct / r_crit) ** 2 * np.exp(-13.8 * t_mix / opts.rt60)
        scale = np.sqrt(late_energy / max(np.sum(decay**2), 1e-12))
        out[0, n0:] += scale * decay * left
        out[1, n0:] += scale * decay * right
    return out
