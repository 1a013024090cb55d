"""The synthetic dataset generator: metadata agrees with the audio and the picture; reproducible; real mono."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from binauralize.cli import main
from binauralize.data.synth import SynthConfig, generate_clip, write_splits
from binauralize.metrics.spatial import gcc_phat_itd


def cfg(sources_dir, **kw):
    base = dict(seconds=1.5, sample_rate=16000, fps=10, width=160, height=90, sources_dir=sources_dir,
                max_sources=1, p_moving=0.0, p_offscreen=0.0, p_silent_distractor=0.0, max_order=1, p_dolly=0.0,
                p_occluder=0.0)
    base.update(kw)
    return SynthConfig(**base)


def test_static_source_audio_points_where_meta_says(tmp_path, sources_dir):
    for index in range(3):
        m = generate_clip(tmp_path, index, 5, cfg(sources_dir))
        src = m["sources"][0]
        az = src["azimuth"][0]
        y, sr = sf.read(tmp_path / "binaural_audios" / f"{m['id']}.wav", always_2d=True)
        y = y.T
        onset = int(0.05 * sr)
        direct = y[:, : int(0.6 * sr)]
        itd = gcc_phat_itd(direct[0], direct[1], sr)
        if abs(az) > 8:
            assert np.sign(itd) == np.sign(az), (az, itd)
        # the picture agrees: left of centre <-> positive azimuth
        x = src["pixel_xy"][0]
        assert (x < 80) == (az > 0)
        assert onset > 0


def test_same_seed_same_clip_and_real_mono_differs(tmp_path, sources_dir):
    a = generate_clip(tmp_path / "a", 2, 9, cfg(sources_dir, max_sources=2, p_moving=0.5))
    b = generate_clip(tmp_path / "b", 2, 9, cfg(sources_dir, max_sources=2, p_moving=0.5))
    for sub in ("binaural_audios", "mono_audios"):
        ya, _ = sf.read(tmp_path / "a" / sub / "000002.wav")
        yb, _ = sf.read(tmp_path / "b" / sub / "000002.wav")
        # identical up to float rounding (numpy's FFT takes alignment-dependent SIMD paths, so not always bit-exact)
        np.testing.assert_allclose(ya, yb, atol=1e-6)
    assert a["sources"] == b["sources"]
    y, _ = sf.read(tmp_path / "a" / "binaural_audios" / "000002.wav")
    mono, _ = sf.read(tmp_path / "a" / "mono_audios" / "000002.wav")
    mix = y.mean(axis=1)
    c = np.corrcoef(mono, mix)[0, 1]
    assert c < 0.999  # a separate microphone, not (L+R)/2
    assert np.abs(mono).max() > 0


def test_cli_set_with_splits_and_evaluate(tmp_path, sources_dir, capsys):
    out = tmp_path / "set"
    code = main(["dataset", "synth", "--out", str(out), "--num-clips", "4", "--seconds", "1.0", "--seed", "3",
                 "--workers", "2", "--sample-rate", "16000", "--size", "160x90", "--sources-dir", sources_dir, "-q",
                 "--rt60", "0.2", "0.3", "--distance", "0.8", "1.0"])
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "meta").glob("*.json"))) == 4
    for f in (out / "meta").glob("*.json"):  # the requested rooms and distances
        m = json.loads(f.read_text())
        assert 0.2 <= m["room"]["rt60"] <= 0.3
        for src in m["sources"]:
            if src["sounding"] and not src["moving"]:
                d = np.linalg.norm(np.subtract(src["start_xyz"], m["camera"]["position"]))
                assert d <= 1.0 + 1e-6  # (>= 0.8 unless kept inside the room's walls)
    capsys.readouterr()
    assert main(["dataset", "subset", str(out), "--from", "hrtf_train", "--name", "one_src", "--max-sounding", "1"]) == 0
    one = (out / "splits" / "one_src.txt").read_text().split()
    assert all(sum(s["sounding"] for s in json.loads((out / "meta" / f"{c}.json").read_text())["sources"]) == 1
               for c in one)
    assert main(["dataset", "subset", str(out), "--from", "hrtf_train", "--name", "scene_train"]) != 0
    names = {p.stem for p in (out / "splits").glob("*.txt")}
    assert {"hrtf_train"} <= names and any(n.startswith("scene_") for n in names)
    meta = json.loads((out / "meta" / "000000.json").read_text())
    assert meta["tracks"]["sources"] and (out / "videos" / "000000.mp4").stat().st_size > 0
    (out / "splits" / "all.txt").write_text("\n".join(f"{i:06d}" for i in range(4)))
    code = main(["evaluate", "--model", "mono", "dsp", "--data", str(out), "--split", "all", "--out", str(tmp_path / "ev"), "-q"])
    assert code == 0
    assert write_splits(out)["hrtf_train"] == 4
    capsys.readouterr()
    assert main(["dataset", "card", str(out), "--png", str(tmp_path / "card.png")]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["clips"] == 4 and sum(card["classes"].values()) == card["sounding"]
    assert (tmp_path / "card.png").stat().st_size > 0


def test_camera_pan_rotates_the_directions(tmp_path, sources_dir):
    m = generate_clip(tmp_path, 0, 4, cfg(sources_dir, p_pan=1.0, max_pan_deg_per_s=8.0, seconds=2.0))
    pan = m["camera"]["pan_deg_per_s"]
    assert pan != 0
    az = np.array(m["sources"][0]["azimuth"])
    t = np.arange(len(az)) / m["fps"]
    np.testing.assert_allclose(az - az[0], -pan * t, atol=1e-2)  # the head turns, the static source moves against it
    # and the audio follows: ITD of the first vs the last half second moves the same way
    y, sr = sf.read(tmp_path / "binaural_audios" / "000000.wav", always_2d=True)
    assert m["camera"]["yaw_deg"][-1] == pytest.approx(pan * t[-1], abs=1e-2)


def test_moving_source_reflections_follow_it(tmp_path, sources_dir):
    """Overlap-add of keyframed reflections equals the static convolution when the source does not move."""
    from scipy.signal import oaconvolve

    from binauralize.data.synth import _moving_reflections
    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.room import RoomOptions, reflections_brir

    sr = 16000
    hrtf = HRTF.default(sr)
    opts = RoomOptions(size=(6.0, 5.0, 3.0), rt60=0.3, listener=(2.0, 2.5, 1.5), max_order=1)
    x = np.random.default_rng(0).standard_normal(sr * 2)
    t = np.arange(20) / 10
    dirs = np.tile([30.0, 0.0, 2.0], (20, 1))
    moving = _moving_reflections(x, hrtf, opts, t, dirs, 0.0, sr)
    refl = reflections_brir(hrtf, 30.0, 0.0, 2.0, opts, equalized=False) / 2.0  # as the generator hears them
    static = np.stack([oaconvolve(x, refl[c])[: len(x)] for c in range(2)])
    np.testing.assert_allclose(moving[:, 8000:-8000], static[:, 8000:-8000], atol=1e-6 * np.abs(static).max() + 1e-9)


def test_occluders_change_the_picture_only(tmp_path, sources_dir):
    """Same seed with and without scene objects: identical sound, metadata naming the occluder, and the picture
    differs only around the occluded source."""
    from binauralize.io.media import iter_frames

    a, b = tmp_path / "a", tmp_path / "b"
    ma = generate_clip(a, 0, 11, cfg(sources_dir, p_occluder=0.0, p_dolly=0.0))
    mb = generate_clip(b, 0, 11, cfg(sources_dir, p_occluder=1.0, p_dolly=0.0))
    assert ma["occluders"] == [] and len(mb["occluders"]) == 1 and mb["sources"][0]["occluded_by"]
    ya, _ = sf.read(a / "binaural_audios" / "000000.wav")
    yb, _ = sf.read(b / "binaural_audios" / "000000.wav")
    np.testing.assert_array_equal(ya, yb)
    fa = next(iter(iter_frames(a / "videos" / "000000.mp4", 10.0, None)))[1].astype(float)
    fb = next(iter(iter_frames(b / "videos" / "000000.mp4", 10.0, None)))[1].astype(float)
    diff = np.abs(fa - fb).mean(axis=2) > 30
    ys, xs = np.nonzero(diff)
    o = mb["occluders"][0]
    assert diff.any() and abs(xs.mean() - o["xy"][0]) < o["size"] and abs(ys.mean() - o["xy"][1]) < o["size"]


def test_camera_dolly_moves_the_directions_by_geometry(tmp_path, sources_dir):
    from binauralize.dsp.geometry import cart_to_sph

    m = generate_clip(tmp_path, 0, 5, cfg(sources_dir, p_dolly=1.0, p_pan=0.0, p_occluder=0.0, seconds=2.0))
    v = np.array(m["camera"]["dolly_m_per_s"])
    assert np.linalg.norm(v) > 0.05 and v[2] == 0
    s = m["sources"][0]
    end_cam = np.array(m["camera"]["end_position"])
    az, el, dist = cart_to_sph(np.array(s["start_xyz"]) - end_cam)
    # the last frame is at t = 1.9 s; the stored direction there matches the camera's position then
    cam_last = np.array(m["camera"]["position"]) + v * 1.9
    az_l, _, d_l = cart_to_sph(np.array(s["start_xyz"]) - cam_last)
    assert abs(s["azimuth"][-1] - float(az_l)) < 0.05 and abs(s["distance"][-1] - float(d_l)) < 0.01
    assert abs(s["azimuth"][-1] - s["azimuth"][0]) > 0.1  # a static source seen from a moving camera moves


def test_a_failing_clip_is_one_clear_error_not_a_traceback(tmp_path, sources_dir, capsys, monkeypatch):
    import binauralize.data.synth as synth

    def broken(*a, **k):
        raise ValueError("room may be too large for required RT60")

    monkeypatch.setattr(synth, "generate_clip", broken)
    code = main(["dataset", "synth", "--out", str(tmp_path / "s"), "--num-clips", "1", "--seconds", "1.0",
                 "--workers", "1", "--sources-dir", sources_dir, "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "clip 000000" in err and "RT60" in err and len(err.strip().splitlines()) == 1


def test_real_mono_is_time_aligned_with_the_binaural_ground_truth(tmp_path):
    # a microphone beside the head hears the direct sound when the ears do: no lag of distance / c (8.7-11.7 ms
    # here) between the real-mono track and (L+R)/2, or a mask on the mono could not predict L - R.
    # Noise bursts only: a tone's periodic cross-correlation would make the lag ambiguous.
    dry = tmp_path / "dry"
    dry.mkdir()
    rng = np.random.default_rng(1)
    for k in range(2):
        sf.write(dry / f"drum_burst{k}.wav", rng.standard_normal(16000) * (np.arange(16000) % 4000 < 1500), 16000)
    lags = []
    for index in range(5):
        m = generate_clip(tmp_path, index, 3, cfg(str(dry), distance_range=(3.0, 4.0), rt60_range=(0.2, 0.3)))
        y, sr = sf.read(tmp_path / "binaural_audios" / f"{m['id']}.wav")
        mono, _ = sf.read(tmp_path / "mono_audios" / f"{m['id']}.wav")
        lags.append(gcc_phat_itd(y.mean(axis=1), mono, sr, max_s=0.02, interp=1))  # > 0: the mono lags
    # median: GCC-PHAT can lock onto a strong reflection in one clip (the two rooms' reflections differ by design)
    assert np.median(np.abs(lags)) <= 0.25e-3, lags  # unaligned: 9-13 ms


def test_wet_stems_sum_to_the_ground_truth_mid_signal_for_static_scenes(tmp_path, sources_dir):
    """Each source through its stored BRIR (ears averaged) is what it contributes to (L+R)/2: for static sources
    and camera the images add up to the ground truth's mid signal (the position model's 'wet' targets)."""
    from binauralize.train.sources import wet_stems

    seen = 0
    for index in range(4):
        m = generate_clip(tmp_path, index, 4, cfg(sources_dir, max_sources=2, p_pan=0.0))
        wet = wet_stems(tmp_path, m["id"])
        mix, sr = sf.read(tmp_path / "mono_mix" / f"{m['id']}.wav")
        assert sr == 16000 and len(wet) == sum(s["sounding"] for s in m["sources"])
        s = np.sum(wet, axis=0)[: len(mix)]
        # equal up to the renderer's filter design (its direct filters are the HRTF spectra interpolated onto the
        # filter's grid; the stored BRIR holds the HRIR itself): within -35 dB
        assert np.sum((s - mix) ** 2) < 3e-4 * np.sum(mix ** 2)
        seen = max(seen, len(wet))
    assert seen == 2  # at least one mixture among the clips


def test_a_set_folder_takes_one_recipe(tmp_path, sources_dir, capsys):
    """Reruns and shards with the same settings add to one set; other settings, or a folder holding other files,
    are a one-line error before anything is written (clips of two recipes must not mix in one set)."""
    out = tmp_path / "s"
    args = ["dataset", "synth", "--out", str(out), "--num-clips", "2", "--seconds", "1.0", "--seed", "3",
            "--workers", "1", "--sample-rate", "16000", "--size", "160x90", "--sources-dir", sources_dir, "-q"]
    assert main(args[:-1] + ["--shard", "0/2", "-q"]) == 0
    assert main(args[:-1] + ["--shard", "1/2", "-q"]) == 0  # the other shard joins the same set
    before = {p.name: p.stat().st_mtime_ns for p in (out / "binaural_audios").iterdir()}
    meta1 = (out / "meta" / "000001.json").read_text()
    (out / "meta" / "000001.json").unlink()  # as if stopped before clip 1 was finished
    assert main(args) == 0  # the rerun makes only the missing clip, the same as before
    assert (out / "binaural_audios" / "000000.wav").stat().st_mtime_ns == before["000000.wav"]
    assert (out / "binaural_audios" / "000001.wav").stat().st_mtime_ns != before["000001.wav"]
    assert (out / "meta" / "000001.json").read_text() == meta1
    before = {p.name: p.stat().st_mtime_ns for p in (out / "binaural_audios").iterdir()}
    capsys.readouterr()
    assert main([a if a != "1.0" else "2.0" for a in args]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "seconds" in err and err.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in (out / "binaural_audios").iterdir()} == before
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["dataset", "synth", "--out", str(other), "--num-clips", "1", "--seconds", "1.0",
                 "--sources-dir", sources_dir, "-q"]) == 1
    assert "holds other files (notes.txt)" in capsys.readouterr().err and sorted(os.listdir(other)) == ["notes.txt"]
    assert main(["dataset", "synth", "--out", str(tmp_path / "h"), "--num-clips", "1", "--seconds", "1.0",
                 "--sources-dir", sources_dir, "--heldout-hrtf", str(tmp_path / "none.sofa"), "-q"]) == 1
    assert "no SOFA file" in capsys.readouterr().err and not (tmp_path / "h").exists()
    (tmp_path / "not.sofa").write_text("not a SOFA file")  # exists but unreadable: refused before the claim too
    assert main(["dataset", "synth", "--out", str(tmp_path / "h"), "--num-clips", "1", "--seconds", "1.0",
                 "--sources-dir", sources_dir, "--hrtf", str(tmp_path / "not.sofa"), "-q"]) == 1
    assert "not.sofa" in capsys.readouterr().err and not (tmp_path / "h").exists()


def test_shards_starting_together_claim_one_folder(tmp_path):
    """Many runs claiming one new folder at once: none is refused, one recipe is written, other settings are not."""
    from concurrent.futures import ThreadPoolExecutor

    from binauralize.data.synth import RECIPE, claim_folder
    from binauralize.errors import InputError

    cfg = SynthConfig(seconds=1.0, sources_dir=str(tmp_path))
    for trial in range(5):
        out = tmp_path / f"set{trial}"
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda _: claim_folder(out, 4, 0, cfg), range(8)))  # raises if any run was refused
        assert json.loads((out / RECIPE).read_text())["num_clips"] == 4
        assert [p.name for p in out.iterdir()] == [RECIPE]  # no temporary files left
        with pytest.raises(InputError, match="other settings"):
            claim_folder(out, 5, 0, cfg)
    rel = SynthConfig(seconds=1.0, sources_dir=os.path.relpath(tmp_path))  # the same folder named another way
    claim_folder(tmp_path / "set0", 4, 0, rel)
