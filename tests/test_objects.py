"""The object detector (binauralize/vision/objects.py): targets <-> detections, tracks, and the shipped head on a
frame drawn the way the synthetic generator draws its scenes."""
from __future__ import annotations

import numpy as np
import pytest

from binauralize.dsp.geometry import direction_to_pixel, pixel_to_direction
from binauralize.vision.objects import Detection, cell_targets, decode, link_tracks

CLASSES = ["drum", "guitar", "voice"]


def _head_output(cls: np.ndarray, reg: np.ndarray, k: int) -> np.ndarray:
    """A head output that says exactly what the targets say (logit 10 for the right class, 0 elsewhere)."""
    h, w = cls.shape
    out = np.zeros((k + 4, h, w), np.float32)
    for r in range(h):
        for c in range(w):
            out[cls[r, c], r, c] = 10.0
    off = np.clip(reg[:2], 1e-4, 1 - 1e-4)
    out[k + 1:k + 3] = np.log(off / (1 - off))
    out[k + 3] = reg[2]
    return out


def test_targets_decode_back_to_the_objects():
    objs = [(0, 40.0, 50.0, 1.2), (2, 250.3, 120.7, 3.0), (1, 251.0, 121.0, 0.8)]  # the last two share a cell
    cls, reg = cell_targets(objs, (11, 20), 320, 180)
    assert (cls > 0).sum() == 2  # one centre per cell: the nearer object (guitar at 0.8 m) wins
    dets = sorted(decode(_head_output(cls, reg, 3), CLASSES, 320, 180), key=lambda d: d.x)
    assert [d.cls for d in dets] == ["drum", "guitar"]
    assert abs(dets[0].x - 40.0) < 0.1 and abs(dets[0].y - 50.0) < 0.1 and abs(dets[0].distance - 1.2) < 1e-3
    assert abs(dets[1].x - 251.0) < 0.1 and abs(dets[1].y - 121.0) < 0.1 and abs(dets[1].distance - 0.8) < 1e-3
    assert cell_targets([(0, 400.0, 50.0, 1.0)], (11, 20), 320, 180)[0].sum() == 0  # outside the frame: nothing


def test_decode_keeps_only_local_peaks_above_the_threshold():
    k = len(CLASSES)
    out = np.zeros((k + 4, 5, 10), np.float32)
    out[0] = 5.0  # background everywhere
    out[0, 2, 3], out[1, 2, 3] = 0.0, 4.0  # a drum
    out[0, 2, 4], out[1, 2, 4] = 0.0, 2.0  # a weaker neighbour: not a peak
    out[0, 4, 9], out[3, 4, 9] = 3.0, 2.0  # a faint voice (object probability 0.32): below the threshold
    dets = decode(out, CLASSES, 320, 180, threshold=0.5)
    assert len(dets) == 1 and dets[0].cls == "drum" and 96 <= dets[0].x <= 128


def test_link_tracks_follows_objects_by_class_and_names_them():
    w, h, fov = 320, 180, 70.0
    times = np.arange(10) * 0.5
    frames = []
    for i in range(10):
        dets = [Detection("drum", 60.0 + 4 * i, 90.0, 1.5, 0.9),  # moving right (towards negative azimuth)
                Detection("drum", 260.0, 80.0, 2.0, 0.8),
                Detection("guitar", 160.0, 100.0, 1.0, 0.95)]
        if i == 3:
            dets.append(Detection("voice", 10.0, 10.0, 1.0, 0.6))  # one spurious frame: dropped
        if i == 5:
            dets = dets[1:]  # the moving drum missed once: the track goes on
        frames.append(dets)
    tracks = link_tracks(times, frames, w, h, fov)
    by = {t.name: t for t in tracks}
    assert sorted(by) == ["drum", "drum1", "guitar"]
    left = [t for t in tracks if t.info["class"] == "drum" and t.azimuth[0] > 0][0]
    assert len(left.times) == 9 and np.all(np.diff(left.azimuth) < 0)  # left of centre, moving to the right
    az0, _ = pixel_to_direction(60.0, 90.0, w, h, fov)
    assert abs(left.azimuth[0] - az0) < 1e-6
    assert abs(by["guitar"].azimuth[0]) < 1e-6 and by["guitar"].elevation[0] < 0  # centre column, below centre


def test_link_tracks_with_nothing_found():
    assert link_tracks(np.arange(3.0), [[], [], []], 320, 180, 70.0) == []


@pytest.fixture(scope="module")
def detector():  # glyphs are not mirror-symmetric and were never seen mirrored: no mirror test
    from binauralize.vision.objects import WEIGHTS, ObjectDetector

    if not WEIGHTS.exists():
        pytest.fail("the shipped object detector weights are missing")
    return ObjectDetector.load()


def test_shipped_detector_finds_glyphs_drawn_like_the_generator(detector):
    from binauralize.data.synth import _background, _blend, _glyph

    w, h, fov = 320, 180, 65.0
    scenes = [[("drum", 25.0, -3.0, 1.2), ("guitar", -18.0, -8.0, 1.6)],  # class, azimuth, elevation, distance
              [("guitar", 20.0, 2.0, 1.0), ("drum", -25.0, -5.0, 1.4)]]   # the same two, sides swapped
    for placed in scenes:
        img = _background("coffee", w, h, np.random.default_rng(3))
        truth = []
        for cls, az, el, d in placed:
            x, y = direction_to_pixel(az, el, w, h, fov)
            s = int(np.clip(0.9 * h / d, 12, h // 2))  # the generator's size rule
            _blend(img, _glyph(cls, s), int(round(x - s / 2)), int(round(y - s / 2)))
            truth.append((cls, x, y))
        dets = detector.detect(img[None])[0]
        assert len(dets) == 2
        for cls, x, y in truth:
            d = min(dets, key=lambda d: np.hypot(d.x - x, d.y - y))
            assert d.cls == cls and np.hypot(d.x - x, d.y - y) < 12
    # a frame with no glyph has no detection
    assert detector.detect(_background("coffee", w, h, np.random.default_rng(3))[None])[0] == []


def test_letterbox_maps_pixels_and_keeps_proportions():
    from binauralize.vision.objects import letterbox

    f = np.zeros((2, 320, 180, 3), np.uint8)  # portrait
    f[:, 100:140, 60:100] = 255               # a 40 x 40 white square
    out, scale, (px, py) = letterbox(f, (320, 180), fill=127)
    assert out.shape == (2, 180, 320, 3) and scale == pytest.approx(180 / 320)
    assert px == (320 - 101) // 2 and py == 0 and out[0, 90, 5, 0] == 127  # grey bars left and right
    ys, xs = np.nonzero(out[0, :, :, 0] > 200)
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 1  # still a square
    assert abs(xs.mean() - (80 * scale + px)) < 1 and abs(ys.mean() - (120 * scale + py)) < 1


@pytest.mark.parametrize("size", [(180, 320), (240, 180)])  # portrait phone video, 4:3
def test_shipped_detector_on_frames_that_are_not_16_9(detector, size):
    from binauralize.data.synth import _background, _blend, _glyph

    w, h = size
    img = _background("coffee", w, h, np.random.default_rng(4))
    s = int(0.35 * max(w, h))
    x, y = 0.3 * w, 0.55 * h
    _blend(img, _glyph("drum", s), int(round(x - s / 2)), int(round(y - s / 2)))
    dets = detector.detect(img[None])[0]
    assert len(dets) == 1 and dets[0].cls == "drum"
    assert np.hypot(dets[0].x - x, dets[0].y - y) < 0.06 * max(w, h)  # in the frame's own pixels


def test_the_tool_with_objects_places_the_drum_it_sees(tmp_path, capsys):
    """End to end: a clip with a drum drawn left of centre -> --objects finds it, names the track by its class, and
    the written output is louder on the left; --objects with --sources is a one-line error."""
    import json

    from binauralize.cli import main
    from binauralize.data.synth import _background, _blend, _glyph
    from binauralize.testing.clips import make_clip

    w, h, fov = 320, 180, 70.0
    bg = _background("coffee", w, h, np.random.default_rng(1))
    x, y = direction_to_pixel(25.0, 0.0, w, h, fov)
    frame = bg.copy()
    _blend(frame, _glyph("drum", 80), int(x - 40), int(y - 40))
    clip = make_clip(tmp_path / "drum.mp4", seconds=2.0, sr=16000, width=w, height=h, draw=lambda i, ww, hh: frame)
    rep = tmp_path / "rep.json"
    assert main([str(clip), "-o", str(tmp_path / "out.wav"), "--objects", "--report", str(rep), "-q"]) == 0
    tracks = json.loads(rep.read_text())["localization"]["objects"]["tracks"]
    az = [p[1] for p in tracks[0]["track"]] if "track" in tracks[0] else [tracks[0]["azimuth"]]
    assert [t["name"] for t in tracks] == ["drum"] and abs(np.median(az) - 25.0) < 4.0
    import soundfile as sf

    out, _ = sf.read(tmp_path / "out.wav")
    assert np.sum(out[:, 0] ** 2) > 1.5 * np.sum(out[:, 1] ** 2)  # left louder: the drum is on the left
    capsys.readouterr()
    (tmp_path / "t.json").write_text(json.dumps({"sources": [{"azimuth": 30}]}))
    assert main([str(clip), "-o", str(tmp_path / "o2.wav"), "--objects", "--sources", str(tmp_path / "t.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--objects" in err[0]


def test_the_probe_frames_decide_whether_the_rest_are_looked_at(detector):
    """``object_tracks`` looks at every 4th frame first: a drum in those frames is tracked over all frames (the same
    tracks as looking at every frame), a drum only in the frames between them is not looked for."""
    from binauralize.data.synth import _background, _blend, _glyph
    from binauralize.vision.objects import object_tracks

    w, h = 320, 180
    bg = _background("coffee", w, h, np.random.default_rng(3))
    drum = bg.copy()
    _blend(drum, _glyph("drum", 60), 200, 60)
    times = np.arange(12) * 0.5
    seen_everywhere = [(t, drum) for t in times]
    full = object_tracks(None, detector, frames=seen_everywhere, probe_every=1)
    probed = object_tracks(None, detector, frames=seen_everywhere)
    assert [t.name for t in probed] == [t.name for t in full] == ["drum"]
    assert np.allclose(probed[0].azimuth, full[0].azimuth) and len(probed[0].times) == 12
    between = [(t, bg if i % 4 == 0 else drum) for i, t in enumerate(times)]  # 9 of 12 frames, none probed
    assert object_tracks(None, detector, frames=between, probe_every=1)[0].name == "drum"
    assert object_tracks(None, detector, frames=between) == []


def test_a_detector_file_given_as_a_model_says_what_it_is():
    """The object detector's weights are not a spatializer: say so and where they go, in one line."""
    from binauralize.errors import InputError
    from binauralize.models.checkpoint import read_metadata
    from binauralize.vision.objects import WEIGHTS

    with pytest.raises(InputError, match="object detector.*--objects-weights"):
        read_metadata(WEIGHTS)
