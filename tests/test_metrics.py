"""Metrics with known answers."""
import numpy as np
import pytest

from binauralize.metrics import signal as S
from binauralize.metrics.spatial import (azimuth_from_itd, cues_over_time, direction_metrics, gcc_phat_itd, ild_db,
                                         interaural_coherence, lateral_class, mono_compatibility_db)


@pytest.fixture
def pair(rng):
    x = rng.standard_normal(16000) * 0.1
    return np.stack([x, np.roll(x, 5) * 0.5])


def test_identical_signals_score_zero(pair):
    m = S.all_signal_metrics(pair, pair, 16000)
    for k in ("gao2019/stft", "gao2019/env", "pseudobinaural/mag", "pseudobinaural/dphase", "richard2021/wave_l2_x1e3",
              "richard2021/amplitude", "richard2021/phase", "mrstft/distance"):
        assert m[k] == pytest.approx(0.0, abs=1e-9), k


def test_channel_swap(pair):
    """Swapping the channels of a symmetric signal leaves the STFT distance alone; D_phase and azimuth flip."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000) * 0.1
    sym = np.stack([x, x])
    assert S.stft_distance(sym[::-1], sym) == pytest.approx(0.0)
    swapped = pair[::-1]
    assert S.phase_difference_distance(swapped, pair) > 2.5  # the L-R difference flips sign: phase off by ~pi
    a = direction_metrics(pair, 16000, 30.0)
    b = direction_metrics(swapped, 16000, 30.0)
    assert a["lcr_accuracy"] == 1.0 and b["lcr_accuracy"] == 0.0
    assert b["azimuth_err_deg"] > 40


def test_pure_delay_gives_itd():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(8000)
    for d in (3, -7, 10):
        left = x
        right = np.roll(x, d)  # right lags by d samples when d > 0 -> left leads -> ITD = +d/fs
        assert gcc_phat_itd(left, right, 16000) == pytest.approx(d / 16000, abs=1 / (16 * 16000))


def test_itd_of_a_band_limited_recording_ignores_the_empty_band():
    """Content below 4 kHz with a 6-sample ITD at 48 kHz (a true delay, not a circular shift): the textbook
    GCC-PHAT reads the rectangular frame's leakage in the empty band and misses; with the Hann taper (and the
    floor) the ITD is found. Also with a common residue 90 dB down in both ears (a codec's, zero lag)."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(7)
    sr = 48000
    x = sosfiltfilt(butter(8, 4000, fs=sr, output="sos"), rng.standard_normal(4806))
    left, right = x[6:], x[:-6]  # right lags: the left ear leads
    assert gcc_phat_itd(left, right, sr) == pytest.approx(6 / sr, abs=1 / (16 * sr))
    assert abs(gcc_phat_itd(left, right, sr, floor_db=None, taper=False) - 6 / sr) > 2 / sr
    floor = 10 ** (-90 / 20) * np.std(x) * rng.standard_normal(4800)
    assert gcc_phat_itd(left + floor, right + floor, sr) == pytest.approx(6 / sr, abs=1 / (16 * sr))


def test_ild_and_iacc_known_answers():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(16000)
    assert ild_db(x, 0.5 * x, 16000) == pytest.approx(20 * np.log10(2), abs=1e-9)
    assert interaural_coherence(np.stack([x, x]), 16000) == pytest.approx(1.0)
    y = rng.standard_normal(16000)
    assert interaural_coherence(np.stack([x, y]), 16000) < 0.1


def test_stft_distance_hand_computed():
    """A small example against the definition written out with numpy's FFT."""
    rng = np.random.default_rng(4)
    p = rng.standard_normal((2, 1600))
    g = rng.standard_normal((2, 1600))
    total = 0.0
    w = np.zeros(512)
    w[56:456] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    for c in range(2):
        fp = np.pad(p[c], 256, mode="reflect")
        fg = np.pad(g[c], 256, mode="reflect")
        frames = 1 + (len(fp) - 512) // 160
        acc, count = 0.0, 0
        for i in range(frames):
            a = np.fft.rfft(fp[i * 160: i * 160 + 512] * w)
            b = np.fft.rfft(fg[i * 160: i * 160 + 512] * w)
            acc += np.sum((a.real - b.real) ** 2) + np.sum((a.imag - b.imag) ** 2)
            count += 2 * len(a)
        total += acc / count
    assert S.stft_distance(p, g) == pytest.approx(total, rel=1e-12)


def test_stft_distance_splits_exactly_into_sum_and_difference_parts():
    """sum part + diff part = the STFT distance; an error only in L-R (a swapped, asymmetric pair keeps L+R) lands
    in the diff part, a common error in both ears (same added noise) only in the sum part."""
    rng = np.random.default_rng(5)
    g = rng.standard_normal((2, 4000))
    p = g + 0.3 * rng.standard_normal((2, 4000))
    s_part, d_part = S.stft_distance_split(p, g)
    assert s_part + d_part == pytest.approx(S.stft_distance(p, g), rel=1e-12)
    s_part, d_part = S.stft_distance_split(g[::-1], g)
    assert s_part == pytest.approx(0.0, abs=1e-12) and d_part == pytest.approx(S.stft_distance(g[::-1], g), rel=1e-12)
    common = g + 0.3 * rng.standard_normal(4000)
    s_part, d_part = S.stft_distance_split(common, g)
    assert d_part == pytest.approx(0.0, abs=1e-12) and s_part > 0.01
    m = S.all_signal_metrics(p, g, 16000)
    assert m["gao2019/stft_sum"] + m["gao2019/stft_diff"] == pytest.approx(m["gao2019/stft"], rel=1e-6)  # float32 after resampling


def test_stft_distance_at_the_best_level():
    """A scaled copy scores zero; scaling the prediction changes nothing; an uncorrelated prediction scores the
    ground truth's energy (what silence scores), below its plain distance."""
    rng = np.random.default_rng(6)
    g = rng.standard_normal((2, 4000))
    assert S.stft_distance_best_level(0.3 * g, g) == pytest.approx(0.0, abs=1e-9)
    p = g + rng.standard_normal((2, 4000))
    assert S.stft_distance_best_level(5 * p, g) == pytest.approx(S.stft_distance_best_level(p, g), rel=1e-9)
    assert S.stft_distance_best_level(p, g) < S.stft_distance(p, g)
    u = rng.standard_normal((2, 4000))
    silence = S.stft_distance(np.zeros_like(g), g)
    assert S.stft_distance_best_level(u, g) == pytest.approx(silence, rel=0.02)
    assert S.stft_distance_best_level(-g, g) == pytest.approx(silence)  # no negative gains


def test_pinned_regression_values():
    rng = np.random.default_rng(1234)
    gt = rng.standard_normal((2, 8000)) * 0.1
    pred = gt + rng.standard_normal((2, 8000)) * 0.05
    m = S.gao2019_metrics(pred, gt, 16000)
    assert m["stft"] == pytest.approx(1.7231463, rel=1e-6)
    assert m["env"] == pytest.approx(0.2047084, rel=1e-6)


def test_woodworth_and_classes():
    assert azimuth_from_itd(0.0)[0] == 0.0
    itd90 = 0.0875 / 343 * (np.pi / 2 + 1)
    assert azimuth_from_itd(itd90)[0] == pytest.approx(90, abs=0.1)
    assert azimuth_from_itd(-itd90)[0] == pytest.approx(-90, abs=0.1)
    np.testing.assert_array_equal(lateral_class([30, 5, -40]), [1, 0, -1])


def test_mono_compatibility():
    x = np.random.default_rng(5).standard_normal(1000)
    assert mono_compatibility_db(np.stack([x + 0.1, x - 0.1]), x) <= -119
    assert mono_compatibility_db(np.stack([x, 0 * x]), x) == pytest.approx(10 * np.log10(0.25), abs=1e-6)


def test_cues_over_time_sign(rng):
    x = rng.standard_normal(16000)
    c = cues_over_time(np.stack([x, np.roll(x, 4) * 0.5]), 16000)
    assert np.all(c["itd"][c["active"]] > 0) and np.all(c["ild"][c["active"]] > 5)


def test_cues_against_tracks_known_answers():
    """Frames whose ITD is Woodworth's for 30 deg left and whose ILD is +3 dB agree with a track at +30 deg (zero
    error) and disagree with one at -30 deg on both cues; an ILD inside +-0.5 dB leans nowhere."""
    from binauralize.metrics.spatial import HEAD_RADIUS_M, SPEED_OF_SOUND, cues_against_tracks
    from binauralize.tracks import SourceTrack

    th = np.deg2rad(30.0)
    itd = HEAD_RADIUS_M / SPEED_OF_SOUND * (th + np.sin(th))
    n = 20
    cues = {"time": (np.arange(n) + 0.5) * 0.1, "itd": np.full(n, itd), "ild": np.full(n, 3.0),
            "active": np.ones(n, bool)}
    left = cues_against_tracks(cues, [SourceTrack.static(30.0)])
    assert left["lcr_agreement"] == 1.0 and left["ild_side_agreement"] == 1.0
    assert left["median_abs_err_deg"] == pytest.approx(0.0, abs=0.1)
    right = cues_against_tracks(cues, [SourceTrack.static(-30.0)])
    assert right["lcr_agreement"] == 0.0 and right["ild_side_agreement"] == 0.0
    assert right["median_abs_err_deg"] == pytest.approx(60.0, abs=0.2)
    cues["ild"] = np.full(n, 0.3)
    assert cues_against_tracks(cues, [SourceTrack.static(30.0)])["ild_side_agreement"] == 0.0
