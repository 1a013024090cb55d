"""Learned models (Mono2Binaural family): shapes, checkpoints, training steps, sliding-window inference, baselines,
and the train -> evaluate -> tool path on a tiny generated dataset."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from binauralize.cli import main  # noqa: E402
from binauralize.errors import InputError  # noqa: E402
from binauralize.models import checkpoint  # noqa: E402
from binauralize.models.registry import build  # noqa: E402
from binauralize.models.spatializer import LearnedSpatializer, features_lookup  # noqa: E402
from binauralize.train.loop import _sounding, load_config, model_args  # noqa: E402
from binauralize.train.objectives import losses, rt60_from_logmag  # noqa: E402

TRUNK = {"trunk": "efficientnet-lite0", "channels": 320, "map_size": [5, 10]}
N = 10080  # 0.63 s at 16 kHz


def debug_model(path="configs/debug.toml", **over):
    name, args = model_args(load_config(path), TRUNK)
    args.update(over)
    torch.manual_seed(0)
    return build(name, **args)


def batch(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(b, 2, N, generator=g) * 0.1
    return {"mix": target.sum(1), "target": target, "feat": torch.rand(b, 320, 5, 10, generator=g),
            "feat2": torch.rand(b, 320, 5, 10, generator=g), "rir": torch.randn(b, 2, 128, 64, generator=g) - 5}


@pytest.mark.parametrize("cfg", ["configs/debug.toml", "configs/debug_geometry.toml"])
def test_debug_presets_shapes(cfg):
    m = debug_model(cfg).eval()
    x = batch()
    out = m(x["mix"], x["feat"])
    assert out["diff"].shape == (3, 257, 64) and out["diff"].is_complex()
    assert m.predict_binaural(x["mix"], x["feat"]).shape == (3, 2, N)
    if m.registry_name == "geometry":
        assert out["left"].shape == out["right"].shape == (3, 257, 64)
        assert m.rir_logmag(out["vf"]).shape == (3, 2, 128, 64)
        assert m.coherence_logit(torch.stack([out["left"], out["right"]], 1), out["vf"]).shape == (3,)


def test_binaural_reconstruction_keeps_the_mix():
    """L = (M + D) / 2 and R = (M - D) / 2: L + R is the input mix whatever the network predicts."""
    m = debug_model().eval()
    x = batch()
    y = m.predict_binaural(x["mix"], x["feat"])
    assert torch.allclose(y.sum(1), x["mix"], atol=1e-5)


def test_checkpoint_round_trip_and_corruption(tmp_path):
    m = debug_model("configs/debug_geometry.toml").eval()
    x = batch()
    p = checkpoint.save(tmp_path / "m.safetensors", m, {"a": 1}, {"epoch": 3})
    m2, meta = checkpoint.load(p)
    assert meta["model"] == "geometry" and meta["config"] == {"a": 1} and meta["extra"]["epoch"] == 3
    assert meta["args"] == m.init_args and len(meta["sha256"]) == 64
    with torch.no_grad():
        assert torch.equal(m(x["mix"], x["feat"])["diff"], m2(x["mix"], x["feat"])["diff"])
    raw = bytearray(p.read_bytes())
    raw[-5] ^= 0xFF
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="SHA-256"):
        checkpoint.load(bad)
    (tmp_path / "x.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        checkpoint.load(tmp_path / "x.safetensors")


@pytest.mark.parametrize("cfg", ["configs/debug.toml", "configs/debug_geometry.toml"])
def test_training_steps_decrease_the_loss_on_a_repeated_batch(cfg):
    m = debug_model(cfg).train()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x = batch(4)
    vals = []
    for _ in range(4):
        torch.manual_seed(0)  # the same coherence swaps every step
        t = losses(m, x, load_config(cfg)["loss"])
        opt.zero_grad()
        t["total"].backward()
        opt.step()
        vals.append(float(t["total"].detach()))
    assert np.all(np.isfinite(vals)) and vals[-1] < vals[0]


def _constant_mask_model(c: float):
    m = debug_model().eval()
    with torch.no_grad():
        conv = m.up5[0]
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([np.log((1 + c) / (1 - c)), 0.0]))  # sigmoid -> (1 + c) / 2 -> mask c + 0i
    return m


def test_sliding_window_reconstructs_a_constant_mask_exactly(tmp_path):
    c = 0.3
    p = checkpoint.save(tmp_path / "c.safetensors", _constant_mask_model(c))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 2 + 123) * 0.1
    feats = features_lookup(np.array([1.0]), np.zeros((1, 320, 5, 10), np.float32))
    for hop in (0.05, 0.2):
        sp = LearnedSpatializer(p, hop_s=hop)
        d = sp.predict_16k(x, feats)
        np.testing.assert_allclose(d, c * 2 * x, atol=1e-5)
        y = sp.render(x, 16000, feats)
        np.testing.assert_allclose(y[0] - y[1], c * 2 * x, atol=1e-5)
        np.testing.assert_allclose(y.mean(0), x, atol=1e-12)


def test_full_band_output_at_48k_pans_the_high_band_and_keeps_the_mono(tmp_path):
    """At 48 kHz the high band (> 8 kHz) follows the predicted balance: a constant positive mask (left louder)
    makes the left channel louder above 8 kHz too; (L + R) / 2 is the input."""
    p = checkpoint.save(tmp_path / "c.safetensors", _constant_mask_model(0.5))
    rng = np.random.default_rng(1)
    x = rng.standard_normal(48000) * 0.1
    feats = features_lookup(np.array([0.5]), np.zeros((1, 320, 5, 10), np.float32))
    y = LearnedSpatializer(p).render(x, 48000, feats)
    np.testing.assert_allclose(y.mean(0), x, atol=1e-12)
    spec = np.abs(np.fft.rfft(y, axis=1)) ** 2
    f = np.fft.rfftfreq(48000, 1 / 48000)
    for lo, hi in ((500, 7000), (10000, 20000)):
        band = (f > lo) & (f < hi)
        ild = 10 * np.log10(spec[0, band].sum() / spec[1, band].sum())
        assert 6 < ild < 12, (lo, ild)   # (1 + 0.5) / (1 - 0.5) = 3 -> 9.5 dB


def test_flipped_visual_and_audio_only_differ_as_expected(tmp_path):
    m = debug_model()
    for mod in m.modules():  # PyTorch's default (larger) initialisation: outputs depend clearly on the features
        if hasattr(mod, "reset_parameters") and mod is not m:
            mod.reset_parameters()
    p = checkpoint.save(tmp_path / "v.safetensors", m.eval())
    sp = LearnedSpatializer(p)
    x = np.random.default_rng(2).standard_normal(16000) * 0.1
    f = np.zeros((1, 320, 5, 10), np.float32)
    f[..., :4] = 10.0  # something bright on the left of the picture
    normal = sp.predict_16k(x, features_lookup(np.array([0.5]), f))
    flipped = sp.predict_16k(x, features_lookup(np.array([0.5]), f[..., ::-1].copy()))
    assert np.abs(normal - flipped).max() > 1e-3 * np.abs(normal).max()  # far above float noise (~1e-7)
    ao = checkpoint.save(tmp_path / "ao.safetensors", debug_model("configs/audio_only.toml", ngf=4).eval())
    a = LearnedSpatializer(ao)
    assert not a.uses_visual
    np.testing.assert_allclose(a.predict_16k(x, None), a.predict_16k(x, features_lookup(np.array([0.5]), f)))


def test_rt60_estimator_known_answer():
    from binauralize.train.cache import rir_logmag

    sr = 24000
    t = np.arange(int(1.3 * sr)) / sr
    for rt in (0.3, 0.8):
        x = np.random.default_rng(0).standard_normal((2, len(t))) * 10 ** (-3 * t / rt)
        est = float(rt60_from_logmag(torch.from_numpy(rir_logmag(x, sr))[None]))
        assert abs(est - rt) < 0.1 * rt


def test_train_cache_train_resume_evaluate_and_tool(tmp_path, tiny_set, capsys):
    data = tiny_set(tmp_path / "set")
    ids = [f"{i:06d}" for i in range(4)]
    (data / "splits" / "scene_train.txt").write_text("\n".join(ids[:3]))
    (data / "splits" / "scene_val.txt").write_text(ids[3])
    (data / "splits" / "scene_test.txt").write_text(ids[3])
    assert main(["train-cache", str(data), "-q"]) == 0
    cache = data / "cache" / "efficientnet-lite0"
    z = np.load(cache / "000000.npz")
    assert z["features"].shape == (1, 320, 5, 10) and z["binaural"].shape == (2, 32000)
    assert (cache / "000003_flipped.npy").exists() and not (cache / "000000_flipped.npy").exists()
    run = tmp_path / "run"
    assert main(["train", "configs/debug.toml", "--data", str(data), "--out", str(run), "-q"]) == 0
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and (run / "best.safetensors").exists()
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"  # drawn beside the log every epoch
    assert main(["train", "configs/debug.toml", "--data", str(data), "--out", str(run), "-q"]) == 1  # no overwrite
    big = tmp_path / "big_batch.toml"  # more than the training windows: nothing would train; refused, no checkpoint
    big.write_text(open("configs/debug.toml").read().replace("batch_size = 2", "batch_size = 64"))
    capsys.readouterr()
    assert main(["train", str(big), "--data", str(data), "--out", str(tmp_path / "big"), "-q"]) == 1
    assert "make no batch of 64" in capsys.readouterr().err and not (tmp_path / "big" / "best.safetensors").exists()
    assert main(["train", "configs/debug.toml", "--data", str(data), "--out", str(run), "--epochs", "3",
                 "--resume", "-q"]) == 0
    assert len((run / "log.csv").read_text().splitlines()) == 4
    assert checkpoint.read_metadata(run / "last.safetensors")["extra"]["epoch"] == 2
    capsys.readouterr()  # resumed with another model's config: one line, the run untouched
    assert main(["train", "configs/debug_geometry.toml", "--data", str(data), "--out", str(run), "--epochs", "4",
                 "--resume", "-q"]) == 1
    err = capsys.readouterr().err
    assert "another model or config" in err and err.count("\n") == 1, err
    assert len((run / "log.csv").read_text().splitlines()) == 4
    prun = tmp_path / "position"  # issue 7's mask model trains on the same cache (+ per-source stems)
    assert main(["train", "configs/debug_position.toml", "--data", str(data), "--out", str(prun), "-q"]) == 0
    assert checkpoint.load(prun / "best.safetensors")[1]["model"] == "position"
    assert (cache / "000000_sources.npz").exists()
    nrun = tmp_path / "class_nmf"  # the class-conditioned NMF separator is fitted from the same set
    assert main(["train", "configs/debug_class_nmf.toml", "--data", str(data), "--out", str(nrun), "-q"]) == 0
    nmeta = checkpoint.read_metadata(nrun / "best.safetensors")
    assert nmeta["model"] == "class-nmf" and nmeta["args"]["classes"] and nmeta["extra"]["atoms_per_class"] == 2
    nck = str(nrun / "best.safetensors")
    assert main(["evaluate", "--model", "dsp", f"nmf={nck}", f"nmf={nck}@noname", "--data", str(data),
                 "--split", "scene_test", "--out", str(tmp_path / "ev_nmf"), "--input", "real", "-q"]) == 0
    assert set(json.loads((tmp_path / "ev_nmf" / "summary.json").read_text())) == {"dsp", "nmf", "nmf-noname"}
    pncfg = tmp_path / "position_nmf.toml"  # position-nmf: the position network refines that separator's masks
    pncfg.write_text(open("configs/debug_position.toml").read().replace("hidden = 4", f'hidden = 4\nprior = "{nck}"'))
    assert main(["train", str(pncfg), "--data", str(data), "--out", str(tmp_path / "pn"), "-q"]) == 0
    pnck = tmp_path / "pn" / "best.safetensors"
    pmeta = checkpoint.read_metadata(pnck)
    assert pmeta["model"] == "position" and pmeta["args"]["classes"] == nmeta["args"]["classes"]
    np.testing.assert_allclose(checkpoint_tensor(pnck, "nmf_dictionaries"),
                               checkpoint_tensor(nrun / "best.safetensors", "dictionaries"))  # kept in float32
    assert main(["evaluate", "--model", f"pn={pnck}", "--data", str(data), "--split", "scene_test",
                 "--out", str(tmp_path / "ev_pn"), "--input", "real", "-q"]) == 0
    assert set(json.loads((tmp_path / "ev_pn" / "summary.json").read_text())) == {"pn"}
    pncfg.write_text(pncfg.read_text().replace(f'prior = "{nck}"', f'prior = "{pnck}"'))  # not a class-nmf file
    assert main(["train", str(pncfg), "--data", str(data), "--out", str(tmp_path / "pn_bad"), "-q"]) == 1
    assert "is not a class-nmf checkpoint" in capsys.readouterr().err
    from binauralize.train.class_nmf_fit import _stem_frames  # dictionaries of the sources as heard at the head

    dry, wet, both = (_stem_frames(data, ids[:3], stems=k, cache=cache) for k in ("dry", "wet", "both"))
    assert set(dry) == set(wet) == set(both)
    for k in dry:
        assert sum(map(len, both[k])) == sum(map(len, dry[k])) + sum(map(len, wet[k]))
        assert not np.allclose(np.concatenate(dry[k]).mean(0), np.concatenate(wet[k]).mean(0), rtol=0.05)
    wcfg = tmp_path / "nmf_wet.toml"
    wcfg.write_text(open("configs/debug_class_nmf.toml").read().replace("iters = 20", 'iters = 20\nstems = "wet"'))
    assert main(["train", str(wcfg), "--data", str(data), "--out", str(tmp_path / "nmf_wet"), "-q"]) == 0
    wd = checkpoint_tensor(tmp_path / "nmf_wet" / "best.safetensors", "dictionaries")
    assert wd.shape == checkpoint_tensor(nrun / "best.safetensors", "dictionaries").shape
    orun = tmp_path / "objects"  # the object detector's head: maps of 2 frames per clip, then 2 epochs
    assert main(["train", "configs/debug_objects.toml", "--data", str(data), "--out", str(orun), "-q"]) == 0
    assert np.load(data / "cache" / "objects" / "000000.npz")["maps"].shape == (2, 432, 11, 20)
    assert (orun / "best.safetensors").exists() and len(json.loads((orun / "history.json").read_text())) == 2
    assert main(["evaluate", "--model", "dsp-objects", f"nmf={nck}@objects", "--data", str(data),
                 "--split", "scene_test", "--out", str(tmp_path / "ev_obj"), "--input", "real", "-q"]) == 0
    assert set(json.loads((tmp_path / "ev_obj" / "summary.json").read_text())) == {"dsp-objects", "nmf-objects"}
    rep_o = tmp_path / "rep_o.json"
    assert main([str(data / "videos" / "000001.mp4"), "-o", str(tmp_path / "obj.wav"), "--audio",
                 str(data / "mono_audios" / "000001.wav"), "--objects-weights", str(orun / "best.safetensors"),
                 "--model", nck, "--report", str(rep_o), "-q"]) == 0
    assert "objects" in json.loads(rep_o.read_text())["localization"]
    _check_remix(data, cache, tmp_path, capsys)
    capsys.readouterr()
    ck = str(run / "best.safetensors")
    assert main(["evaluate", "--model", "mono", f"m2b={ck}", f"m2b={ck}@flipped", "--data", str(data),
                 "--split", "scene_test", "--out", str(tmp_path / "ev"), "--input", "real", "-q"]) == 0
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert set(summary) == {"mono", "m2b", "m2b-flipped"}
    out = tmp_path / "clip_3d.wav"
    assert main(["--model", ck, str(data / "videos" / "000001.mp4"), "-o", str(out), "--audio",
                 str(data / "mono_audios" / "000001.wav"), "--objects", "--report", str(tmp_path / "rep_m.json"),
                 "-q"]) == 0
    assert any("--objects is ignored" in m for m in json.loads((tmp_path / "rep_m.json").read_text())["notices"])
    import soundfile as sf

    y, sr = sf.read(out)
    mono, _ = sf.read(data / "mono_audios" / "000001.wav")
    assert sr == 16000 and y.shape == (len(mono), 2)
    assert np.mean(np.abs(y.mean(1) - mono) < 2e-3) > 0.999  # soft limiter aside, (L+R)/2 is the input
    pck = str(prun / "best.safetensors")  # the position model: oracle and detected tracks, then the tool
    assert main(["evaluate", "--model", "dsp", f"pos={pck}", f"pos={pck}@detected", "--data", str(data),
                 "--split", "scene_test", "--out", str(tmp_path / "evp"), "--input", "real", "-q"]) == 0
    assert set(json.loads((tmp_path / "evp" / "summary.json").read_text())) == {"dsp", "pos", "pos-detected"}
    frun = tmp_path / "flow"  # the flow-matching variant: DSP renderings cached, then trained and evaluated
    assert main(["train", "configs/debug_flow.toml", "--data", str(data), "--out", str(frun), "-q"]) == 0
    assert (cache / "000000_dsp_real.npy").exists()
    fck = str(frun / "best.safetensors")
    assert main(["evaluate", "--model", f"flow={fck}@steps1", f"flow={fck}@steps2", "--data", str(data),
                 "--split", "scene_test", "--out", str(tmp_path / "evf"), "--input", "real", "-q"]) == 0
    assert set(json.loads((tmp_path / "evf" / "summary.json").read_text())) == {"flow-steps1", "flow-steps2"}
    out2 = tmp_path / "clip_pos.wav"
    assert main(["--model", pck, str(data / "videos" / "000001.mp4"), "-o", str(out2), "--audio",
                 str(data / "mono_audios" / "000001.wav"), "--report", str(tmp_path / "rep.json"), "-q"]) == 0
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["learned_model"]["model"] == "position" and rep["renderer"] is not None
    assert rep["learned_model"]["crop_bank"] is None  # a checkpoint of one's own: no bank beside it, every crop used
    assert sf.read(out2)[0].shape == (len(mono), 2)
    bank = prun / "best.crops.safetensors"  # its own crop bank beside it: the tool then uses it
    assert main(["train-crop-bank", str(data), "--out", str(bank), "--prototypes", "2", "--exclude"]) == 0
    assert main(["train-crop-bank", str(data), "--out", str(bank), "--prototypes", "2"]) == 1  # exists: refused
    assert main(["--model", pck, str(data / "videos" / "000001.mp4"), "-o", str(out2), "--audio",
                 str(data / "mono_audios" / "000001.wav"), "--report", str(tmp_path / "rep.json"), "-q",
                 "--overwrite"]) == 0
    assert json.loads((tmp_path / "rep.json").read_text())["learned_model"]["crop_bank"]["prototypes"] == 2
    assert main(["--model", "no-such-model", str(data / "videos" / "000001.mp4"), "-o", str(tmp_path / "x.wav")]) == 1
    assert "unknown model" in capsys.readouterr().err


def test_shipped_weights_load_and_keep_the_mono():
    from binauralize.models.spatializer import shipped_models

    ship = shipped_models()
    assert {"mono2binaural", "geometry"} <= set(ship)
    assert "objects" not in ship  # the object detector's weights are not a spatializer (--model objects: unknown)
    assert "crop-bank" not in ship  # nor is the visual models' crop bank
    for name in ("mono2binaural", "geometry"):
        sp = LearnedSpatializer(name)
        assert sp.meta["model"] == name and sp.uses_visual
        x = np.random.default_rng(0).standard_normal(24000) * 0.1
        feats = features_lookup(np.array([0.5]), np.random.default_rng(1).random((1, 320, 5, 10)).astype(np.float32))
        y = sp.render(x, 24000, feats)
        assert y.shape == (2, 24000) and np.isfinite(y).all()
        np.testing.assert_allclose(y.mean(0), x, atol=1e-9)


def test_shipped_track_models_keep_their_guarantees():
    """Shipped position and flow weights: one source = the DSP renderer exactly (position), (L+R)/2 = input and
    a fixed seed (flow), through the public API without a video (sources then count as off screen)."""
    from binauralize.api import Binauralizer
    from binauralize.dsp.hrtf import HRTF
    from binauralize.dsp.render import Renderer
    from binauralize.models.spatializer import open_spatializer, shipped_models
    from binauralize.tracks import SourceTrack

    assert {"position", "flow"} <= set(shipped_models())
    x = np.random.default_rng(0).standard_normal(24000) * 0.1
    one = [SourceTrack.static(35.0)]
    two = [SourceTrack.static(35.0, name="a"), SourceTrack.static(-50.0, name="b")]
    r = Renderer(HRTF.default(24000))
    pos = open_spatializer("position", renderer_factory=lambda sr: r)
    np.testing.assert_allclose(pos.render(x, 24000, one), r.render(x, one), atol=1e-9)
    parts = pos.separate(x, 24000, two)
    np.testing.assert_allclose(parts.sum(0), x, atol=1e-9)
    np.testing.assert_allclose(pos.render(x, 24000, two), pos.render(x, 24000, two[::-1]), atol=1e-6)
    y = Binauralizer(method="flow").render(x, 24000, two)
    assert y.shape == (2, 24000) and np.isfinite(y).all()
    np.testing.assert_allclose(y.mean(0), x, atol=1e-9)
    np.testing.assert_allclose(Binauralizer(method="flow").render(x, 24000, two), y, atol=1e-9)


def test_api_render_with_a_visual_model_asks_for_frames():
    from binauralize.api import Binauralizer

    with pytest.raises(InputError, match="frames"):
        Binauralizer(method="mono2binaural").render(np.zeros(16000), 16000)
    with pytest.raises(InputError, match="unknown model"):
        Binauralizer(method="no-such-model")


def checkpoint_tensor(path, name: str) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(str(path))[name]


def checkpoint_arch(path) -> str:
    from binauralize.models import checkpoint

    return checkpoint.load(path)[0].arch


def _check_remix(data, cache, tmp_path, capsys):
    """Dynamic remixing (issue 7): a remixed item's input is exactly the sum of the two clips' windows at their
    stored scale (normalised once), and it carries both clips' sources; the preset trains with it."""
    from binauralize.data.datasets import rms_scale
    from binauralize.train.windows import CachedClips
    from binauralize.train.sources import RemixWindows, SourceWindows

    class WithStart(SourceWindows):
        _keep_start = True

    ids = ["000000", "000001", "000002"]
    clips = CachedClips(cache, ids)
    rw = RemixWindows(clips, ids, "mix", 0.63, random=True, seed=3, remix=1.0, max_sources=6)
    sw = WithStart(clips, ids, "mix", 0.63, random=True, seed=3, max_sources=6)
    mixed = 0
    for i in range(len(rw)):
        item, base = rw[i], sw[i]
        j = rw.donor(i)
        na = int((base["presence"].numpy().max(axis=1) > 0).sum())
        n = int((item["presence"].numpy().max(axis=1) > 0).sum())
        if j is None or n == na:  # not remixed (no clip fits, or the other window is silent): the plain item
            torch.testing.assert_close(item["mix"], base["mix"])
            continue
        assert rw.index[j][0] != ids[i] and rw.count(ids[i]) + rw.count(rw.index[j][0]) <= 6
        mixed += 1
        other = sw[j]
        nb = int((other["presence"].numpy().max(axis=1) > 0).sum())
        assert n == na + nb
        torch.testing.assert_close(item["stems"][na:n], other["stems"][:nb])
        torch.testing.assert_close(item["tokens"][na:n], other["tokens"][:nb])
        m = rw.raw_mono(ids[i], base["start"]) + rw.raw_mono(rw.index[j][0], other["start"])
        np.testing.assert_allclose(item["mix"].numpy(), 2.0 * m * rms_scale(m), rtol=1e-4, atol=1e-6)
    assert mixed > 0
    counts = {c: rw.count(c) for c in ids}  # donors keep the total within max_sources; singles are always remixed
    assert all(n == _sounding(data, c) for c, n in counts.items())
    assert min(counts.values()) == 1  # the fixture has single-source clips
    for cap in (1, 2, 3):
        rc = RemixWindows(clips, ids, "mix", 0.63, random=True, seed=5, remix=0.0, always_below=2, max_sources=cap)
        for epoch in range(3):
            rc.set_epoch(epoch)
            for i, (c, *_) in enumerate(rc.index):
                j = rc.donor(i)
                if counts[c] >= 2:
                    assert j is None  # remix = 0: only items below two sources are remixed
                elif any(counts[o] + counts[c] <= cap and o != c for o in ids):
                    assert j is not None and counts[rc.index[j][0]] + counts[c] <= cap
                else:
                    assert j is None  # nothing fits beside it
    va = RemixWindows(clips, ids, "mix", 0.63, random=False, remix=1.0, max_sources=6)
    torch.testing.assert_close(va[0]["mix"], WithStart(clips, ids, "mix", 0.63, random=False, max_sources=6)[0]["mix"])
    cfg = tmp_path / "remix.toml"
    cfg.write_text(open("configs/debug_position.toml").read().replace(
        'input = "real"', 'input = "real"\nremix = 0.5\nremix_always_below = 2\nmin_sources = 1'))
    assert main(["train", str(cfg), "--data", str(data), "--out", str(tmp_path / "remix_run"), "-q"]) == 0
    assert (tmp_path / "remix_run" / "best.safetensors").exists()
    cfg.write_text(cfg.read_text().replace("min_sources = 1", "min_sources = 1\nval_min_sources = 4"))  # none has 4
    assert main(["train", str(cfg), "--data", str(data), "--out", str(tmp_path / "remix_run2"), "-q"]) == 1
    assert "no validation clips with at least 4 sounding sources" in capsys.readouterr().err
    # the afternoon's options: wet targets + the output-domain term + the tcn network train end to end; bad values
    # are one-line errors
    cfg.write_text(open("configs/debug_position.toml").read().replace('input = "real"', 'input = "real"\ntargets = "wet"')
                   .replace('hidden = 4', 'hidden = 4\narch = "tcn"\nblocks = 2'))
    assert main(["train", str(cfg), "--data", str(data), "--out", str(tmp_path / "wet_run"), "-q"]) == 0
    assert checkpoint_arch(tmp_path / "wet_run" / "best.safetensors") == "tcn"
    assert "binaural" in (tmp_path / "wet_run" / "log.csv").read_text().splitlines()[0]
    for bad, msg in (('targets = "wet"', 'targets = "damp"'), ('arch = "tcn"', 'arch = "rnn"')):
        cfg.write_text(cfg.read_text().replace(bad, msg))
        assert main(["train", str(cfg), "--data", str(data), "--out", str(tmp_path / "bad_run"), "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert msg.split(" = ")[1].strip('"') in err and len(err.splitlines()) == 1
        cfg.write_text(cfg.read_text().replace(msg, bad))


def test_training_curves_mark_the_epoch_best_is_kept_by(tmp_path):
    """curves.png from log.csv: the marked epoch is the lowest validation score by the loop's own rule (val_diff
    for the Mono2Binaural family, else val_total)."""
    from binauralize.train.curves import plot_log

    log = tmp_path / "log.csv"
    log.write_text("epoch,train_diff,train_total,train_seconds,val_diff,val_total\n"
                   "1,2.0,2.5,1.0,1.9,2.4\n2,1.5,2.0,1.0,1.2,2.6\n3,1.2,1.6,1.0,1.4,2.2\n")
    r = plot_log(log, tmp_path / "c.png")
    assert (r["best_epoch"], r["score_key"], r["best_score"]) == (2, "val_diff", 1.2)
    assert r["terms"] == ["diff", "total"] and (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    log.write_text("epoch,train_total,val_total\n1,1.0,0.9\n2,0.8,0.95\n")
    assert plot_log(log, tmp_path / "d.png")["best_epoch"] == 1


def test_config_and_device_mistakes_are_one_line_errors(tmp_path, capsys):
    """A misspelt table trained the defaults, a negative learning rate ran gradient ascent, --epochs -1 claimed a
    checkpoint it never wrote, --device cuda without CUDA was an internal error: each is now refused up front."""
    from binauralize.errors import InputError
    from binauralize.train.loop import load_config, pick_device

    bad = tmp_path / "bad.toml"
    bad.write_text('[modle]\nname = "mono2binaural"\n')
    with pytest.raises(InputError, match=r"unknown table \[modle\]"):
        load_config(bad)
    bad.write_text(open("configs/debug.toml").read().replace("epochs = 2", "epochs = 2\nlr = -0.001"))
    with pytest.raises(InputError, match="lr must be a positive number"):
        load_config(bad)
    assert main(["train", "configs/debug.toml", "--data", str(tmp_path), "--epochs", "-1", "-q"]) == 1
    assert "--epochs must be at least 1" in capsys.readouterr().err
    with pytest.raises(InputError, match="not a device name"):
        pick_device("foo")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            pick_device("cuda")
    assert pick_device("cpu").type == "cpu"


def test_train_cache_says_how_to_restore_lost_clips(tmp_path, sources_dir, capsys):
    data = tmp_path / "set"
    assert main(["dataset", "synth", "--out", str(data), "--num-clips", "2", "--seconds", "1.0", "--workers", "1",
                 "--sample-rate", "16000", "--size", "160x90", "--sources-dir", sources_dir, "-q"]) == 0
    (data / "videos" / "000001.mp4").unlink()
    capsys.readouterr()
    assert main(["train-cache", str(data), "-q"]) == 1
    err = capsys.readouterr().err
    assert "lost files (first 000001)" in err and "dataset synth" in err and err.count("\n") == 1
    assert not (data / "cache").exists()  # nothing half-made


def test_a_track_model_is_built_after_the_frame_analysis_starts_and_a_bad_one_fails_cleanly(tmp_path, capsys):
    """Track-driven models are built while the frames are analysed (DeferredSpatializer): constructing the tool reads
    only the checkpoint's metadata, so the traits it needs first equal the built model's; a checkpoint whose weights
    are damaged (metadata intact) still ends in one clear error, exit code 1 and no output."""
    import struct
    from pathlib import Path

    from binauralize.api import Binauralizer
    from binauralize.models.spatializer import DeferredSpatializer, spatializer_traits
    from binauralize.testing.clips import make_clip

    for name in ("position", "position-nmf", "class-nmf", "flow"):
        b = Binauralizer(method=name)
        assert isinstance(b.learned, DeferredSpatializer) and b.learned._real is None
        traits = spatializer_traits(name)
        b.learned.fov_deg = 55.0  # set before it is built: passed on
        real = b.learned.load()
        for k, v in traits.items():
            assert getattr(real, k, False) == (55.0 if k == "fov_deg" else v), (name, k)  # the tool: getattr(.., False)
        assert not hasattr(real, "fov_deg") or real.fov_deg == 55.0
    src = Path(__file__).resolve().parents[1] / "binauralize" / "models" / "weights" / "position.safetensors"
    data = bytearray(src.read_bytes())
    head = struct.unpack("<Q", bytes(data[:8]))[0]
    data[8 + head + 1000: 8 + head + 1008] = b"\xff" * 8  # in the weights, past the header
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0)
    assert main([str(clip), "-o", str(tmp_path / "o.mp4"), "--model", str(bad), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SHA-256" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.partial*"))
