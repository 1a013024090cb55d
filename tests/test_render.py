import numpy as np
import pytest
from scipy.signal import oaconvolve

from binauralize.dsp.filters import side_spectrum
from binauralize.dsp.render import PLAIN, MonoMono, Renderer, RenderOptions, crossfaded_convolve
from binauralize.dsp.reverb import band_envelopes, estimate_t60, split_direct_reverberant
from binauralize.metrics.spatial import gcc_phat_itd, ild_db
from binauralize.tracks import SourceTrack

SR = 48000


def noise(rng, seconds=1.0):
    return rng.standard_normal(int(seconds * SR)) * 0.1


@pytest.mark.parametrize("options", [PLAIN, RenderOptions(reverb="off"), RenderOptions(t60=0.6)])
def test_left_source_leads_and_is_louder(hrtf48, rng, options):
    x = noise(rng)
    if options.t60:  # with the reverb split, a steady noise counts as reverberant: use separated bursts
        x = x * (np.arange(len(x)) % (SR // 4) < SR // 50)
    r = Renderer(hrtf48, options)
    for az, sign in ((60, 1), (-60, -1)):
        y = r.render(x, [SourceTrack.static(az)])
        assert sign * gcc_phat_itd(y[0], y[1], SR) > 200e-6
        assert sign * ild_db(y[0], y[1], SR) > 3


def test_front_gives_equal_ears(hrtf48, rng):
    x = noise(rng)
    y = Renderer(hrtf48, RenderOptions(reverb="off")).render(x, [SourceTrack.static(0)])
    assert np.max(np.abs(y[0] - y[1])) < 0.02 * np.max(np.abs(y))
    assert abs(gcc_phat_itd(y[0], y[1], SR)) < 30e-6


def test_static_plain_equals_direct_convolution(hrtf48, rng):
    x = noise(rng, 0.5)
    r = Renderer(hrtf48, PLAIN)
    y = r.render(x, [SourceTrack.static(35, 10)])
    h = np.fft.irfft(r._filter_spectrum(35, 10), n=r.nfft)[..., : r.length]
    ref = np.stack([oaconvolve(x, h[0])[: len(x)], oaconvolve(x, h[1])[: len(x)]])
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_mid_mode_keeps_the_mono(hrtf48, rng):
    x = noise(rng)
    track = SourceTrack("m", np.array([0.0, 1.0]), np.array([80.0, -80.0]), np.zeros(2), np.full(2, 2.0))
    y = Renderer(hrtf48, RenderOptions(t60=0.5)).render(x, [track])
    np.testing.assert_allclose(y.mean(axis=0), x, atol=1e-12)


def test_moving_source_has_no_clicks(hrtf48):
    """A 500 Hz tone moving from +90 to -90 in 1 s: the output stays a clean tone (no energy above 3 kHz),
    while switching filters without the crossfade would splatter."""
    t = np.arange(SR) / SR
    x = 0.5 * np.sin(2 * np.pi * 500 * t)
    track = SourceTrack("m", np.array([0.0, 1.0]), np.array([90.0, -90.0]), np.zeros(2), np.full(2, 2.0))
    r = Renderer(hrtf48, RenderOptions(reverb="off"))
    y = r.render(x, [track])
    f = np.fft.rfftfreq(SR, 1 / SR)
    seg = y[:, 2000:-2000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.shape[1]), n=SR, axis=-1)) ** 2
    hf = spec[:, f > 3000].sum() / spec.sum()
    assert hf < 1e-5
    # same filters without the crossfade (hard switch) would fail the check: the test can fail
    nb = SR // r.block
    spectra = r.block_spectra([track], 0, nb)
    hard = crossfaded_convolve(x[: nb * r.block], spectra, r.block, r.length)
    from binauralize.dsp import render as render_mod
    prev = np.concatenate([spectra[:1], spectra[:-1]])
    xp = np.concatenate([np.zeros(r.length - 1), x[: nb * r.block], np.zeros(r.nfft)])
    frames = np.lib.stride_tricks.sliding_window_view(xp, r.block + r.length - 1)[:: r.block][:nb]
    y_hard = np.fft.irfft(np.fft.rfft(frames, n=r.nfft)[:, None] * spectra, n=r.nfft)[..., r.length - 1: r.length - 1 + r.block]
    y_hard = y_hard.transpose(1, 0, 2).reshape(1, -1)[:, 2000:-2000]
    spec_h = np.abs(np.fft.rfft(y_hard * np.hanning(y_hard.shape[1]), n=SR, axis=-1)) ** 2
    assert spec_h[:, f > 3000].sum() / spec_h.sum() > 10 * hf
    assert hard.shape == (1, nb * r.block) and prev.shape == spectra.shape


def test_segmented_equals_whole(hrtf48, rng):
    x = noise(rng, 2.5)
    track = SourceTrack("m", np.array([0.0, 2.5]), np.array([70.0, -70.0]), np.zeros(2), np.full(2, 2.0))
    r = Renderer(hrtf48, RenderOptions(t60=0.6))
    whole = r.render(x, [track])
    chunks = [x[i: i + 3001] for i in range(0, len(x), 3001)]
    seg = np.concatenate(list(r.process(chunks, [track], t60=0.6, segment_s=0.4)), axis=1)
    assert seg.shape == whole.shape
    np.testing.assert_allclose(seg, whole, atol=1e-9)


def test_several_sources_sum_by_weight(hrtf48, rng):
    x = noise(rng)
    r = Renderer(hrtf48, RenderOptions(reverb="off"))
    both = r.render(x, [SourceTrack.static(60), SourceTrack.static(-60)])
    # symmetric pair of equal weights: no net lateralisation
    assert abs(ild_db(both[0], both[1], SR)) < 0.5
    left_only = SourceTrack.static(-60)
    left_only.weight = np.zeros(1)
    y = r.render(x, [SourceTrack.static(60), left_only])
    ref = r.render(x, [SourceTrack.static(60)])
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_side_ratio_is_bounded(hrtf48):
    h = hrtf48.spectra(90, 0)
    s = side_spectrum(h, 0.05)
    assert np.max(np.abs(s)) < 1 / (2 * np.sqrt(0.05)) + 1e-6


def test_mono_mono_is_identity(rng):
    x = noise(rng, 0.1)
    y = MonoMono().render(x)
    np.testing.assert_array_equal(y[0], x)
    np.testing.assert_array_equal(y[1], x)


def test_split_sums_to_input(rng):
    x = noise(rng, 1.0)
    d, r = split_direct_reverberant(x, SR, 0.6, start=12345)
    np.testing.assert_allclose(d + r, x, atol=1e-12)
    assert np.sum(r**2) > 0.05 * np.sum(x**2)  # a stationary noise is judged largely reverberant


def test_t60_estimate_tracks_the_room(rng):
    """Bursts through synthetic exponential-decay rooms: the blind estimate grows with the true T60."""
    bursts = np.zeros(SR * 8)
    for k in range(16):
        s = k * SR // 2
        bursts[s: s + SR // 10] = rng.standard_normal(SR // 10)
    ests = []
    for t60 in (0.3, 0.8):
        n = int(t60 * SR)
        ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        ir[0] = 30
        y = oaconvolve(bursts, ir)[: len(bursts)]
        ests.append(estimate_t60(band_envelopes(y, SR)))
    dry = estimate_t60(band_envelopes(bursts, SR))
    assert dry is None or dry < 0.2
    assert 0.15 < ests[0] < 0.5 and 0.45 < ests[1] < 1.3 and ests[1] > ests[0]


def test_synthetic_room_adds_reverberation_not_at_the_expense_of_direction(hrtf48, rng):
    from binauralize.dsp.room import RoomOptions
    from binauralize.metrics.spatial import interaural_coherence

    x = np.zeros(SR)
    x[1000:1480] = rng.standard_normal(480)  # a 10-ms burst, then silence
    dry = Renderer(hrtf48, RenderOptions(reverb="off")).render(x, [SourceTrack.static(50)])
    wet = Renderer(hrtf48, RenderOptions(reverb="off", room=RoomOptions(rt60=0.4))).render(x, [SourceTrack.static(50)])
    np.testing.assert_allclose(wet[:, :1150], dry[:, :1150], atol=1e-9)  # nothing before the first reflection
    tail = wet[:, 6000:]
    assert np.sum(tail**2) > 1e-3 * np.sum(wet**2)  # a decaying tail where the dry output is silent
    assert np.sum(dry[:, 6000:] ** 2) < 1e-12
    assert interaural_coherence(tail, SR) < 0.9  # the tail is diffuse
    assert gcc_phat_itd(wet[0, :3000], wet[1, :3000], SR) > 200e-6  # direct sound still from the left


def test_late_reverberation_has_the_frequency_dependent_coherence_of_a_diffuse_field(hrtf48):
    """The late tail follows the HRTF's diffuse-field coherence: near 1 at low frequency (the head is small
    against the wavelength), near 0 at high frequency, as measured BRIRs show; and keeps equal power per ear."""
    from scipy.signal import csd, welch

    from binauralize.dsp.room import RoomOptions, diffuse_noise_pair, reflections_brir

    def band_coherence(left, right, lo, hi):
        f, pxy = csd(left, right, SR, nperseg=1024)
        _, pxx = welch(left, SR, nperseg=1024)
        _, pyy = welch(right, SR, nperseg=1024)
        sel = (f >= lo) & (f < hi)
        return float(np.mean(np.real(pxy[sel]) / np.sqrt(pxx[sel] * pyy[sel])))

    freqs = np.array([0.0, 200.0, 700.0, 24000.0])
    target = np.array([1.0, 0.9, 0.0, 0.0])
    left, right = diffuse_noise_pair(np.random.default_rng(0), 4 * SR, freqs, target, SR)
    assert band_coherence(left, right, 50, 150) > 0.9
    assert abs(band_coherence(left, right, 2000, 8000)) < 0.05
    assert np.sum(left**2) == pytest.approx(np.sum(right**2), rel=0.05)
    brir = reflections_brir(hrtf48, 30.0, 0.0, 2.0, RoomOptions(size=(7.0, 5.0, 3.0), rt60=0.8))
    late = brir[:, int(0.08 * SR):int(0.6 * SR)]
    low, high = band_coherence(late[0], late[1], 60, 250), band_coherence(late[0], late[1], 2000, 8000)
    assert low > 0.6 and abs(high) < 0.2 and low > high + 0.5
    # through the raw HRTF (the dataset generator): the same room, coloured by the head's diffuse-field response
    raw = reflections_brir(hrtf48, 30.0, 0.0, 2.0, RoomOptions(size=(7.0, 5.0, 3.0), rt60=0.8), equalized=False)
    f = np.fft.rfftfreq(late.shape[1], 1 / SR)
    ratio = np.abs(np.fft.rfft(raw[:, int(0.08 * SR):int(0.6 * SR)])) ** 2 / np.abs(np.fft.rfft(late)) ** 2
    df = np.interp(f, hrtf48.freqs, hrtf48.diffuse_field_magnitude) ** 2
    for lo, hi in ((300, 1000), (1000, 3000), (3000, 8000)):
        sel = (f >= lo) & (f < hi)
        assert 10 * np.log10(np.median(ratio[:, sel]) / np.median(df[sel])) == pytest.approx(0.0, abs=1.0), (lo, hi)


def test_parts_rendering_equals_the_renderer_on_the_sum_and_the_sum_of_renders(hrtf48):
    """render_parts_segment (via process with track_sets): one split on the sum, one reverberant rendering.
    (a) every part along the same track: exactly the renderer on the sum (with the reverberant split on);
    (b) reverb off, different tracks: exactly the sum of the parts' own renders (the renderer is linear)."""
    sr = int(hrtf48.sample_rate)
    rng = np.random.default_rng(3)
    parts = rng.standard_normal((3, int(1.3 * sr))) * 0.1
    left, right = SourceTrack.static(60.0), SourceTrack.static(-60.0)
    for opts in (RenderOptions(), RenderOptions(timbre="none"), RenderOptions(reverb_itd=True, diffuse=1.0)):
        r = Renderer(hrtf48, opts)
        chunks = [parts[:, :15000], parts[:, 15000:15001], parts[:, 15001:]]  # odd chunk sizes, streamed
        y = np.concatenate(list(r.process(chunks, None, t60=0.6, track_sets=[[left]] * 3)), axis=1)
        np.testing.assert_allclose(y, r.render(parts.sum(0), [left], t60=0.6), atol=1e-9)
        dry = r.with_options(reverb="off")
        y = np.concatenate(list(dry.process([parts], None, track_sets=[[left], [right], [left, right]])), axis=1)
        ref = dry.render(parts[0], [left]) + dry.render(parts[1], [right]) + dry.render(parts[2], [left, right])
        np.testing.assert_allclose(y, ref, atol=1e-9)


def test_reverberant_part_with_the_itd_keeps_the_time_cue_and_the_mono(hrtf48, rng):
    """`reverb_itd`: in a reverberant recording (direct-to-reverberant ratio well below 0 dB) the default renders
    the reverberant part with no interaural delay, and the 100-ms ITD reads near 0; giving that part the direct
    filter's interaural phase (no level difference) brings the ITD back to the source's, and (L+R)/2 stays the
    input exactly."""
    from binauralize.dsp.filters import direct_filter_spectrum

    spec = direct_filter_spectrum(hrtf48, 50.0, 0.0, "mid", 512, phase_only=True)[0]
    spec = spec * np.exp(1j * np.pi * np.arange(spec.size) * 256 / 512)  # without the filter's bulk delay
    np.testing.assert_allclose(np.abs(1 + spec), np.abs(1 - spec), rtol=1e-6)  # no level difference
    n = int(0.9 * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.25
    ir[0] = 1.0  # DRR about -10 dB
    x = oaconvolve(noise(rng, 3.0), ir)[: 3 * SR]
    x /= np.max(np.abs(x))
    truth = hrtf48.itd_seconds(50.0)  # negative: left ear first
    frames = [slice(a, a + SR // 10) for a in range(SR, 3 * SR - SR // 10, SR // 10)]

    def median_itd(opts):
        y = Renderer(hrtf48, opts).render(x, [SourceTrack.static(50.0)], t60=0.9)
        np.testing.assert_allclose(y.mean(axis=0), x, atol=1e-9)
        return float(np.median([gcc_phat_itd(y[0, f], y[1, f], SR) for f in frames])), y

    with_itd, y = median_itd(RenderOptions(reverb_itd=True, diffuse=1.0))
    without, _ = median_itd(RenderOptions(diffuse=1.0))
    assert with_itd == pytest.approx(-truth, abs=100e-6)  # gcc_phat_itd: positive = left leads
    assert abs(without + truth) > abs(with_itd + truth) + 100e-6
    assert ild_db(y[0, SR:], y[1, SR:], SR) > 0  # still louder on the left: the direct part's level cue


def test_api_render_refuses_what_it_cannot_render():
    """Stereo arrays were silently concatenated into a twice-as-long 'mono'; now each misuse is a named error."""
    from binauralize import Binauralizer, SourceTrack
    from binauralize.errors import InputError, TracksError

    b = Binauralizer()
    m = np.random.default_rng(0).standard_normal(4800) * 0.1
    with pytest.raises(InputError, match="one channel"):
        b.render(np.stack([m, m]), 48000, [SourceTrack.static(30)])
    assert b.render(m[None], 48000, [SourceTrack.static(30)]).shape == (2, 4800)  # [1, T] is one channel
    with pytest.raises(InputError, match="empty"):
        b.render(np.zeros(0), 48000)
    with pytest.raises(InputError, match="sample_rate"):
        b.render(m, 0)
    with pytest.raises(TracksError, match="list of SourceTrack"):
        b.render(m, 48000, SourceTrack.static(30))
    bad = m.copy()
    bad[10] = np.nan  # a NaN sample spread to hundreds of output samples
    for args, words in (((bad, 48000), "NaN or infinite"), (((m * 32767).astype(np.int16), 48000), "x / 32768"),
                        ((None, 48000), "float audio"), ((m.astype(complex), 48000), "float audio"),
                        ((m, "48000"), "sample_rate"), ((m, float("nan")), "sample_rate"), ((m, 100), "sample_rate")):
        with pytest.raises(InputError, match=words):
            b.render(*args, [SourceTrack.static(30)])
    for t60 in (float("nan"), -1.0, 100.0, "0.5"):
        with pytest.raises(InputError, match="t60"):
            b.render(m, 48000, [SourceTrack.static(30)], t60=t60)
    with pytest.raises(InputError, match="RenderOptions"):
        Binauralizer(options={"timbre": "mid"})


def test_render_options_out_of_range_are_refused():
    """A negative regularization put a left source on the right; each setting is checked where it is made, and the
    error is both a ValueError (as before) and a BinauralizeError."""
    from binauralize.errors import BinauralizeError

    for bad in ({"regularization": -1.0}, {"regularization": 0.0}, {"block_ms": 0.0}, {"early_ms": 0.0},
                {"dry_below_t60": float("nan")}, {"diffuse": "1"}, {"timbre": "x"}):
        with pytest.raises(ValueError) as e:
            RenderOptions(**bad)
        assert isinstance(e.value, BinauralizeError), bad


def test_source_tracks_built_in_code_are_checked_like_json():
    """Decreasing times were interpolated as if sorted, an elevation of 200 deg mirrored the source; the dataclass
    now refuses what the JSON schema refuses, in one named error."""
    from binauralize.errors import TracksError

    one, two = np.zeros(1), np.zeros(2)
    for args, words in (((np.array([3.0, 1.0]), np.array([-60.0, 60]), two, np.full(2, 2.0)), "increasing"),
                        ((np.array([0.0, 1.0]), np.array([-60.0]), one, one + 2), "one value per time"),
                        ((np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)), "non-empty"),
                        ((one, np.array([30.0]), np.array([200.0]), one + 2), "elevation"),
                        ((one, np.array([30.0]), one, np.array([-1.0])), "distance")):
        with pytest.raises(TracksError, match=words):
            SourceTrack("a", *args)
    with pytest.raises(TracksError, match="weights"):
        SourceTrack("a", one, one, one, one + 2, one, np.array([-1.0]))
    with pytest.raises(TracksError, match="numbers"):
        SourceTrack.static(None)
    t = SourceTrack("a", [0.0, 1.0], [30, -30], [0, 0], [2, 2])  # lists are fine: kept as float arrays
    assert t.azimuth.dtype == float and t.at(0.5)[0][0] == pytest.approx(0.0)


def _short_hrir_set(sr=48000, taps=128):
    """A synthetic HRIR set with short responses (as many measured sets have): a delayed, scaled impulse per ear,
    ITD 0.65 ms x sin(az) (left leads for az > 0) and ILD 10 dB x sin(az)."""
    from binauralize.dsp.hrtf import HRTF

    az = np.arange(-180, 180, 15.0)
    irs = np.zeros((len(az), 2, taps))
    t = np.arange(taps)
    for i, a in enumerate(az):
        s = np.sin(np.deg2rad(a))
        itd = 0.65e-3 * s * sr  # samples
        for ear, sign in ((0, -1), (1, 1)):
            d = 48 + sign * itd / 2
            irs[i, ear] = np.sinc(t - d) * np.exp(-(((t - d) / 6) ** 2)) * 10 ** (-sign * 5 * s / 20)
    return HRTF(irs, az, np.zeros_like(az), sr, name="short")


@pytest.mark.parametrize("timbre", ["mid", "none"])
def test_short_hrirs_keep_their_cues(timbre):
    """The side filter of the default 'mid' timbre was delayed on the HRTF's own grid and then interpolated: with
    short HRIRs the phase aliased (no ILD, ITD zero or reversed, e.g. a KU100 set at 48 kHz). Every timbre must keep
    a short set's ITD and ILD."""
    sr = 48000
    h = _short_hrir_set(sr)
    x = np.random.default_rng(3).standard_normal(sr) * 0.1
    for az in (-60, -30, 30, 60):
        y = Renderer(h, RenderOptions(timbre=timbre, reverb="off")).render(x, [SourceTrack.static(az)])
        want = 0.65e-3 * np.sin(np.deg2rad(az))
        assert abs(gcc_phat_itd(y[0], y[1], sr) - want) < 60e-6, (az, gcc_phat_itd(y[0], y[1], sr), want)
        assert np.sign(ild_db(y[0], y[1], sr)) == np.sign(az) and abs(ild_db(y[0], y[1], sr)) > 3


@pytest.mark.parametrize("az", [30.0, 60.0, -90.0])
def test_mid_timbre_is_as_wide_as_the_hrtf_in_every_band(hrtf48, rng, az):
    """A dry noise at a lateral direction: the mono-referenced rendering keeps the input's tone but, with a small
    regularisation, has the plain HRTF convolution's side-to-mid ratio in every octave band (its side filter is the
    least-squares side of the pair from its mid); the default regularisation (0.05) takes up to a few dB of it
    (the side shrinks where the mid is weak); a frontal rendering is far narrower than a lateral truth."""
    from binauralize.evaluate import width_bands_db

    x = noise(rng, 2.0)
    track = [SourceTrack.static(az)]
    plain = Renderer(hrtf48, PLAIN).render(x, track)
    exact = width_bands_db(Renderer(hrtf48, RenderOptions(reverb="off", regularization=0.01)).render(x, track), plain, SR)
    assert set(exact) == {250, 500, 1000, 2000, 4000, 8000}
    assert all(abs(v) < 0.75 for v in exact.values()), exact
    default = width_bands_db(Renderer(hrtf48, RenderOptions(reverb="off")).render(x, track), plain, SR)
    assert all(-3.0 < d < e + 0.05 for d, e in zip(default.values(), exact.values())), (default, exact)
    centre = width_bands_db(Renderer(hrtf48, RenderOptions(reverb="off")).render(x, [SourceTrack.static(0.0)]), plain, SR)
    assert all(v < -10 for v in centre.values()), centre
