"""End-to-end CLI tests on generated clips: round trips, unusual valid input, and every kind of bad input."""
import json
import subprocess
import sys

import av
import numpy as np
import pytest

from binauralize.cli import main
from binauralize.io.media import iter_audio
from binauralize.metrics.spatial import gcc_phat_itd, ild_db
from binauralize.testing.clips import make_clip, noise_bursts


def run(args, capsys):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def packets(path, kind="video"):
    with av.open(str(path)) as c:
        s = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [(bytes(p), float(p.pts * p.time_base) if p.pts is not None else None) for p in c.demux(s) if p.size]


def decode(path):
    return np.concatenate(list(iter_audio(path)), axis=1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=1.5)


@pytest.fixture
def tracks_left(tmp_path):
    p = tmp_path / "left.json"
    p.write_text(json.dumps({"sources": [{"name": "s", "azimuth": 50}]}))
    return p


def test_round_trip_video_packets_identical(clip, tracks_left, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    rep = tmp_path / "rep.json"
    code, err = run([clip, "-o", out, "--sources", tracks_left, "--report", rep, "-q"], capsys)
    assert code == 0, err
    assert packets(out) == packets(clip)  # the picture is bit-identical, timestamps too
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.sample_rate == 48000 and a.codec_context.channels == 2
    y = decode(out)
    assert abs(y.shape[1] - 1.5 * 48000) < 4096
    assert gcc_phat_itd(y[0], y[1], 48000) > 200e-6 and ild_db(y[0], y[1], 48000) > 3
    r = json.loads(rep.read_text())
    assert r["tracks"]["sources"][0]["azimuth"] == 50 and r["sample_rate"] == 48000


def test_input_never_modified_and_no_overwrite(clip, tracks_left, tmp_path, capsys):
    before = clip.read_bytes()
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    code, err = run([clip, "-o", out, "--sources", tracks_left, "-q"], capsys)
    assert code == 1 and "--overwrite" in err and out.read_bytes() == b"precious"
    code, _ = run([clip, "-o", out, "--sources", tracks_left, "-q", "--overwrite"], capsys)
    assert code == 0 and out.read_bytes() != b"precious"
    assert clip.read_bytes() == before
    code, err = run([clip, "-o", clip, "-q", "--overwrite"], capsys)
    assert code == 1 and clip.read_bytes() == before
    assert not list(tmp_path.glob(".*partial*"))


def test_audio_only_outputs_keep_rate_and_direction(clip, tracks_left, tmp_path, capsys):
    import soundfile as sf

    for ext in ("wav", "flac"):
        out = tmp_path / f"o.{ext}"
        code, err = run([clip, "-o", out, "--sources", tracks_left, "-q"], capsys)
        assert code == 0, err
        y, sr = sf.read(out, always_2d=True)
        assert sr == 48000 and y.shape[1] == 2
        assert ild_db(y[:, 0], y[:, 1], sr) > 3


def test_lossless_and_mono_mono(clip, tmp_path, capsys):
    out = tmp_path / "o.mkv"
    code, err = run([clip, "-o", out, "--lossless", "--method", "mono", "-q"], capsys)
    assert code == 0, err
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "flac"
    y = decode(out)
    np.testing.assert_allclose(y[0], y[1])
    src = decode(clip).mean(axis=0)
    n = min(len(src), y.shape[1])
    # lossless + mono-mono: the output's channels equal the decoded input (up to 24-bit rounding)
    np.testing.assert_allclose(y[0, :n], src[:n], atol=1e-4)


@pytest.mark.parametrize("kw,ext", [
    (dict(sr=8000), ".mp4"),
    (dict(sr=192000, acodec="flac"), ".mkv"),
    (dict(channels=6, acodec="pcm_s16le"), ".mkv"),
    (dict(channels=6), ".mp4"),
    (dict(width=67, height=45, pix_fmt="yuv444p"), ".mkv"),
    (dict(width=48, height=96), ".mp4"),
    (dict(vfr=True, seconds=2.0), ".mkv"),
    (dict(vcodec="libvpx", acodec="libopus"), ".webm"),
    (dict(vcodec="mpeg4", acodec="mp3", sr=44100), ".avi"),
    (dict(vcodec="libx264", acodec="aac"), ".mov"),
])
def test_unusual_valid_inputs(tmp_path, capsys, kw, ext):
    src = make_clip(tmp_path / f"in{ext}", **kw)
    out = tmp_path / f"out{ext}"
    code, err = run([src, "-o", out], capsys)
    assert code == 0, err
    if ext == ".avi":  # AVI stores no presentation timestamps: compare the coded pictures only
        assert [p[0] for p in packets(out)] == [p[0] for p in packets(src)]
    else:
        assert packets(out) == packets(src)
    if kw.get("channels") == 6 and kw.get("acodec") == "pcm_s16le":
        assert "differ" not in err  # six identical channels (lossless): no spatial notice


def test_ten_minute_file(tmp_path, capsys):
    src = make_clip(tmp_path / "long.mkv", seconds=600, sr=8000, fps=1, width=32, height=32, acodec="pcm_s16le")
    out = tmp_path / "long_out.mkv"
    code, err = run([src, "-o", out, "-q"], capsys)
    assert code == 0, err
    y = decode(out)
    assert abs(y.shape[1] - 600 * 8000) < 8192


def test_spatial_input_gets_a_notice(tmp_path, capsys):
    a = noise_bursts(1.0, 48000, channels=2)
    a[1] = np.roll(a[1], 200)
    src = make_clip(tmp_path / "st.mp4", audio=a)
    code, err = run([src, "-o", tmp_path / "o.mp4"], capsys)
    assert code == 0 and "may already be spatial" in err


def test_separate_audio_file(tmp_path, capsys):
    vid = make_clip(tmp_path / "v.mp4", with_audio=False)
    aud = make_clip(tmp_path / "a.wav", video=False, acodec="pcm_s16le")
    code, err = run([vid, "-o", tmp_path / "o.mp4", "--audio", aud, "-q"], capsys)
    assert code == 0, err


def test_batch_into_folder(tmp_path, capsys):
    a = make_clip(tmp_path / "a.mp4")
    b = make_clip(tmp_path / "b.mkv")
    outdir = tmp_path / "out"
    code, err = run([a, b, "-o", outdir, "-q", "--jobs", "2"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in outdir.iterdir()) == ["a_binaural.mp4", "b_binaural.mkv"]


def _bad_wav_codec(path):
    """A WAV whose format tag names no real codec."""
    import struct

    data = b"\x00" * 400
    fmt = struct.pack("<HHIIHH", 0x0AAA, 1, 8000, 16000, 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt "
                     + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


def bad_inputs(tmp_path, clip):
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 3])
    corrupt = tmp_path / "corrupt.mp4"
    b = bytearray(clip.read_bytes())
    b[: 64] = b"\xff" * 64
    corrupt.write_bytes(bytes(b))
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "adir.mp4").mkdir()
    make_clip(tmp_path / "noaudio.mp4", with_audio=False)
    make_clip(tmp_path / "zero.wav", video=False, acodec="pcm_s16le", audio=np.zeros((1, 0), np.float32))
    _bad_wav_codec(tmp_path / "badcodec.wav")
    return {
        "missing": tmp_path / "nope.mp4", "directory": tmp_path / "adir.mp4", "not media": tmp_path / "text.mp4",
        "truncated": trunc, "corrupt": corrupt, "empty file": tmp_path / "empty.mp4",
        "no audio": tmp_path / "noaudio.mp4", "zero-length": tmp_path / "zero.wav",
        "unsupported codec": tmp_path / "badcodec.wav",
    }


def test_bad_inputs_one_line_error_no_output(clip, tmp_path, capsys):
    for what, path in bad_inputs(tmp_path, clip).items():
        out = tmp_path / f"out_{what.replace(' ', '_')}.wav"
        code, err = run([path, "-o", out], capsys)
        lines = [l for l in err.strip().splitlines() if l.strip()]
        assert code != 0, what
        assert "Traceback" not in err, what
        assert lines and lines[-1].startswith("binauralize: error:"), (what, err)
        assert not out.exists(), what
        assert not list(tmp_path.glob(".*partial*")), what


@pytest.mark.parametrize("content", [
    "{not json", '{"sources": [{"name": "x"}]}', '{"sources": [{"azimuth": "left"}]}',
    '{"sources": [{"track": [[1, 10], [0, 20]]}]}', '{"sources": [{"azimuth": 10, "distance": -1}]}',
    '{"foo": 1}', '[{"track": []}]', '{"sources": [{"azimuth": 10, "elevation": 120}]}',
    '{"sources": [{"azimuth": 10, "elevaton": 5}]}',
])
def test_malformed_tracks(clip, tmp_path, capsys, content):
    t = tmp_path / "t.json"
    t.write_text(content)
    out = tmp_path / "o.mp4"
    code, err = run([clip, "-o", out, "--sources", t], capsys)
    assert code == 1 and err.startswith("binauralize: error:") and "Traceback" not in err
    assert not out.exists()


def test_bad_output_choices(clip, tmp_path, capsys):
    code, err = run([clip, "-o", tmp_path / "o.xyz"], capsys)
    assert code == 1 and "unsupported output" in err
    code, err = run([clip, "-o", tmp_path / "missing_dir" / "o.mp4"], capsys)
    assert code == 1 and "does not exist" in err
    code, err = run([clip, "-o", tmp_path / "o.webm", "--lossless"], capsys)
    assert code == 1 and "lossless" in err
    assert not list(tmp_path.glob("*.webm")) and not list(tmp_path.glob(".*partial*"))


def test_console_script_runs(tmp_path, clip):
    r = subprocess.run([sys.executable, "-m", "binauralize", str(clip), "-o", str(tmp_path / "o.wav"), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "binauralize", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "x.wav")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_metadata_kept(tmp_path, capsys):
    src = make_clip(tmp_path / "m.mp4", metadata={"title": "my holiday", "comment": "keep me"})
    out = tmp_path / "o.mp4"
    code, err = run([src, "-o", out, "-q"], capsys)
    assert code == 0, err
    with av.open(str(out)) as c:
        assert c.metadata.get("title") == "my holiday"


def test_frames_carry_real_timestamps_vfr(tmp_path):
    from binauralize.io.media import iter_frames

    src = make_clip(tmp_path / "vfr.mkv", vfr=True, seconds=3.0, fps=10)
    with av.open(str(src)) as c:
        true_pts = sorted(float(f.pts * f.time_base) for f in c.decode(video=0))
    got = [t for t, _ in iter_frames(src, fps=5.0, max_width=None)]
    assert all(t in true_pts for t in got)  # every analysis frame is a real frame with its own timestamp
    assert np.all(np.diff(got) >= 0.2 - 1e-6)  # at most 5 per second
    assert got[0] == true_pts[0]


def test_zero_length_audio_in_video_stops_fast(tmp_path, capsys):
    """A video whose audio track is empty: clear error, and the frame analysis started in the background is stopped."""
    src = make_clip(tmp_path / "z.mkv", seconds=20.0, fps=10, acodec="pcm_s16le", audio=np.zeros((1, 0), np.float32))
    code, err = run([src, "-o", tmp_path / "o.mkv"], capsys)
    assert code == 1 and "error" in err and not (tmp_path / "o.mkv").exists()


def test_progress_bar_ends_at_its_total(tmp_path, capsys, monkeypatch):
    """The rendering bar's total is the duration rounded to 0.01 s; a clip 4 ms longer than that must end the bar
    at its total, not past it (tqdm then warns, and a warning turned into an error inside its lock hangs the run)."""
    import soundfile as sf

    from binauralize import api

    bars = []
    original = api._progress

    def recording(total_s, enabled, desc):
        bars.append(original(total_s, enabled, desc))
        return bars[-1]

    monkeypatch.setattr(api, "_progress", recording)
    sr = 16000
    sf.write(tmp_path / "odd.wav", noise_bursts(2.004, sr)[0], sr)
    code, err = run([tmp_path / "odd.wav", "-o", tmp_path / "odd_3d.wav"], capsys)  # not quiet: bars on
    assert code == 0, err
    assert len(bars) == 1 and bars[0].total == 2.0 and bars[0].n == pytest.approx(2.0, abs=1e-9)


def test_probe_reads_headers_and_mpeg_ps_falls_back_to_the_full_probe(tmp_path, capsys):
    """Inputs are opened without decoding pictures while FFmpeg probes them (sizes, rates and durations come from
    the headers); MPEG program streams, whose streams appear only while probing, take the full probe. All work end
    to end, and the video packets are copied unchanged."""
    from binauralize.io.media import _FAST_PROBE, iter_frames, probe

    clips = [make_clip(tmp_path / "in.mp4", seconds=1.5, fps=10),
             make_clip(tmp_path / "in.ts", seconds=1.5, fps=10),
             make_clip(tmp_path / "in.mpg", seconds=1.5, fps=10, vcodec="mpeg2video", acodec="mp2")]
    with pytest.raises(ValueError):  # the fallback path is the one taken for MPEG-PS
        av.open(str(clips[2]), stream_options=_FAST_PROBE)
    for src in clips:
        info = probe(src)
        assert (info.width, info.height, info.fps) == (64, 48, 10.0) and info.has_audio and info.has_video
        assert info.duration == pytest.approx(1.5, abs=0.15)
        frames = list(iter_frames(src, fps=5.0, max_width=None))
        assert len(frames) == 8 and frames[0][1].shape == (48, 64, 3)
        out = tmp_path / f"out_{src.suffix[1:]}.mkv"
        code, err = run([src, "-o", out, "-q"], capsys)
        assert code == 0, err
        assert decode(out).shape[0] == 2
    out = tmp_path / "out.mp4"
    assert run([clips[0], "-o", out, "-q"], capsys)[0] == 0
    assert packets(out) == packets(clips[0])  # the picture copied as it was (same container, same bitstream)


def test_preview_reads_the_output_back(tmp_path, capsys):
    """--preview measures the written output's cues (listening by numbers): a source moving from 50 deg left to
    50 deg right gives an output whose ITD side follows it frame by frame, and its PNG is written."""
    clip = make_clip(tmp_path / "move.mp4", seconds=3.0)
    moving = tmp_path / "moving.json"
    moving.write_text(json.dumps({"sources": [{"name": "s", "track": [[0, 50, 0, 2], [1.2, 50, 0, 2], [1.8, -50, 0, 2],
                                                                      [3, -50, 0, 2]]}]}))
    rep_path = tmp_path / "r.json"
    code, err = run([clip, "-o", tmp_path / "out.mp4", "--sources", moving, "--preview", tmp_path / "p.png",
                     "--report", rep_path], capsys)
    assert code == 0, err
    rep = json.loads(rep_path.read_text())
    cues = rep["output_cues"]
    # misses: the six frames of the 0.6-s sweep, and burst tails ~30 dB down where the AAC codec's noise decides
    # (one such frame reads -36 us instead of -410 us with this clip; the rest agree frame by frame)
    assert cues["frames_active"] >= 10 and cues["lcr_agreement"] >= 0.8, cues
    assert cues["median_azimuth_error_deg"] < 8 and cues["ild_side_agreement"] >= 0.9, cues
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, err = run([clip, "-o", tmp_path / "mono.mp4", "--sources", moving, "--method", "mono", "--preview",
                     tmp_path / "pm.png", "--report", rep_path, "--overwrite"], capsys)
    assert code == 0, err
    mono = json.loads(rep_path.read_text())["output_cues"]  # Mono-Mono: no interaural difference at all
    assert abs(mono["median_itd_us"]) < 10 and mono["median_azimuth_error_deg"] > 40, mono
    assert mono["ild_side_agreement"] == 0.0, mono  # no ILD beyond the codec's noise: leans nowhere
    code, err = run([clip, "-o", tmp_path / "plain.mp4", "--sources", moving, "--report", rep_path, "--overwrite"],
                    capsys)
    assert code == 0, err
    assert json.loads(rep_path.read_text())["output_cues"] is None  # only measured when a preview is asked for


def test_reverb_itd_option_reaches_the_renderer(clip, tmp_path, capsys):
    """--reverb itd: the split stays on, the reverberant part keeps the ITD, width 1 unless --diffuse says
    otherwise (recorded in the report); an out-of-range width is a one-line error."""
    rep = tmp_path / "r.json"
    code, _ = run([clip, "-o", tmp_path / "o.wav", "--reverb", "itd", "--report", rep, "-q"], capsys)
    r = json.loads(rep.read_text())["renderer"]
    assert code == 0 and r["reverb"] == "split" and r["reverb_itd"] is True and r["diffuse"] == 1.0
    code, _ = run([clip, "-o", tmp_path / "o2.wav", "--reverb", "itd", "--diffuse", "0.5", "--report", rep, "-q",
                   "--overwrite"], capsys)
    assert code == 0 and json.loads(rep.read_text())["renderer"]["diffuse"] == 0.5
    code, _ = run([clip, "-o", tmp_path / "o3.wav", "--report", rep, "-q", "--overwrite"], capsys)
    r = json.loads(rep.read_text())["renderer"]
    assert code == 0 and r["reverb_itd"] is False and r["diffuse"] == 0.5
    code, err = run([clip, "-o", tmp_path / "o4.wav", "--diffuse", "3"], capsys)
    assert code == 1 and err.startswith("binauralize: error:") and "diffuse" in err
    assert not (tmp_path / "o4.wav").exists()


def test_misspelt_track_key_names_the_right_one(clip, tmp_path, capsys):
    t = tmp_path / "t.json"
    t.write_text('{"sources": [{"azimuth": 10, "distanse": 3}]}')
    code, err = run([clip, "-o", tmp_path / "o.wav", "--sources", t], capsys)
    assert code == 1 and "'distanse'" in err and "did you mean 'distance'" in err
    for text, words in (('{"sources": [{"azimuth": 30, "track": [[0, 10]]}]}', "not both"),  # one would be ignored
                        ('{"sources": [{"azimuth": 30}], "extra": 1}', "unknown key 'extra' at the top"),
                        ('{"version": 2, "sources": [{"azimuth": 30}]}', "schema version 2")):
        t.write_text(text)
        code, err = run([clip, "-o", tmp_path / "o.wav", "--sources", t], capsys)
        assert code == 1 and words in err and err.count("\n") == 1, (text, err)
    t.write_bytes(b'\xef\xbb\xbf{"sources": [{"azimuth": 50}]}')  # a byte-order mark, as Windows Notepad writes
    code, err = run([clip, "-o", tmp_path / "o.wav", "--sources", t, "-q"], capsys)
    assert code == 0, err
    y = decode(tmp_path / "o.wav")
    assert gcc_phat_itd(y[0], y[1], 48000) > 200e-6


def test_side_outputs_never_replace_the_input_the_output_or_each_other(clip, tracks_left, tmp_path, capsys):
    """--preview (and its PNG), --report and --save-tracks: refused before any work when they would replace the
    input, the output or each other, even with --overwrite; an existing one needs --overwrite."""
    before = clip.read_bytes()
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    side = tmp_path / "notes.txt"
    side.write_text("mine")
    fresh = tmp_path / "fresh.mp4"  # an output that does not exist yet: only the side outputs can be refused
    cases = [
        (out, ["--preview", clip, "--overwrite"], "would replace the input"),
        (out, ["--report", clip, "--overwrite"], "would replace the input"),
        (out, ["--save-tracks", clip, "--overwrite"], "would replace the input"),
        (out, ["--save-tracks", tracks_left, "--overwrite"], "would replace the input left.json"),  # --sources
        (out, ["--report", out, "--overwrite"], "would replace the output"),
        (out, ["--save-tracks", out, "--overwrite"], "would replace the output"),
        (out, ["--preview", tmp_path / "p.mp4", "--report", tmp_path / "p.png", "--overwrite"], "would replace --preview"),
        (out, ["--report", tmp_path / "r.json", "--save-tracks", tmp_path / "r.json", "--overwrite"], "would replace --report"),
        (fresh, ["--report", side], "notes.txt exists; pass --overwrite"),
        (fresh, ["--preview", tmp_path / "p.txt"], "use a .mp4"),
        (fresh, ["--report", tmp_path / "missing_dir" / "r.json"], "does not exist"),
    ]
    for o, extra, why in cases:
        code, err = run([clip, "-o", o, "--sources", tracks_left, "-q", *extra], capsys)
        assert code == 1 and err.startswith("binauralize: error:") and err.count("\n") == 1, (extra, err)
        assert why in err, (extra, err)
        assert clip.read_bytes() == before and out.read_bytes() == b"precious" and side.read_text() == "mine", extra
        assert not (tmp_path / "p.mp4").exists() and not (tmp_path / "r.json").exists() and not fresh.exists(), extra
    assert json.loads(tracks_left.read_text())["sources"][0]["azimuth"] == 50
    batch = tmp_path / "batch"  # a batch's one report is checked the same way, before the folder is made
    other = tmp_path / "other.mp4"
    other.write_bytes(before)
    code, err = run([clip, other, "-o", batch, "--report", clip, "--overwrite", "-q"], capsys)
    assert code == 1 and "would replace the input" in err and not batch.exists()
    code, err = run([clip, "-o", out, "--sources", tracks_left, "-q", "--report", side, "--overwrite"], capsys)
    assert code == 0 and json.loads(side.read_text())["output"] == str(out)


def test_containers_keep_the_picture_or_refuse(clip, tracks_left, tmp_path, capsys):
    """H.264 cannot go into WebM: refused up front (no output, not a file without its picture); into AVI it goes
    as FFmpeg's stream copy does (Annex B framing), every frame kept."""
    code, err = run([clip, "-o", tmp_path / "o.webm", "--sources", tracks_left, "-q"], capsys)
    assert code == 1 and ".webm cannot hold" in err and ".mkv" in err
    assert not list(tmp_path.glob("*.webm")) and not list(tmp_path.glob(".*partial*"))
    out = tmp_path / "o.avi"
    code, err = run([clip, "-o", out, "--sources", tracks_left, "-q"], capsys)
    assert code == 0, err
    with av.open(str(out)) as c, av.open(str(clip)) as ref:
        assert c.streams.video[0].codec_context.name == "h264"
        assert len(list(c.decode(video=0))) == len(list(ref.decode(video=0)))
    y = decode(out)
    assert gcc_phat_itd(y[0], y[1], 48000) > 200e-6  # placed left, as given


def test_keep_original_audio_makes_the_binaural_track_the_default(clip, tracks_left, tmp_path, capsys):
    out = tmp_path / "o.mkv"
    code, err = run([clip, "-o", out, "--sources", tracks_left, "-q", "--keep-original-audio"], capsys)
    assert code == 0, err
    with av.open(str(out)) as c:
        a = c.streams.audio
        assert len(a) == 2 and a[0].codec_context.channels == 1 and a[1].codec_context.channels == 2
        assert not a[0].disposition & av.stream.Disposition.default
        assert a[1].disposition & av.stream.Disposition.default


def test_option_values_and_batch_misuse_are_one_line_errors(clip, tmp_path, capsys):
    for extra in (["--t60", "nan"], ["--t60", "-1"], ["--diffuse", "nan"], ["--jobs", "-3"]):
        code, err = run([clip, "-o", tmp_path / "o.wav", "-q", *extra], capsys)
        assert code == 1 and err.startswith("binauralize: error:") and err.count("\n") == 1, (extra, err)
    outdir = tmp_path / "batch"
    code, err = run([clip, clip, "-o", outdir, "--preview", tmp_path / "p.mp4"], capsys)
    assert code == 1 and "one output file" in err and not outdir.exists()


def test_empty_sources_and_tracks_after_the_end_get_a_notice(clip, tmp_path, capsys):
    t = tmp_path / "t.json"
    t.write_text('{"sources": []}')
    code, err = run([clip, "-o", tmp_path / "o.wav", "--sources", t], capsys)
    assert code == 0 and "empty" in err
    t.write_text('{"sources": [{"name": "late", "track": [[100, 30], [101, 40]]}]}')
    code, err = run([clip, "-o", tmp_path / "o2.wav", "--sources", t], capsys)
    assert code == 0 and "after the clip ends" in err


def test_nan_positions_are_refused_by_the_api_too():
    from binauralize import SourceTrack
    from binauralize.errors import TracksError

    with pytest.raises(TracksError, match="finite"):
        SourceTrack.static(float("nan"))


def test_mpeg_ts_input_into_every_container(clip, tracks_left, tmp_path, capsys):
    """H.264 already in Annex B (MPEG-TS) goes into AVI as it is (converting it again broke the write)."""
    ts = tmp_path / "clip.ts"
    with av.open(str(clip)) as src, av.open(str(ts), "w", format="mpegts") as dst:
        v = dst.add_stream_from_template(src.streams.video[0])
        a = dst.add_stream_from_template(src.streams.audio[0])
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", src.streams.video[0], v)
        for p in src.demux():
            if p.dts is None:
                continue
            if p.stream.type == "video":
                for q in bsf.filter(p):
                    q.stream = v
                    dst.mux(q)
            else:
                p.stream = a
                dst.mux(p)
    for ext in (".avi", ".mkv", ".mp4"):
        out = tmp_path / f"o{ext}"
        code, err = run([ts, "-o", out, "--sources", tracks_left, "-q"], capsys)
        assert code == 0, (ext, err)
        with av.open(str(out)) as c, av.open(str(clip)) as ref:
            assert len(list(c.decode(video=0))) == len(list(ref.decode(video=0))), ext


def test_quiet_still_says_when_an_audio_track_is_left_out(clip, tracks_left, tmp_path, capsys):
    """-q hides progress and notices, but not that something of the input will be missing from the output."""
    two = tmp_path / "two_audio.mkv"
    with av.open(str(clip)) as src, av.open(str(two), "w") as dst:
        v = dst.add_stream_from_template(src.streams.video[0])
        a1 = dst.add_stream_from_template(src.streams.audio[0])
        a2 = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux():
            if packet.dts is None:
                continue
            if packet.stream.type == "video":
                packet.stream = v
                dst.mux(packet)
            else:
                for target in (a1, a2):
                    packet.stream = target
                    dst.mux(packet)
    code, err = run([two, "-o", tmp_path / "o.mkv", "--sources", tracks_left, "-q"], capsys)
    assert code == 0 and "2 audio tracks" in err and "left out" in err and err.count("\n") == 1, err
    code, err = run([two, "-o", tmp_path / "o2.mkv", "--sources", tracks_left, "-q", "--keep-original-audio"], capsys)
    assert code == 0 and err == "", err


def test_an_interrupted_preview_leaves_nothing_behind(clip, tracks_left, tmp_path, capsys, monkeypatch):
    """Ctrl-C while the preview is drawn: exit 130, and neither the output nor a partial file nor a side output is
    left (the output is committed only after its side outputs); an output that was there before is kept."""
    import binauralize.vision.preview as preview

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(preview, "write_preview", interrupted)
    out = tmp_path / "o.mp4"
    code, err = run([clip, "-o", out, "--sources", tracks_left, "--preview", tmp_path / "p.mp4",
                     "--save-tracks", tmp_path / "t.json", "-q"], capsys)
    assert code == 130 and err.count("\n") == 1, err
    assert [p.name for p in tmp_path.iterdir()] == [tracks_left.name]  # no output, partial file, tracks or preview
    out.write_bytes(b"the user's file")
    code, _ = run([clip, "-o", out, "--sources", tracks_left, "--preview", tmp_path / "p.mp4", "--overwrite", "-q"],
                  capsys)
    assert code == 130 and out.read_bytes() == b"the user's file"
    monkeypatch.undo()  # now interrupted later, while its PNG is drawn: the preview video goes too
    monkeypatch.setattr(preview, "summary_png", interrupted)
    out.unlink()
    code, _ = run([clip, "-o", out, "--sources", tracks_left, "--preview", tmp_path / "p.mp4", "-q"], capsys)
    assert code == 130 and [p.name for p in tmp_path.iterdir()] == [tracks_left.name]


def test_matroska_input_with_b_frames_keeps_every_packet(tmp_path, tracks_left, capsys):
    """Matroska stores no decode times: a stream with B-frames (x264's default) must still be copied packet for
    packet into every container (it failed 'Invalid argument'), its audio placed as asked."""
    mp4 = make_clip(tmp_path / "bf.mp4", seconds=2.0, x264={"preset": "veryfast", "bf": "3", "g": "25"})
    mkv = tmp_path / "bf.mkv"
    with av.open(str(mp4)) as src, av.open(str(mkv), "w") as dst:
        m = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for p in src.demux():
            if p.size:
                p.stream = m[p.stream.index]
                dst.mux(p)
    with av.open(str(mkv)) as c:
        assert c.streams.video[0].codec_context.has_b_frames or any(
            p.pts != p.dts for p in c.demux(c.streams.video[0]) if p.size and p.dts is not None)
    for ext in (".mp4", ".mkv", ".mov"):
        out = tmp_path / f"o{ext}"
        code, err = run([mkv, "-o", out, "--sources", tracks_left, "-q"], capsys)
        assert code == 0, (ext, err)
        assert packets(out) == packets(mkv), ext
        y = decode(out)
        assert gcc_phat_itd(y[0], y[1], 48000) > 200e-6


def _pgid(pid: int) -> int | None:
    """The process group of a live process (None for a zombie, which a container's init may never reap)."""
    import os

    try:
        if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return os.getpgid(pid)
    except OSError:
        return None


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    """kill/timeout (SIGTERM) while the output is being written: exit status 143, no partial file left, and no
    process of the run survives it."""
    import os
    import signal
    import time

    clip = make_clip(tmp_path / "long.mp4", seconds=30.0)
    out = tmp_path / "o.mp4"
    p = subprocess.Popen([sys.executable, "-m", "binauralize", str(clip), "-o", str(out), "-q"],
                         stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.time()
    while not list(tmp_path.glob(".o.partial-*")) and p.poll() is None and time.time() - t0 < 60:
        time.sleep(0.02)
    assert p.poll() is None, "finished before it could be stopped"
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1].decode()
    assert p.returncode == 143 and "interrupted" in err and "Traceback" not in err, err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["long.mp4"]
    time.sleep(0.5)
    alive = [d for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == p.pid]
    for q in alive:
        os.kill(int(q), signal.SIGKILL)
    assert not alive, alive


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    import os

    return [int(d) for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == pgid]


def test_ctrl_c_while_the_frames_are_analysed(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the frames are decoded by parallel
    decoder processes: exit 130 at once with one line, no traceback from a worker, nothing left behind, no
    process left (the tool used to hang here: a decoder interrupted mid-message left its pool waiting forever)."""
    import os
    import signal
    import time

    clip = make_clip(tmp_path / "long.mp4", seconds=60.0, width=160, height=120)  # a keyframe a second
    out = tmp_path / "o.mp4"
    env = dict(os.environ, BINAURALIZE_DECODE_WORKERS="2")
    p = subprocess.Popen([sys.executable, "-m", "binauralize", str(clip), "-o", str(out), "-q"], env=env,
                         stderr=subprocess.PIPE, start_new_session=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.time()
    while len(_group(p.pid)) < 4 and p.poll() is None and time.time() - t0 < 60:  # tool, analysis, 2 decoders
        time.sleep(0.01)
    assert p.poll() is None and len(_group(p.pid)) >= 4, "the decoders never ran in parallel"
    os.killpg(p.pid, signal.SIGINT)
    t1 = time.time()
    err = p.communicate(timeout=60)[1].decode()
    assert p.returncode == 130 and err.strip() == "binauralize: interrupted", err
    assert time.time() - t1 < 5
    assert sorted(x.name for x in tmp_path.iterdir()) == ["long.mp4"]
    t2 = time.time()
    while _group(p.pid) and time.time() - t2 < 5:
        time.sleep(0.05)
    alive = _group(p.pid)
    for q in alive:
        os.kill(q, signal.SIGKILL)
    assert not alive, alive


def test_api_files_check_sources_and_odd_audio(tmp_path):
    """process_file: wrong source types are TracksErrors (a parsed tracks JSON is taken); NaN samples in a float
    file become 0 with a notice; channels that cancel in the downmix (antiphase) are said, not left silent."""
    import soundfile as sf

    from binauralize import Binauralizer, SourceTrack
    from binauralize.errors import TracksError

    rng = np.random.default_rng(0)
    x = 0.1 * rng.standard_normal(48000)
    src = tmp_path / "in.wav"
    sf.write(src, x, 48000, subtype="FLOAT")
    notes = []
    b = Binauralizer(notice=notes.append)
    for bad in (SourceTrack.static(30), 5, [None], "nope.json"):
        with pytest.raises(TracksError):
            b.process_file(src, tmp_path / "o.wav", sources=bad)
    b.process_file(src, tmp_path / "o.wav", sources={"sources": [{"azimuth": 50}]})
    y = decode(tmp_path / "o.wav")
    assert gcc_phat_itd(y[0], y[1], 48000) > 200e-6
    xn = x.copy()
    xn[1000:1010] = np.nan
    sf.write(tmp_path / "nan.wav", xn, 48000, subtype="FLOAT")
    b.process_file(tmp_path / "nan.wav", tmp_path / "o_nan.wav", sources=[SourceTrack.static(30)])
    assert np.isfinite(decode(tmp_path / "o_nan.wav")).all() and any("10 input samples were NaN" in n for n in notes)
    sf.write(tmp_path / "anti.wav", np.stack([x, -x], axis=1), 48000, subtype="FLOAT")
    rep = b.process_file(tmp_path / "anti.wav", tmp_path / "o_anti.wav", sources=[SourceTrack.static(30)])
    assert any("cancel" in n for n in rep["notices"]), rep["notices"]


def test_audio_rates_outside_the_supported_range_are_one_line(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "r4k.wav", 0.1 * np.random.default_rng(0).standard_normal(4000), 4000)
    code, err = run([tmp_path / "r4k.wav", "-o", tmp_path / "o.wav"], capsys)
    assert code == 1 and "8000-384000 Hz" in err and err.count("\n") == 1 and not (tmp_path / "o.wav").exists()


def test_batch_never_replaces_an_input_and_reports_failures(clip, tmp_path, capsys):
    """An input named like another input's output (a_binaural.mp4 beside a.mp4) is refused before any work, even
    with --overwrite (it was replaced); the batch report names each failure."""
    folder = tmp_path / "in"
    folder.mkdir()
    a, a_out = folder / "a.mp4", folder / "a_binaural.mp4"
    a.write_bytes(clip.read_bytes())
    a_out.write_bytes(clip.read_bytes() + b"")
    before = a_out.read_bytes()
    code, err = run([a, a_out, "-o", folder, "--overwrite", "-q"], capsys)
    assert code == 1 and "would replace the input" in err and a_out.read_bytes() == before
    bad = folder / "broken.mp4"
    bad.write_bytes(b"not a video")
    rep = tmp_path / "r.json"
    code, err = run([a, bad, "-o", tmp_path / "out", "--report", rep, "-q"], capsys)
    r = json.loads(rep.read_text())
    assert code == 1 and r["failures"] == 1 and r["failed"][0]["input"] == str(bad) and r["failed"][0]["error"]
    assert [f["input"] for f in r["files"]] == [str(a)]


def test_sigterm_stops_a_parallel_batch(tmp_path):
    """kill/timeout on a batch with --jobs 2: exit 143 at once, no partial output, no process left."""
    import os
    import signal
    import time

    clips = [make_clip(tmp_path / f"c{k}.mp4", seconds=30.0) for k in range(2)]
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "binauralize", *map(str, clips), "-o", str(out), "--jobs", "2", "-q"],
                         stderr=subprocess.PIPE, start_new_session=True)
    t0 = time.time()
    while len(list(out.glob(".*.partial-*"))) < 2 and p.poll() is None and time.time() - t0 < 60:
        time.sleep(0.02)
    assert p.poll() is None, "finished before it could be stopped"
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1].decode()
    assert p.returncode == 143 and "Traceback" not in err, err
    assert list(out.iterdir()) == []
    time.sleep(0.5)
    alive = [d for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == p.pid]
    for q in alive:
        os.kill(int(q), signal.SIGKILL)
    assert not alive, alive


def test_preview_video_lasts_as_long_as_the_clip(tmp_path, capsys):
    """The preview's frames carry millisecond times: it lasted 100 times the clip with PyAV 18."""
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0)
    code, err = run([clip, "-o", tmp_path / "o.mp4", "--preview", tmp_path / "p.mp4", "-q"], capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "p.mp4")) as c:
        assert c.duration / 1e6 == pytest.approx(2.0, abs=0.3)


def test_a_span_where_no_given_source_has_weight_is_said(clip, tmp_path, capsys):
    t = tmp_path / "t.json"
    t.write_text(json.dumps({"sources": [{"name": "a", "azimuth": 40, "weight": [[0, 1], [0.5, 1], [0.51, 0]]},
                                         {"name": "b", "azimuth": -40, "weight": [[0, 0], [1.0, 0], [1.01, 1]]}]}))
    code, err = run([clip, "-o", tmp_path / "o.wav", "--sources", t], capsys)
    assert code == 0 and "no source has any weight at 0.6-1.1 s" in err, err


def test_options_without_effect_are_noted_and_do_not_change_output(tmp_path, capsys):
    import soundfile as sf

    sr = 16000
    wav = tmp_path / "in.wav"
    sf.write(wav, noise_bursts(1.0, sr)[0], sr)
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"sources": [{"name": "s", "azimuth": -40}]}))
    # the renderer ignores --hop and --steps; given sources make --fov meaningless: a note each, same output
    code, err = run([wav, "-o", tmp_path / "a.wav", "--sources", src, "--hop", "0.05", "--steps", "2",
                     "--fov", "90"], capsys)
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("binauralize: note:")]
    assert len(notes) == 3 and "--hop" in notes[0] and "--steps" in notes[1] and "--fov" in notes[2]
    code, err = run([wav, "-o", tmp_path / "b.wav", "--sources", src], capsys)
    assert code == 0 and "note:" not in err
    a, b = sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0]
    assert np.array_equal(a, b)
    assert ild_db(b[:, 0], b[:, 1], sr) < -3  # azimuth -40: to the right, louder right ear
    # Mono-Mono ignores every renderer setting; -q silences the note
    code, err = run([wav, "-o", tmp_path / "c.wav", "--method", "mono", "--timbre", "none", "--t60", "0.3"], capsys)
    assert code == 0 and "--method mono" in err and "--timbre, --t60 have no effect" in err
    c = sf.read(tmp_path / "c.wav")[0]
    assert np.allclose(c[:, 0], c[:, 1])
    code, err = run([wav, "-o", tmp_path / "d.wav", "--method", "mono", "--timbre", "none", "-q"], capsys)
    assert code == 0 and err == ""


def test_preview_marks_sources_on_and_off_the_picture():
    from binauralize.vision.preview import source_markers

    marks = source_markers(["a", "b", "c", "d", "e"], np.array([0.0, 20.0, -120.0, 150.0, 60.0]),
                           np.array([1.0, 0.6, 1.0, 0.01, 1.0]), 480, 270, 70.0)
    assert [m[1] for m in marks] == ["on", "on", "right", "left"]  # d (weight 0.01) is not marked
    assert abs(marks[0][0] - 240) <= 1 and marks[1][0] < 240  # + = left: left of the centre
    assert marks[2][2] == "c -120 deg" and marks[3][2] == "e +60 deg"  # 60 deg is outside a 70-deg view


@pytest.mark.parametrize("ext", [".avi", ".mkv", ".mp4", ".mov"])
def test_output_audio_starts_on_time_in_every_container(clip, tmp_path, capsys, ext):
    """The sound keeps its time in every container: AVI cannot signal AAC's 1024 priming samples (MP4 and Matroska
    can), which put the sound 21 ms late there until the tool left them out."""
    out = tmp_path / f"o{ext}"
    code, err = run([clip, "-o", out, "--method", "mono", "-q"], capsys)
    assert code == 0, err
    src, got = decode(clip)[0], decode(out)[0]
    n = min(len(src), len(got))
    c = np.correlate(got[:n], src[2000:n - 2000], "valid")
    assert int(np.argmax(c)) - 2000 == 0, ext
    assert abs(len(got) - len(src)) <= 1024, ext
