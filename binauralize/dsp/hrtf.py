"""Head-related transfer functions: load any SOFA (AES69) HRIR set, interpolate between measured directions,
resample to the working rate, and derive the filters the renderer uses.

Interpolation follows the usual minimum-phase + pure-delay model (e.g. Kulkarni, Isabelle & Colburn, JASA 1999):
each measured HRIR is reduced to its magnitude response and its onset delay; both are interpolated (inverse
angular-distance weights over the nearest measured directions) and recombined as a minimum-phase filter followed
by a fractional delay. Interpolating raw impulse responses would comb-filter between delayed copies.

Directions follow :mod:`binauralize.dsp.geometry` (azimuth positive = left). Spectra are ``[2, F]`` complex with
index 0 = LEFT ear, on the one-sided grid of ``self.nfft`` points at ``self.sample_rate`` Hz.
"""
from __future__ import annotations

import functools
import hashlib
import os
import uuid
import warnings
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import InputError
from .geometry import great_circle_deg, sph_to_cart, cart_to_sph

DEFAULT_HRTF_NAME = "mit_kemar_normal_pinna.sofa"
DEFAULT_HRTF_CITATION = (
    "MIT KEMAR (normal pinna): W. G. Gardner and K. D. Martin, 'HRTF Measurements of a KEMAR Dummy-Head "
    "Microphone', MIT Media Lab Perceptual Computing Technical Report #280, 1994."
)


def default_hrtf_path() -> Path:
    """Path of the bundled MIT KEMAR SOFA file."""
    return Path(str(resources.files("binauralize") / "data" / "hrtf" / DEFAULT_HRTF_NAME))


def resample_axis(x: np.ndarray, sr_in: float, sr_out: float, axis: int = -1) -> np.ndarray:
    """Polyphase resampling along ``axis`` (Kaiser-windowed FIR; exact rational ratio)."""
    if sr_in == sr_out:
        return x
    from scipy import signal

    frac = Fraction(int(round(sr_out)), int(round(sr_in))).limit_denominator(1000)
    return signal.resample_poly(x, frac.numerator, frac.denominator, axis=axis)


def minimum_phase_spectrum(mag: np.ndarray, nfft: int) -> np.ndarray:
    """Minimum-phase complex spectrum with magnitude ``mag`` [..., nfft//2+1] (real cepstrum folding method)."""
    logmag = np.log(np.maximum(mag, 1e-8))
    cep = np.fft.irfft(logmag, n=nfft, axis=-1)
    fold = np.zeros_like(cep)
    fold[..., 0] = cep[..., 0]
    fold[..., 1 : nfft // 2] = 2.0 * cep[..., 1 : nfft // 2]
    fold[..., nfft // 2] = cep[..., nfft // 2]
    return np.exp(np.fft.rfft(fold, n=nfft, axis=-1))


def _onset_seconds(irs: np.ndarray, sr: float, threshold_db: float = -20.0, up: int = 8) -> np.ndarray:
    """Onset time in seconds of each impulse response [..., N]: first crossing of ``threshold_db`` below the peak
    of the 3 kHz low-passed, ``up``-times upsampled response (threshold onset detection, Katz & Noisternig 2014)."""
    from scipy import signal

    sos = signal.butter(4, min(3000.0, 0.45 * sr), fs=sr, output="sos")
    low = signal.sosfiltfilt(sos, irs, axis=-1)
    fine = signal.resample_poly(low, up, 1, axis=-1)
    env = np.abs(fine)
    thr = env.max(axis=-1, keepdims=True) * 10 ** (threshold_db / 20.0)
    idx = np.argmax(env >= thr, axis=-1)
    return idx / (up * sr)


def _xcorr_itd_seconds(irs: np.ndarray, sr: float, up: int = 8, max_s: float = 1.0e-3, fc: float = 3000.0,
                       block: int = 256) -> np.ndarray:
    """Interaural time difference ``[M]`` (s, left arrival minus right: negative = left ear first) of HRIR pairs
    ``[M, 2, N]``: the lag of the peak of the cross-correlation of the ``fc``-low-passed, ``up``-times upsampled
    responses within +-``max_s`` (the cross-correlation method of Katz & Noisternig 2014, JASA 135(6))."""
    from scipy import signal

    sos = signal.butter(4, min(fc, 0.45 * sr), fs=sr, output="sos")
    fine = signal.resample_poly(signal.sosfiltfilt(sos, irs, axis=-1), up, 1, axis=-1)
    nfft = 1 << int(np.ceil(np.log2(2 * fine.shape[-1])))
    maxlag = int(round(max_s * sr * up))
    out = np.empty(irs.shape[0])
    for i in range(0, irs.shape[0], block):  # bounded memory for large sets
        spec_l = np.fft.rfft(fine[i:i + block, 0], nfft)
        spec_r = np.fft.rfft(fine[i:i + block, 1], nfft)
        cc = np.fft.irfft(spec_l * np.conj(spec_r), nfft)  # peak at the lag of the left ear behind the right
        cc = np.concatenate([cc[:, -maxlag:], cc[:, :maxlag + 1]], axis=1)
        out[i:i + block] = (np.argmax(cc, axis=1) - maxlag) / (sr * up)
    return out


def ear_onsets(irs: np.ndarray, sr: float, tolerance_s: float = 100e-6) -> np.ndarray:
    """Arrival time of each ear ``[M, 2]`` (s): threshold onsets (:func:`_onset_seconds`), except for pairs whose
    threshold ITD is more than ``tolerance_s`` from the cross-correlation ITD (:func:`_xcorr_itd_seconds`; a
    pre-ringing or weak first arrival fooled the threshold): their mean onset split by the cross-correlation ITD."""
    on = _onset_seconds(irs, sr)
    itd = _xcorr_itd_seconds(irs, sr)
    bad = np.abs((on[:, 0] - on[:, 1]) - itd) > tolerance_s
    if bad.any():
        mean = on[bad].mean(axis=1)
        on[bad] = np.stack([mean + itd[bad] / 2, mean - itd[bad] / 2], axis=1)
    return on


class HRTF:
    """A measured HRIR set on a grid of directions, usable at any direction and sample rate.

    Args:
        irs: HRIRs ``[M, 2, N]`` (index 0 = left ear) at ``sample_rate``.
        azimuth, elevation: ``[M]`` degrees, SOFA convention (azimuth positive = left).
        sample_rate: working rate in Hz (the IRs must already be at this rate).
        name: a label for reports.
        onsets: onset time of each IR ``[M, 2]`` in seconds, when already known (default: detected).
    """

    def __init__(self, irs: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray, sample_rate: float,
                 name: str = "hrtf", neighbours: int = 3, onsets: np.ndarray | None = None):
        irs = np.asarray(irs, dtype=np.float64)
        if irs.ndim != 3 or irs.shape[1] != 2 or irs.shape[0] < 1:
            raise InputError(f"HRTF '{name}': expected impulse responses [M, 2, N], got shape {irs.shape}")
        self.irs = irs
        self.azimuth = np.asarray(azimuth, dtype=float)
        self.elevation = np.asarray(elevation, dtype=float)
        self.sample_rate = float(sample_rate)
        self.name = name
        self.neighbours = int(min(neighbours, len(self.azimuth)))
        n = irs.shape[-1]
        self.nfft = int(2 ** np.ceil(np.log2(max(4 * n, 256))))
        self.freqs = np.fft.rfftfreq(self.nfft, 1.0 / self.sample_rate)
        self._mag = np.abs(np.fft.rfft(irs, n=self.nfft, axis=-1))  # [M, 2, F]
        if onsets is None:
            onsets = ear_onsets(irs, self.sample_rate)  # [M, 2]
        self.onsets = np.asarray(onsets, dtype=float)
        self._delay = self.onsets - self.onsets.min() + 2.0 / self.sample_rate  # common propagation delay removed
        self._unit = sph_to_cart(self.azimuth, self.elevation)  # [M, 3]
        self._cache: dict = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_sofa(cls, path: str | Path, sample_rate: float | None = None) -> "HRTF":
        """Load a SOFA (AES69) HRIR file (SimpleFreeFieldHRIR or any FIR convention with 2 receivers)."""
        import sofar

        path = Path(path)
        if not path.is_file():
            raise InputError(f"HRTF file not found: {path}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sofa = sofar.read_sofa(str(path), verify=False, verbose=False)
            irs = np.asarray(sofa.Data_IR, dtype=np.float64)
            sr = float(np.atleast_1d(sofa.Data_SamplingRate)[0])
            pos = np.asarray(sofa.SourcePosition, dtype=float)
            ptype = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
        except InputError:
            raise
        except Exception as exc:  # sofar/netCDF raise many types on bad files
            raise InputError(f"cannot read HRTF file {path.name}: not a valid SOFA HRIR file ({exc.__class__.__name__})")
        if irs.ndim != 3 or irs.shape[1] != 2:
            raise InputError(f"HRTF file {path.name}: expected 2 receivers (ears), got Data_IR shape {irs.shape}")
        if pos.ndim == 1:
            pos = np.broadcast_to(pos, (irs.shape[0], pos.shape[-1]))
        if "cart" in ptype:
            az, el, _ = cart_to_sph(pos[:, :3])
        else:
            az, el = pos[:, 0], pos[:, 1]
        if sample_rate is not None and sample_rate != sr:
            # an impulse response resampled sample for sample keeps its values, so its gain would scale with
            # sample_rate / sr (-9.5 dB from 48 to 16 kHz): rescaled to keep the filter's gain
            irs = resample_axis(irs, sr, sample_rate, axis=-1) * (sr / float(sample_rate))
            sr = float(sample_rate)
        return cls(irs, az, el, sr, name=path.name)

    @classmethod
    def default(cls, sample_rate: float | None = None) -> "HRTF":
        """The bundled MIT KEMAR set (see :data:`DEFAULT_HRTF_CITATION`)."""
        return _load_cached(str(default_hrtf_path()), sample_rate, _file_stamp(default_hrtf_path()))

    @classmethod
    def load(cls, path: str | Path | None, sample_rate: float | None = None) -> "HRTF":
        """Load ``path`` (or the default set when None), cached per (path, rate, the file's size and modification
        time: a file edited while the program runs is read again)."""
        p = str(path) if path else str(default_hrtf_path())
        return _load_cached(p, sample_rate, _file_stamp(p))

    # ------------------------------------------------------------------ interpolation
    def _weights(self, az: float, el: float) -> tuple[np.ndarray, np.ndarray]:
        u = sph_to_cart(az, el)
        ang = np.rad2deg(np.arccos(np.clip(self._unit @ u, -1.0, 1.0)))
        idx = np.argsort(ang)[: self.neighbours]
        d = ang[idx]
        if d[0] < 1e-6:
            return idx[:1], np.ones(1)
        w = 1.0 / d
        return idx, w / w.sum()

    def spectra(self, az: float, el: float = 0.0) -> np.ndarray:
        """Interpolated HRTF pair at (az, el) degrees -> complex ``[2, F]`` (minimum phase + onset delay)."""
        key = (round(float(az) * 4) / 4, round(float(el) * 4) / 4)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        idx, w = self._weights(*key)
        mag = np.tensordot(w, self._mag[idx], axes=1)  # [2, F]
        delay = w @ self._delay[idx]  # [2]
        h = minimum_phase_spectrum(mag, self.nfft) * np.exp(-2j * np.pi * self.freqs[None, :] * delay[:, None])
        if len(self._cache) > 256:  # the renderer keeps its own cache of derived filters
            self._cache.clear()
        self._cache[key] = h
        return h

    def ear_delays(self, az: float, el: float = 0.0) -> np.ndarray:
        """Onset delay of each ear ``[2]`` (s, left/right) as :meth:`spectra` applies it (the common propagation
        delay removed); their mean is when a microphone at the centre of the head hears the direct sound."""
        idx, w = self._weights(az, el)
        return w @ self._delay[idx]

    def itd_seconds(self, az: float, el: float = 0.0) -> float:
        """Interaural time difference (left onset minus right onset) in seconds; negative = left ear earlier."""
        d = self.ear_delays(az, el)
        return float(d[0] - d[1])

    def hrir(self, az: float, el: float = 0.0, length: int | None = None) -> np.ndarray:
        """Interpolated HRIR pair ``[2, length]`` (default length: the measured length)."""
        length = length or self.irs.shape[-1]
        h = np.fft.irfft(self.spectra(az, el), n=self.nfft, axis=-1)
        return _truncate(h, length)

    # ------------------------------------------------------------------ derived quantities
    @functools.cached_property
    def direction_weights(self) -> np.ndarray:
        """Solid-angle weights ``[M]`` of the measured directions (spherical Voronoi areas, capped), summing to 1."""
        from scipy.spatial import SphericalVoronoi

        try:
            _, uniq = np.unique(np.round(self._unit, 6), axis=0, return_index=True)
            w = np.zeros(len(self._unit))
            sv = SphericalVoronoi(self._unit[uniq])
            areas = sv.calculate_areas()
            w[uniq] = np.minimum(areas, 3.0 * np.median(areas))
        except Exception:
            w = np.cos(np.deg2rad(self.elevation)) + 1e-3
        return w / w.sum()

    @functools.cached_property
    def diffuse_field_magnitude(self) -> np.ndarray:
        """RMS magnitude over all directions and both ears ``[F]`` (the diffuse-field response)."""
        return np.sqrt(np.einsum("m,mcf->f", self.direction_weights, self._mag**2) / 2.0)

    @functools.cached_property
    def diffuse_coherence(self) -> np.ndarray:
        """Real interaural coherence of a diffuse field ``[F]``: Re sum w H_L H_R* / sqrt(sum w|H_L|^2 sum w|H_R|^2)."""
        w = self.direction_weights
        cross = np.zeros(self.freqs.size, dtype=complex)
        pl = np.zeros(self.freqs.size)
        pr = np.zeros(self.freqs.size)
        for i in range(0, len(w), 64):  # in slices: bounded memory for large sets
            spec = np.fft.rfft(self.irs[i: i + 64], n=self.nfft, axis=-1)
            cross += np.einsum("m,mf->f", w[i: i + 64], spec[:, 0] * np.conj(spec[:, 1]))
            pl += np.einsum("m,mf->f", w[i: i + 64], np.abs(spec[:, 0]) ** 2)
            pr += np.einsum("m,mf->f", w[i: i + 64], np.abs(spec[:, 1]) ** 2)
        return np.real(cross) / np.sqrt(pl * pr + 1e-20)


def _truncate(h: np.ndarray, length: int) -> np.ndarray:
    """Keep the first ``length`` samples with a short half-Hann fade-out."""
    out = h[..., :length].copy() if h.shape[-1] >= length else np.pad(h, [(0, 0)] * (h.ndim - 1) + [(0, length - h.shape[-1])])
    fade = max(4, length // 16)
    out[..., -fade:] *= np.hanning(2 * fade)[fade:]
    return out


# Bump when loading or deriving changes what an HRTF holds: cached files of other versions are ignored.
DISK_CACHE_VERSION = 4  # 2: resampled sets keep their gain; 4: ITDs checked by cross-correlation (2026-12-01)


def cache_dir() -> Path | None:
    """Where derived data is kept between runs: ``BINAURALIZE_CACHE_DIR`` if set ("off" or empty: no cache), else
    ``$XDG_CACHE_HOME/binauralize`` or ``~/.cache/binauralize``."""
    env = os.environ.get("BINAURALIZE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "binauralize"


def _disk_cache_file(path: str, sample_rate: float | None) -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    rate = "native" if sample_rate is None else f"{float(sample_rate):g}"
    return root / "hrtf" / f"{digest.hexdigest()[:32]}-{rate}-v{DISK_CACHE_VERSION}.npz"


def _read_disk_cache(file: Path, name: str) -> HRTF | None:
    try:
        with np.load(file) as z:
            return HRTF(z["irs"], z["azimuth"], z["elevation"], float(z["sample_rate"]), name=name,
                        onsets=z["onsets"])
    except Exception:  # missing, truncated or from elsewhere: load the SOFA file instead
        return None


def _write_disk_cache(file: Path, h: HRTF) -> None:
    tmp = file.with_name(f".{file.stem}.{uuid.uuid4().hex[:8]}.partial.npz")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, irs=h.irs, azimuth=h.azimuth, elevation=h.elevation, sample_rate=h.sample_rate,
                 onsets=h.onsets)
        os.replace(tmp, file)  # atomic: concurrent runs never read a half-written file
    except OSError:  # read-only or full disk: the cache is only an optimisation
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _file_stamp(path) -> tuple:
    """(size, mtime in ns) of ``path``, () when it cannot be read: part of the in-memory cache key."""
    try:
        st = os.stat(path)
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return ()


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, sample_rate: float | None, stamp: tuple = ()) -> HRTF:
    """:meth:`HRTF.from_sofa`, kept in memory per (path, rate) and on disk per (file contents, rate): reading the
    SOFA file, resampling the IRs and finding their onsets take ~0.7 s plus ~1.5 s to import ``scipy.signal``;
    a cached set loads in milliseconds (``benchmarks/speed.py``)."""
    file = None
    if Path(path).is_file():
        try:
            file = _disk_cache_file(path, sample_rate)
        except (OSError, RuntimeError):  # unreadable file (from_sofa says so) or no home directory: no cache
            file = None
    if file is not None:
        hit = _read_disk_cache(file, Path(path).name)
        if hit is not None:
            return hit
    h = HRTF.from_sofa(path, sample_rate)
    if file is not None:
        _write_disk_cache(file, h)
    return h
