"""Visual localization end to end: generated clips with real face photographs, through the CLI."""
import json

import numpy as np
import pytest

from binauralize.cli import main
from binauralize.io.media import iter_audio
from binauralize.metrics.spatial import gcc_phat_itd, ild_db

pytest.importorskip("skimage")
from binauralize.testing.faces import talking_faces_clip  # noqa: E402


def render(clip, tmp_path, capsys, name="out.wav", extra=()):
    out = tmp_path / name
    rep = tmp_path / (name + ".json")
    code = main([str(clip), "-o", str(out), "--report", str(rep), *extra])
    err = capsys.readouterr().err
    assert code == 0, err
    y = np.concatenate(list(iter_audio(out)), axis=1)
    return y, json.loads(rep.read_text()), err


def cues(y, sr=16000):
    return gcc_phat_itd(y[0], y[1], sr), ild_db(y[0], y[1], sr)


def test_face_on_the_left_then_mirrored(tmp_path, capsys):
    clip = talking_faces_clip(tmp_path / "left.mp4", [0.2], talking=0)
    y, rep, _ = render(clip, tmp_path, capsys)
    itd, ild = cues(y)
    assert itd > 100e-6 and ild > 2, (itd, ild)  # left ear leads and is louder
    assert rep["tracks_source"] == "localized from the frames"
    assert rep["localization"]["faces"] and rep["localization"]["faces"][0]["median_azimuth_deg"] > 15
    y3, _, _ = render(clip, tmp_path, capsys, "flipped.wav", ["--flip-visual"])  # Flipped-Visual baseline
    assert cues(y3)[1] < -2
    mirrored = talking_faces_clip(tmp_path / "right.mp4", [0.2], talking=0, mirror=True)
    y2, _, _ = render(mirrored, tmp_path, capsys, "out2.wav")
    itd2, ild2 = cues(y2)
    assert itd2 < -100e-6 and ild2 < -2, (itd2, ild2)


@pytest.mark.parametrize("talker,sign", [(0, 1), (1, -1)])
def test_the_face_that_talks_gets_the_sound(tmp_path, capsys, talker, sign):
    clip = talking_faces_clip(tmp_path / "two.mp4", [0.2, 0.8], talking=talker, seconds=6.0, seed=3)
    y, rep, _ = render(clip, tmp_path, capsys)
    itd, ild = cues(y)
    assert sign * itd > 100e-6 and sign * ild > 2, (talker, itd, ild, rep["localization"]["faces"])


def test_no_candidate_goes_front_with_notice(tmp_path, capsys):
    from binauralize.testing.clips import make_clip

    clip = make_clip(tmp_path / "plain.mp4", seconds=2.0, sr=16000, draw=lambda i, w, h: np.full((h, w, 3), 90, np.uint8))
    y, rep, err = render(clip, tmp_path, capsys)
    assert "no candidate sound source" in err
    itd, ild = cues(y)
    assert abs(itd) < 30e-6 and abs(ild) < 0.5


def test_saved_tracks_round_trip(tmp_path, capsys):
    clip = talking_faces_clip(tmp_path / "left.mp4", [0.25], talking=0, seconds=3.0)
    tracks = tmp_path / "t.json"
    y1, _, _ = render(clip, tmp_path, capsys, "a.wav", ["--save-tracks", str(tracks), "--preview", str(tmp_path / "p.mp4")])
    assert (tmp_path / "p.mp4").stat().st_size > 0 and (tmp_path / "p.png").stat().st_size > 0
    _, rep, _ = render(clip, tmp_path, capsys, "c.wav", ["--preview", str(tmp_path / "only.png")])  # the summary alone
    assert rep["also_written"] == [str(tmp_path / "only.png")]
    assert (tmp_path / "only.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.startswith(".only") for p in tmp_path.iterdir())
    y2, rep, _ = render(clip, tmp_path, capsys, "b.wav", ["--sources", str(tracks)])
    assert rep["tracks_source"] == "given (--sources)"
    np.testing.assert_allclose(y1, y2, atol=2e-3)


def test_motion_only_beside_a_face_does_not_crash_the_decision():
    """Regression (scene_test clip 000512 of the near set): motion seen only while a face is on screen, smoothed
    into the frame after the face leaves, used to leave the motion track no frame to take its position from."""
    from binauralize.vision.detect import Box
    from binauralize.vision.localize import FaceTrack, FrameAnalysis, LocalizeOptions, decide

    n = 12
    times = np.arange(n) / 10.0
    seen = [0, 1, 2, 3, 4, 5, 7, 8]  # the face is missed in frame 6
    face = FaceTrack(0, 0, frames=seen, boxes=[Box(40, 40, 80, 80)] * 8, motion=[0.5] * 8, detections=8)
    motion = [None] * n
    for i in (4, 5, 7, 8):  # motion only under the face; smoothed, frame 6 counts as motion
        motion[i] = (0.8, 0.5, 30.0, 0.01)
    fa = FrameAnalysis(times, np.zeros(n, int), 320, 180, [face], motion)
    tracks, report = decide(fa, times, np.full(n, -20.0), LocalizeOptions())
    assert tracks and all(np.all(np.isfinite(t.azimuth)) for t in tracks)
    mot = [t for t in tracks if t.info.get("kind") == "motion"]
    assert all(t.azimuth[0] < 0 for t in mot)  # the motion was right of centre (x = 0.8 of the width)


@pytest.mark.parametrize("rotation,mirror,sign", [(-90, False, -1), (90, False, 1), (0, True, -1), (90, True, -1)])
def test_a_video_stored_sideways_is_localized_as_it_is_shown(tmp_path, capsys, rotation, mirror, sign):
    """Phones store upright video sideways with a display matrix: a moving object at the top of the stored frame is
    at the right of the picture as shown after a quarter turn clockwise (-90), at the left after one
    counter-clockwise (90); the sound must go there, not to the centre where the stored frame has it. A matrix that
    mirrors (0, mirrored): an object at the left of the stored frame is shown, and heard, on the right; a quarter turn
    counter-clockwise that also mirrors (front cameras): the stored top edge is shown, and heard, on the right."""
    from binauralize.testing.clips import make_clip

    def draw(i, w, h):
        f = np.full((h, w, 3), 60, np.uint8)
        if not rotation:  # moves up and down at the left of the stored frame
            y = int(h / 2 + 0.2 * h * np.sin(i / 3))
            f[y - 12:y + 12, 8:32] = (240, 220, 80)
        else:  # moves along the stored frame's top edge
            x = int(w / 2 + 0.15 * w * np.sin(i / 3))
            f[4:28, x - 12:x + 12] = (240, 220, 80)
        return f

    clip = make_clip(tmp_path / "phone.mp4", seconds=3.0, sr=16000, width=160, height=96, fps=15, draw=draw,
                     display_rotation=rotation, display_mirror=mirror)
    y, rep, _ = render(clip, tmp_path, capsys)
    itd, ild = cues(y)
    assert sign * itd > 100e-6 and sign * ild > 2, (itd, ild)
    if rotation:  # shown upright: 9.6:16
        assert rep["localization"]["fov_deg"] == pytest.approx(
            2 * np.degrees(np.arctan(np.tan(np.radians(35)) * 96 / 160)))
        assert any(m.startswith("upright picture: field of view taken as 46 deg") for m in rep["notices"])
    import av

    from binauralize.io.media import frame_side_data

    assert main([str(clip), "-o", str(tmp_path / "phone_3d.mp4"), "-q"]) == 0
    with av.open(str(tmp_path / "phone_3d.mp4")) as c:  # the video stream and its display matrix are kept
        f = next(c.decode(video=0))
        with av.open(str(clip)) as c0:
            f0 = next(c0.decode(video=0))
        assert (f.rotation, f.width, f.height) == (f0.rotation, 160, 96)
        assert [bytes(s) for s in frame_side_data(f) if s.type.name == "DISPLAYMATRIX"] == \
            [bytes(s) for s in frame_side_data(f0) if s.type.name == "DISPLAYMATRIX"]


def test_given_sources_on_an_upright_video_use_the_upright_camera(tmp_path):
    """With --sources (no localization) a track-driven learned model still sees the picture: its crops must use the
    field of view of the picture as shown (43-46 deg across an upright picture), as a localized run does."""
    from binauralize.api import Binauralizer
    from binauralize.dsp.geometry import horizontal_fov
    from binauralize.testing.clips import make_clip
    from binauralize.tracks import SourceTrack

    fovs = {}
    for rot in (0, 90):
        clip = make_clip(tmp_path / f"r{rot}.mp4", seconds=1.0, sr=16000, width=160, height=96, fps=10,
                         display_rotation=rot)
        b = Binauralizer(method="position", progress=False)
        b.process_file(clip, tmp_path / f"r{rot}.wav", sources=[SourceTrack.static(20.0)])
        fovs[rot] = b.learned.fov_deg
    assert fovs[0] == pytest.approx(70.0)
    assert fovs[90] == pytest.approx(horizontal_fov(None, 96, 160)) and fovs[90] < 50


class _RecordingBar:
    """Stands in for a tqdm bar: records every update."""

    def __init__(self, total):
        self.total, self.n, self.updates, self.closed = total, 0.0, [], False

    def update(self, d):
        self.n += d
        self.updates.append(self.n)

    def close(self):
        self.closed = True


def test_the_frame_analysis_reports_its_progress_from_its_worker(tmp_path):
    """The localizer runs in another process; the bar follows the time of the last frame it analysed, never steps
    past the total, and ends full."""
    from binauralize.api import _Background
    from binauralize.vision.localize import LocalizeOptions

    clip = talking_faces_clip(tmp_path / "one.mp4", [0.3], talking=0, seconds=3.0)
    bg = _Background(clip, LocalizeOptions())
    bar = _RecordingBar(3.0)
    fa = bg.result(bar)
    assert len(fa.times) and bar.closed
    assert 2.5 < bg._seen.value <= 3.0  # the worker wrote the time of its last frame into the shared value
    assert np.all(np.diff(bar.updates) >= 0) and bar.n == pytest.approx(3.0)
