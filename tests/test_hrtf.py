import numpy as np
import pytest

from binauralize.dsp.hrtf import HRTF
from binauralize.errors import InputError


def _energy_db(h):
    return 10 * np.log10(np.sum(h**2))


def _onset(h):
    env = np.abs(h)
    return np.argmax(env >= 0.2 * env.max())


def test_left_source_left_ear_earlier_and_louder(hrtf48):
    h = hrtf48.hrir(90, 0)
    assert _energy_db(h[0]) - _energy_db(h[1]) > 6
    assert _onset(h[0]) < _onset(h[1])
    h = hrtf48.hrir(-90, 0)
    assert _energy_db(h[1]) - _energy_db(h[0]) > 6
    assert _onset(h[1]) < _onset(h[0])


def test_front_is_symmetric(hrtf48):
    h = hrtf48.hrir(0, 0)
    assert abs(_energy_db(h[0]) - _energy_db(h[1])) < 1.0
    assert abs(hrtf48.itd_seconds(0, 0)) < 30e-6


def test_itd_within_head_size_limits(hrtf48):
    itds = np.array([hrtf48.itd_seconds(az, 0) for az in range(-180, 181, 10)])
    assert np.all(np.abs(itds) < 0.9e-3)  # a human/KEMAR head: at most ~0.7-0.8 ms
    assert 0.5e-3 < abs(hrtf48.itd_seconds(90, 0)) < 0.9e-3
    assert hrtf48.itd_seconds(60, 0) < 0 < hrtf48.itd_seconds(-60, 0)  # left source: left onset earlier
    # monotonic growth from front to side
    side = [abs(hrtf48.itd_seconds(a, 0)) for a in (0, 20, 40, 60, 80)]
    assert all(b > a for a, b in zip(side, side[1:]))


def test_interpolation_is_continuous(hrtf48):
    a = hrtf48.spectra(31.0, 0)
    b = hrtf48.spectra(31.5, 0)
    rel = np.linalg.norm(np.abs(a) - np.abs(b)) / np.linalg.norm(np.abs(a))
    assert rel < 0.05


def test_resampled_to_any_rate():
    for sr in (8000, 44100, 192000):
        h = HRTF.default(sr)
        assert h.sample_rate == sr
        assert h.itd_seconds(90) == pytest.approx(HRTF.default(48000).itd_seconds(90), abs=max(30e-6, 1.0 / sr))


def test_sofa_round_trip(tmp_path):
    """A SOFA file written with sofar (2 directions, cartesian positions) loads with the right directions."""
    import sofar

    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    ir = np.zeros((2, 2, 64))
    ir[0, 0, 5], ir[0, 1, 10] = 1.0, 0.5  # source at +90 (left): left ear first and louder
    ir[1, 1, 5], ir[1, 0, 10] = 1.0, 0.5  # source at -90
    sofa.Data_IR = ir
    sofa.Data_SamplingRate = 48000
    sofa.SourcePosition = [[0, 1, 0], [0, -1, 0]]
    sofa.SourcePosition_Type = "cartesian"
    sofa.SourcePosition_Units = "metre"
    path = tmp_path / "tiny.sofa"
    sofar.write_sofa(str(path), sofa)
    h = HRTF.from_sofa(path)
    np.testing.assert_allclose(np.sort(h.azimuth), [-90, 90], atol=1e-9)
    assert h.itd_seconds(90) < 0 < h.itd_seconds(-90)


def test_bad_sofa(tmp_path):
    p = tmp_path / "bad.sofa"
    p.write_bytes(b"not a netcdf file at all")
    with pytest.raises(InputError):
        HRTF.from_sofa(p)
    with pytest.raises(InputError):
        HRTF.from_sofa(tmp_path / "missing.sofa")


def _tiny_sofa(path, sr=44100):
    import sofar

    sofa = sofar.Sofa("SimpleFreeFieldHRIR")
    ir = np.zeros((3, 2, 64))
    ir[0, 0, 5], ir[0, 1, 10] = 1.0, 0.5  # +90 (left)
    ir[1, 1, 5], ir[1, 0, 10] = 1.0, 0.5  # -90
    ir[2, 0, 7], ir[2, 1, 7] = 1.0, 1.0  # front
    sofa.Data_IR = ir
    sofa.Data_SamplingRate = sr
    sofa.SourcePosition = [[90, 0, 1], [-90, 0, 1], [0, 0, 1]]
    sofar.write_sofa(str(path), sofa)
    return path


def test_disk_cache_gives_the_same_hrtf_and_survives_bad_files(tmp_path, monkeypatch):
    from binauralize.dsp import hrtf as mod

    monkeypatch.setenv("BINAURALIZE_CACHE_DIR", str(tmp_path / "cache"))
    path = str(_tiny_sofa(tmp_path / "tiny.sofa"))
    fresh = HRTF.from_sofa(path, 48000)  # resampled 44.1 -> 48 kHz, onsets detected
    mod._load_cached.cache_clear()
    first = HRTF.load(path, 48000)  # computed, then written to the cache
    files = list((tmp_path / "cache" / "hrtf").glob("*.npz"))
    assert len(files) == 1 and "-48000-" in files[0].name
    mod._load_cached.cache_clear()
    second = HRTF.load(path, 48000)  # read back
    for h in (first, second):
        for attr in ("irs", "azimuth", "elevation", "onsets", "_delay", "_mag"):
            np.testing.assert_array_equal(getattr(h, attr), getattr(fresh, attr))
        assert h.sample_rate == 48000 and h.name == "tiny.sofa"
    assert second.itd_seconds(90) < 0 < second.itd_seconds(-90)

    files[0].write_bytes(b"truncated")  # a damaged cache file is ignored and rewritten
    mod._load_cached.cache_clear()
    np.testing.assert_array_equal(HRTF.load(path, 48000).irs, fresh.irs)
    with np.load(files[0]) as z:
        np.testing.assert_array_equal(z["irs"], fresh.irs)

    # other contents (same path) or another rate: another entry, never the stale one; also within one process
    # (no cache_clear: a long-running program sees the edited file)
    _tiny_sofa(tmp_path / "tiny.sofa", sr=48000)
    assert HRTF.load(path, 48000).irs.shape[-1] == 64  # no resampling at the file's own rate
    HRTF.load(path, 32000)
    assert len(list((tmp_path / "cache" / "hrtf").glob("*.npz"))) == 3
    mod._load_cached.cache_clear()


def test_disk_cache_off(tmp_path, monkeypatch):
    from binauralize.dsp import hrtf as mod

    monkeypatch.setenv("BINAURALIZE_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = str(_tiny_sofa(tmp_path / "tiny.sofa"))
    mod._load_cached.cache_clear()
    HRTF.load(path, 48000)
    mod._load_cached.cache_clear()
    assert not (tmp_path / "xdg").exists()


def test_resampled_sets_keep_their_gain():
    """Resampling an HRIR set must not change its frequency response: the bundled set at 16, 24 and 48 kHz has the
    same magnitude at 1 and 4 kHz (it scaled with the rate ratio: -8.8 dB at 16 kHz against 48 kHz)."""
    ref = None
    for sr in (16000, 24000, 48000):
        h = HRTF.default(sr)
        spec = h.spectra(30.0, 0.0)
        mag = [20 * np.log10(np.abs(spec[:, np.argmin(np.abs(h.freqs - f))])) for f in (1000.0, 4000.0)]
        if ref is None:
            ref = mag
        np.testing.assert_allclose(mag, ref, atol=0.5)


def test_itd_ignores_a_weak_early_arrival():
    """Onsets by a threshold follow pre-ringing or a weak first arrival (some measured sets gave ITDs of the wrong
    sign that way); the ITD must follow the pair's main arrivals."""
    sr, taps = 48000, 256
    t = np.arange(taps)
    az = np.arange(-90, 91, 15.0)
    irs = np.zeros((len(az), 2, taps))
    true_itd = -0.6e-3 * np.sin(np.deg2rad(az))  # left arrival minus right: negative when the left ear is first
    for i, a in enumerate(az):
        for ear, sign in ((0, 1), (1, -1)):
            d = 96 + sign * true_itd[i] * sr / 2
            pulse = lambda c: np.sinc(t - c) * np.exp(-(((t - c) / 8) ** 2))  # noqa: E731
            irs[i, ear] = pulse(d) + (0.2 * pulse(d - 30) if ear == 0 else 0)  # a -14 dB echo 0.6 ms early, left
    h = HRTF(irs, az, np.zeros_like(az), sr)
    got = np.array([h.itd_seconds(a) for a in az])
    np.testing.assert_allclose(got, true_itd, atol=40e-6)
    assert np.all(np.diff(got) < 0)  # monotonic: more to the left, earlier at the left ear
