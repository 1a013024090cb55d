"""The output limiter: a loud tone is only made quieter (no harmonics, interaural level difference kept), the ceiling
is never passed, nothing changes below it, the gain comes down before a click and back after it, streaming in any
chunk sizes equals one pass, and the tool limits what it writes and says so."""
import json

import numpy as np
import soundfile as sf

from binauralize.api import LIMIT_THRESHOLD, Binauralizer
from binauralize.cli import main
from binauralize.dsp.limiter import LookaheadLimiter, limit
from binauralize.io.media import iter_audio
from binauralize.testing.clips import make_clip
from binauralize.tracks import SourceTrack

SR = 48000


def decode(path) -> np.ndarray:
    return np.concatenate(list(iter_audio(path)), axis=1)


def thd(x: np.ndarray, f0: int) -> float:
    """Total harmonic distortion (amplitude ratio, harmonics 2-9) of a steady tone at ``f0`` Hz over 1 s of ``x``."""
    s = x[SR // 2: SR // 2 + SR] * np.hanning(SR)
    mag = np.abs(np.fft.rfft(s))  # 1-Hz bins
    fund = mag[f0 - 3:f0 + 4].max()
    return float(np.sqrt(sum(mag[k * f0 - 3:k * f0 + 4].max() ** 2 for k in range(2, 10))) / fund)


def tone(f0: float, amps=(1.4, 0.7), seconds=2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.stack([a * np.sin(2 * np.pi * f0 * t) for a in amps])


def test_a_tone_too_loud_is_only_made_quieter():
    x = tone(1000)  # left ear 3.8 dB over the ceiling, right 6 dB below the left
    y, lim = limit(x, SR, ceiling=0.9)
    assert np.abs(y).max() <= 0.9 + 1e-12
    assert thd(y[0], 1000) < 1e-6  # a sample-wise clipper gives 13% here
    mid = slice(SR // 2, 3 * SR // 2)
    ild = 20 * np.log10(np.std(y[0, mid]) / np.std(y[1, mid]))
    assert abs(ild - 20 * np.log10(2.0)) < 1e-6  # both ears get the same gain
    assert abs(np.std(y[0, mid]) / np.std(x[0, mid]) - 0.9 / 1.4) < 1e-3  # the steady gain is ceiling / peak
    assert abs(lim.max_reduction_db - 20 * np.log10(1.4 / 0.9)) < 0.01


def test_a_loud_low_tone_gets_a_steady_gain_not_a_ripple():
    y, _ = limit(tone(50, (2.0, 2.0)), SR)
    assert np.abs(y).max() <= 0.9 + 1e-12
    assert thd(y[0], 50) < 1e-3


def test_below_the_ceiling_nothing_changes():
    x = np.random.default_rng(0).uniform(-0.89, 0.89, (2, SR))
    y, lim = limit(x, SR, ceiling=0.9)
    assert np.array_equal(y, x) and lim.samples_reduced == 0 and lim.max_reduction_db == 0.0


def test_the_gain_comes_down_before_a_click_and_back_after_it():
    x = np.full((2, SR), 0.1)
    t0 = SR // 2
    x[:, t0] = 1.8  # one sample 6 dB over the ceiling
    lim = LookaheadLimiter(SR, ceiling=0.9, lookahead_s=0.002, hold_s=0.012, release_db_per_s=200.0)
    y = np.concatenate(list(lim.process([x])), axis=1)
    gain = y[0] / x[0]
    assert abs(y[0, t0] - 0.9) < 1e-6  # exactly at the ceiling at the click
    a = int(0.002 * SR)
    assert np.all(gain[:t0 - a - 1] == 1.0)  # untouched until the look-ahead before it
    assert 0.5 < gain[t0 - a // 2] < 1.0  # coming down
    back = t0 + int((0.012 + 6.02 / 200.0 + 0.002) * SR) + 2  # hold, release of 6 dB, smoothing
    assert np.all(gain[back:] == 1.0) and np.all(gain[t0 + 1:t0 + int(0.012 * SR)] < 0.51)  # held, then released
    trace = lim.trace_db  # the largest reduction per 50-ms frame: the click's frame, and the release after it
    assert len(trace) == 20 and abs(trace[t0 // lim.trace_hop] - 20 * np.log10(2.0)) < 1e-6
    assert np.count_nonzero(trace) <= 2 and lim.samples_reduced < int(0.06 * SR)


def test_a_broken_sample_stays_one_broken_sample():
    x = np.full((2, SR // 10), 0.1)
    x[0, 1000], x[0, 3000], x[1, 3000] = np.inf, np.nan, 5.0  # and the other ear's peak beside a NaN
    with np.errstate(all="raise"):
        y, _ = limit(x, SR)
    bad = ~np.isfinite(y)
    assert bad.sum() == 2 and bad[0, 1000] and bad[0, 3000]
    assert np.abs(y[np.isfinite(y)]).max() <= 0.9 + 1e-12


def test_a_producer_may_reuse_its_buffer():
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2, SR))  # nothing limited: the fast path

    def reused(n=4000):
        buf = np.empty((2, n))
        for i in range(0, x.shape[1], n):
            m = min(n, x.shape[1] - i)
            buf[:, :m] = x[:, i:i + m]
            yield buf[:, :m]

    y = np.concatenate(list(LookaheadLimiter(SR).process(reused())), axis=1)
    assert np.array_equal(y, x)


def test_streaming_in_any_chunk_sizes_equals_one_pass():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3 * SR)) * 0.5  # limited often
    one, _ = limit(x, SR)
    sizes = [0, 1, 7, 95, 1, 20000, 3, 50000]
    chunks, pos = [], 0
    for n in sizes * 20:
        chunks.append(x[:, pos:pos + n])
        pos += n
        if pos >= x.shape[1]:
            break
    chunks.append(x[:, pos:])
    lim = LookaheadLimiter(SR)
    out = np.concatenate(list(lim.process(chunks)), axis=1)
    assert out.shape == x.shape and np.abs(out - one).max() < 1e-12
    assert np.abs(out).max() <= 0.9 + 1e-12
    assert list(LookaheadLimiter(SR).process([])) == []


def test_the_tool_limits_what_it_writes_and_keeps_the_level_difference(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 2 * SR
    mono = np.clip(rng.standard_normal(n) * 0.3, -0.98, 0.98)  # loud: the nearer ear passes full scale
    wav = make_clip(tmp_path / "loud.mkv", seconds=2.0, audio=mono[None].astype(np.float32), acodec="flac")
    mono = decode(wav)[0]  # as the tool reads it (FLAC: the input to 24 bits)
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"sources": [{"name": "s", "azimuth": 60}]}))
    out, rep = tmp_path / "out.wav", tmp_path / "rep.json"
    png = tmp_path / "p.png"  # the preview draws where the limiter worked (the PNG's third panel)
    assert main([str(wav), "-o", str(out), "--sources", str(src), "--report", str(rep), "--preview", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    err = capsys.readouterr().err
    assert "look-ahead limiter lowered both ears alike" in err
    y, sr = sf.read(out)
    assert sr == SR and y.shape == (n, 2) and np.abs(y).max() <= LIMIT_THRESHOLD + 1e-6
    r = json.loads(rep.read_text())["limiter"]
    assert r["seconds_reduced"] > 0.1 and r["max_reduction_db"] > 1.0
    free = Binauralizer().render(mono, SR, [SourceTrack.static(60.0)])  # the renderer's own output, not limited
    assert np.abs(free).max() > 1.0
    frames = slice(SR // 4, n - SR // 4)
    ild_free = 20 * np.log10(np.std(free[0, frames]) / np.std(free[1, frames]))
    ild_out = 20 * np.log10(np.std(y[frames, 0]) / np.std(y[frames, 1]))
    assert ild_free > 3.0 and abs(ild_out - ild_free) < 0.1


def test_no_limit_writes_the_renderer_s_samples_to_a_float_wav_only(tmp_path, capsys):
    mono = np.clip(np.random.default_rng(4).standard_normal(SR) * 0.3, -0.98, 0.98)
    clip = make_clip(tmp_path / "loud.mkv", seconds=1.0, audio=mono[None].astype(np.float32), acodec="flac")
    mono = decode(clip)[0]
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"sources": [{"name": "s", "azimuth": 60}]}))
    out, rep = tmp_path / "free.wav", tmp_path / "rep.json"
    assert main([str(clip), "-o", str(out), "--sources", str(src), "--no-limit", "--report", str(rep)]) == 0
    assert "--no-limit: the output peaks at +" in capsys.readouterr().err
    y, _ = sf.read(out)
    free = Binauralizer().render(mono, SR, [SourceTrack.static(60.0)])
    assert np.abs(y).max() > 1.0 and np.abs(y.T - free).max() < 1e-6  # float WAV: the renderer's samples
    assert json.loads(rep.read_text())["limiter"]["off"] is True
    for bad in ("free.flac", "free.mp4"):  # fixed-point or lossy: refused before any work, one line
        assert main([str(clip), "-o", str(tmp_path / bad), "--sources", str(src), "--no-limit", "-q"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "only a .wav output" in err[0] and not (tmp_path / bad).exists()
    folder = tmp_path / "batch"  # a folder output keeps each input's format: refused before anything is made
    other = tmp_path / "loud2.mkv"
    other.write_bytes(clip.read_bytes())
    assert main([str(clip), str(other), "-o", str(folder) + "/", "--sources", str(src), "--no-limit", "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-limit writes float .wav only" in err[0] and not folder.exists()
