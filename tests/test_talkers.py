"""Talkers at once (binauralize/models/talkers.py, --model speech): each voice learned where it is heard alone,
the overlap taken apart, and each part placed along its own talker's track."""
import numpy as np
import pytest

from binauralize.dsp.nmf import kl_nmf
from binauralize.models.talkers import TalkerSplitOptions, overlap_seconds, split_talkers
from binauralize.tracks import SourceTrack

SR = 16000


def voice(seconds: float, f0: float, formant: float, seed: int) -> np.ndarray:
    """A voice-like test signal: a harmonic complex on ``f0`` (with vibrato) under a resonance at ``formant`` Hz,
    in 0.25-s syllables with short pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t + rng.uniform(0, 6)))
    ph = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * ph) / (1 + ((k * f0 - formant) / 300) ** 2) for k in range(1, int(7000 / f0)))
    syll = (np.sin(2 * np.pi * 2 * t + rng.uniform(0, 6)) > -0.6).astype(float)
    return x * syll / np.std(x)


def weighted(name, az, times, weights):
    t = SourceTrack.static(az, name=name)
    t.weight_times, t.weight = np.asarray(times, float), np.asarray(weights, float)
    return t


def si_sdr(est, ref):
    a = np.dot(est, ref) / np.dot(ref, ref)
    return 10 * np.log10(np.sum((a * ref) ** 2) / np.sum((est - a * ref) ** 2))


@pytest.fixture(scope="module")
def conversation():
    """A alone 0-3 s, B alone 3-6 s, both 6-9 s; A on the left (+60), B on the right (-60)."""
    a, b = voice(9.0, 130.0, 700.0, 1), voice(9.0, 230.0, 2200.0, 2)
    n = 3 * SR
    sa = np.concatenate([a[:n], np.zeros(n), a[n:2 * n]])
    sb = np.concatenate([np.zeros(n), b[:n], b[n:2 * n]])
    tracks = [weighted("voice A", 60.0, [0, 2.95, 3.0, 5.95, 6.0], [1, 1, 0, 0, 1]),
              weighted("voice B", -60.0, [0, 2.95, 3.0, 6.0], [0, 0, 1, 1])]
    return sa, sb, tracks


def test_kl_nmf_learns_the_atoms_of_a_nonnegative_product():
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (40, 3))
    w[rng.uniform(size=w.shape) < 0.5] = 0.0
    v = w @ rng.uniform(0, 1, (3, 300))
    got = kl_nmf(v, 3, iters=800, dtype=np.float64)
    np.testing.assert_allclose(got.sum(axis=0), 1.0, atol=1e-9)
    # every true atom (normalised) is matched by a learned one
    wn = w / w.sum(axis=0)
    corr = (wn / np.linalg.norm(wn, axis=0)).T @ (got / np.linalg.norm(got, axis=0))
    assert corr.max(axis=1).min() > 0.98


def test_the_overlap_is_separated_and_the_parts_sum_to_the_mono(conversation):
    sa, sb, tracks = conversation
    x = sa + sb
    parts, said = split_talkers(x, SR, tracks)
    assert parts is not None and parts.shape == (3, len(x)), said
    np.testing.assert_allclose(parts.sum(axis=0), x, atol=1e-9)
    o = slice(6 * SR + 800, 9 * SR - 800)
    gain_a = si_sdr(parts[0][o], sa[o]) - si_sdr(x[o], sa[o])
    gain_b = si_sdr(parts[1][o], sb[o]) - si_sdr(x[o], sb[o])
    assert gain_a > 6 and gain_b > 6, (gain_a, gain_b)
    # alone: all of the sound is that talker's (away from the 50-ms weight changes and the STFT's edges)
    s = slice(int(0.5 * SR), int(2.5 * SR))
    np.testing.assert_allclose(parts[0][s], x[s], atol=1e-6 * np.max(np.abs(x)))
    s = slice(int(3.5 * SR), int(5.5 * SR))
    np.testing.assert_allclose(parts[1][s], x[s], atol=1e-6 * np.max(np.abs(x)))


def test_any_rate_and_any_order(conversation):
    import soxr

    sa, sb, tracks = conversation
    x = sa + sb
    p16 = split_talkers(x, SR, tracks)[0]
    swapped = split_talkers(x, SR, tracks[::-1])[0]
    np.testing.assert_allclose(swapped[[1, 0, 2]], p16, atol=1e-4 * np.max(np.abs(x)))
    x48 = soxr.resample(x, SR, 48000, quality="HQ")
    p48 = split_talkers(x48, 48000, tracks)[0]
    np.testing.assert_allclose(p48.sum(axis=0), x48, atol=1e-9)
    o = slice(int(6.1 * 48000), int(8.9 * 48000))
    a48 = soxr.resample(sa, SR, 48000, quality="HQ")
    assert si_sdr(p48[0][o], a48[o]) - si_sdr(x48[o], a48[o]) > 6


def test_no_overlap_or_too_little_of_a_voice_alone_is_refused(conversation):
    sa, sb, tracks = conversation
    x = sa + sb
    turns = [weighted("voice A", 60.0, [0, 2.95, 3.0, 5.95, 6.0], [1, 1, 0, 0, 1]),
             weighted("voice B", -60.0, [0, 2.95, 3.0, 5.95, 6.0], [0, 0, 1, 1, 0])]
    assert overlap_seconds(turns) == 0.0
    parts, why = split_talkers(x, SR, turns)
    assert parts is None and "same time" in why
    assert overlap_seconds(tracks) == float("inf")  # together from 6 s to the end
    parts, why = split_talkers(x, SR, tracks, TalkerSplitOptions(solo_min_s=4.0))
    assert parts is None and "voice A" in why and "alone" in why
    static = [SourceTrack.static(60.0, name="voice A"), SourceTrack.static(-60.0, name="voice B")]
    assert split_talkers(x, SR, static)[0] is None  # both all the time: no voice heard alone


def test_speech_model_puts_each_voice_on_its_own_side(conversation):
    """--model speech with two talkers at once and nothing else seen: in the overlap, the low voice's band leans
    left (its talker at +60) and the high voice's band right; sharing the voice by the weights (before) leaves
    both bands in the middle."""
    from scipy.signal import butter, sosfiltfilt

    from binauralize.api import Binauralizer
    from binauralize.models.speech import SpeechSpatializer

    sa, sb, tracks = conversation
    x = 0.1 * (sa + sb)
    b = Binauralizer()
    new = SpeechSpatializer(b.renderer).render(x, SR, tracks, t60=0.0)
    old = SpeechSpatializer(b.renderer, split_talkers=False).render(x, SR, tracks, t60=0.0)
    np.testing.assert_allclose(old, b.render(x, SR, tracks, t60=0.0), atol=1e-9)  # before: the renderer exactly
    o = slice(int(6.2 * SR), int(8.8 * SR))

    def ild(y, lo, hi):
        sos = butter(4, [lo, hi], "bandpass", fs=SR, output="sos")
        e = [np.sum(sosfiltfilt(sos, c[o]) ** 2) for c in y]
        return 10 * np.log10(e[0] / e[1])

    low_new, high_new = ild(new, 500, 900), ild(new, 1900, 2500)
    low_old, high_old = ild(old, 500, 900), ild(old, 1900, 2500)
    assert low_new > 3 and high_new < -3, (low_new, high_new)
    assert low_new - low_old > 2 and high_old - high_new > 2, (low_old, high_old)
    np.testing.assert_allclose(new.mean(axis=0)[: len(x)], x, atol=1e-6)  # the ears' average is still the input


def test_a_given_source_marked_as_a_voice_is_a_talker():
    from dataclasses import replace

    from binauralize.models.speech import is_talker

    def given(name, info):
        return replace(SourceTrack.static(0.0, name=name), info=info)

    assert is_talker(given("Ann", {"kind": "voice"})) and is_talker(given("Bob", {"class": "Speech"}))
    assert not is_talker(given("Rex", {"kind": "dog"})) and not is_talker(given("Ann", {}))


def test_the_command_line_says_what_it_took_apart(conversation, tmp_path, capsys):
    """Given turns (overlapping weights) and `--model speech`: the user is told where and how much was separated,
    and the written output puts the low voice's band on the left in the overlap."""
    import json

    import soundfile as sf

    from binauralize.cli import main

    sa, sb, _ = conversation
    sf.write(tmp_path / "talk.wav", 0.05 * (sa + sb), SR, subtype="FLOAT")
    (tmp_path / "turns.json").write_text(json.dumps({"sources": [
        {"name": "Ann", "azimuth": 60, "info": {"kind": "voice"},
         "weight": [[0, 1], [2.95, 1], [3.0, 0], [5.95, 0], [6.0, 1]]},
        {"name": "Bob", "azimuth": -60, "info": {"kind": "voice"}, "weight": [[0, 0], [2.95, 0], [3.0, 1]]}]}))
    code = main([str(tmp_path / "talk.wav"), "-o", str(tmp_path / "out.wav"), "--model", "speech",
                 "--sources", str(tmp_path / "turns.json")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "talk at once, their voices are taken apart" in err and "speak at once for 3." in err, err
    y, sr = sf.read(tmp_path / "out.wav", always_2d=True)
    from scipy.signal import butter, sosfiltfilt

    o = slice(int(6.2 * sr), int(8.8 * sr))
    sos = butter(4, [500, 900], "bandpass", fs=sr, output="sos")
    e = [np.sum(sosfiltfilt(sos, y[o, c]) ** 2) for c in (0, 1)]
    assert 10 * np.log10(e[0] / e[1]) > 3


def _espeak(text: str, voice: str, pitch: int, tmp) -> np.ndarray:
    import shutil
    import subprocess

    import soundfile as sf
    import soxr

    if shutil.which("espeak-ng") is None:
        pytest.skip("needs Debian's espeak-ng for speech (bash scripts/setup.sh --dataset)")
    path = tmp / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", "150", "-w", str(path), text], check=True,
                   capture_output=True)
    x, sr = sf.read(path)
    x = soxr.resample(x, sr, SR)
    return x / np.sqrt(np.mean(x ** 2))


def test_talkers_at_once_beside_another_source(tmp_path):
    """With another source seen (a fan on the right), DeepFilterNet3's speech part is what is split between two
    speaking talkers (espeak-ng voices, one low, one high); the rest goes to the fan; the ears' average stays the
    input and, in the overlap, the low voice's band arrives first at the left ear, where its talker is (before the
    split it came from the right, with the high voice and the fan)."""
    from scipy.signal import butter, sosfiltfilt

    from binauralize.api import Binauralizer
    from binauralize.metrics.spatial import gcc_phat_itd
    from binauralize.models.speech import SpeechSpatializer

    text = "the quick brown fox jumps over the lazy dog while the band plays on in the old town square"
    a = _espeak(text, "en+m3", 20, tmp_path)
    b = _espeak(text[::-1], "en+f4", 90, tmp_path)  # other words, another voice
    n = int(3.5 * SR)
    m = min(len(a), len(b), 2 * n)
    sa = np.concatenate([a[:n], np.zeros(n), a[n:m]])
    sb = np.concatenate([np.zeros(n), b[:n], b[n:m]])
    t1, t2 = n / SR, 2 * n / SR
    tracks = [weighted("voice A", 60.0, [0, t1 - 0.05, t1, t2 - 0.05, t2], [1, 1, 0, 0, 1]),
              weighted("voice B", -60.0, [0, t1 - 0.05, t1, t2], [0, 0, 1, 1])]
    noise = np.random.default_rng(3).standard_normal(len(sa))
    x = 0.05 * (sa + sb) + 0.005 * noise
    everything = tracks + [SourceTrack.static(-20.0, name="fan")]
    sp = SpeechSpatializer(Binauralizer().renderer)
    y = sp.render(x, SR, everything, t60=0.0)
    assert sp.talker_split and "speak at once" in sp.talker_split, sp.talker_split
    np.testing.assert_allclose(y.mean(axis=0), x, atol=1e-6)
    before = SpeechSpatializer(Binauralizer().renderer, split_talkers=False).render(x, SR, everything, t60=0.0)
    o = slice(int(t2 * SR) + 2000, len(x) - 2000)
    sos = butter(4, [250, 500], "bandpass", fs=SR, output="sos")  # the low voice's harmonics, under the high's

    def itd(z):
        return gcc_phat_itd(sosfiltfilt(sos, z[0, o]), sosfiltfilt(sos, z[1, o]), SR)

    assert itd(y) > 200e-6 and itd(before) < 0, (itd(y), itd(before))  # positive: left ear first
