"""The evaluation harness end to end on a tiny dataset the test builds."""
import json

import numpy as np
import pytest
import soundfile as sf

from binauralize.cli import main
from binauralize.dsp.hrtf import HRTF
from binauralize.dsp.render import PLAIN, Renderer
from binauralize.tracks import SourceTrack

SR = 16000


def make_dataset(root, n=3):
    """Ground truth = plain HRTF rendering of noise bursts at known azimuths (so the oracle DSP can match it)."""
    rng = np.random.default_rng(0)
    r = Renderer(HRTF.default(SR), PLAIN)
    for d in ("binaural_audios", "meta", "splits", "mono_audios"):
        (root / d).mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        az = [-50.0, 0.0, 50.0][i % 3]
        x = rng.standard_normal(SR) * 0.1 * (np.arange(SR) % 4000 < 2000)
        gt = r.render(x, [SourceTrack.static(az)])
        cid = f"{i:06d}"
        sf.write(root / "binaural_audios" / f"{cid}.wav", gt.T, SR, subtype="FLOAT")
        sf.write(root / "mono_audios" / f"{cid}.wav", x, SR, subtype="FLOAT")  # the dry "real mono" recording
        (root / "meta" / f"{cid}.json").write_text(json.dumps({"tracks": {"sources": [{"azimuth": az}]}}))
        ids.append(cid)
    (root / "splits" / "test.txt").write_text("\n".join(ids))
    return ids


def test_model_over_split_ranks_oracle_first(tmp_path, capsys):
    make_dataset(tmp_path / "data")
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", "mono", "plain", "dsp-flipped", "--data", str(tmp_path / "data"), "--split",
                 "test", "--out", str(out), "--json", str(tmp_path / "r.json"), "-q",
                 "--results-page", str(tmp_path / "page.md")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    # from the real mono, the plain renderer with oracle tracks reproduces this ground truth exactly
    assert summary["plain"]["gao2019/stft"]["mean"] < 1e-6 < summary["mono"]["gao2019/stft"]["mean"]
    assert summary["plain"]["lcr_accuracy"]["mean"] > summary["mono"]["lcr_accuracy"]["mean"]
    for f in ("per_clip.csv", "results.md", "bars.png"):
        assert (out / f).stat().st_size > 0
    assert "| mono |" in (out / "results.md").read_text()
    assert "Published FAIR-Play" in (tmp_path / "page.md").read_text()
    # Flipped-Visual puts the lateral clips on the wrong side
    assert summary["dsp-flipped"]["lcr_accuracy"]["mean"] < summary["plain"]["lcr_accuracy"]["mean"]


def test_prediction_folders(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")
    pred = tmp_path / "pred"
    pred.mkdir()
    for cid in ids:
        gt, sr = sf.read(tmp_path / "data" / "binaural_audios" / f"{cid}.wav")
        sf.write(pred / f"{cid}.wav", gt, sr, subtype="FLOAT")  # perfect predictions
    code = main(["evaluate", "--predictions", str(pred), "--ground-truth", str(tmp_path / "data" / "binaural_audios"),
                 "--out", str(tmp_path / "e"), "-q"])
    assert code == 0
    s = json.loads((tmp_path / "e" / "summary.json").read_text())["pred"]
    assert s["gao2019/stft"]["mean"] < 1e-9 and s["gao2019/env"]["mean"] < 1e-6
    assert "mono_compat_db" not in s  # the inputs were not given: no mono deviation against a guess
    mono_pred = tmp_path / "mono_pred"  # Mono-Mono of the inputs: (L+R)/2 is exactly the input
    mono_pred.mkdir()
    for cid in ids:
        x, sr = sf.read(tmp_path / "data" / "mono_audios" / f"{cid}.wav")
        sf.write(mono_pred / f"{cid}.wav", np.stack([x, x], axis=1), sr, subtype="FLOAT")
    assert main(["evaluate", "--predictions", str(pred), str(mono_pred), "--ground-truth",
                 str(tmp_path / "data" / "binaural_audios"), "--inputs", str(tmp_path / "data" / "mono_audios"),
                 "--out", str(tmp_path / "ei"), "-q"]) == 0
    si = json.loads((tmp_path / "ei" / "summary.json").read_text())
    assert si["mono_pred"]["mono_compat_db"]["mean"] <= -119 < si["pred"]["mono_compat_db"]["mean"]
    batch = tmp_path / "batch"  # named as the tool's batch mode names its outputs: clip -> clip_binaural
    batch.mkdir()
    for f in pred.iterdir():
        (batch / f"{f.stem}_binaural.wav").write_bytes(f.read_bytes())
    assert main(["evaluate", "--predictions", str(batch), "--ground-truth", str(tmp_path / "data" / "binaural_audios"),
                 "--out", str(tmp_path / "eb"), "-q"]) == 0
    sb = json.loads((tmp_path / "eb" / "summary.json").read_text())["batch"]
    assert sb["gao2019/stft"]["mean"] < 1e-9 and sb["gao2019/stft"]["n"] == len(ids)
    other = tmp_path / "b" / "pred"  # a second folder of the same name: its rows would be pooled with the first's
    other.mkdir(parents=True)
    capsys.readouterr()
    code = main(["evaluate", "--predictions", str(pred), str(other), "--ground-truth",
                 str(tmp_path / "data" / "binaural_audios"), "--out", str(tmp_path / "e2"), "-q"])
    assert code == 1 and "both named 'pred'" in capsys.readouterr().err
    code = main(["evaluate", "--model", "dsp", "dsp", "--data", str(tmp_path / "data"), "--split", "test",
                 "--out", str(tmp_path / "e3"), "-q"])
    assert code == 1 and "both named 'dsp'" in capsys.readouterr().err


def test_direction_check(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(SR * 2) * 0.1
    y = Renderer(HRTF.default(SR), PLAIN).render(x, [SourceTrack.static(40)])
    sf.write(tmp_path / "o.wav", y.T, SR, subtype="FLOAT")
    (tmp_path / "t.json").write_text(json.dumps({"sources": [{"azimuth": 40}]}))
    code = main(["evaluate", "--direction-check", str(tmp_path / "o.wav"), "--tracks", str(tmp_path / "t.json"),
                 "--out", str(tmp_path / "d")])
    assert code == 0
    res = json.loads((tmp_path / "d" / "direction_check.json").read_text())
    assert res["lcr_agreement"] > 0.9


def test_evaluate_bad_usage(tmp_path, capsys):
    assert main(["evaluate", "--predictions", str(tmp_path)]) == 1
    assert main(["evaluate", "--model", "dsp", "--data", str(tmp_path), "--split", "nope"]) == 1
    err = capsys.readouterr().err
    assert "not a dataset folder?" in err
    make_dataset(tmp_path / "data")
    assert main(["evaluate", "--model", "dsp", "--data", str(tmp_path / "data"), "--split", "nope"]) == 1
    assert "this set has: test" in capsys.readouterr().err
    assert "Traceback" not in err
    assert main(["evaluate", "--model", f"x={tmp_path / 'none.safetensors'}", "--data", str(tmp_path / "data"),
                 "--split", "test", "-q"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    for hop in ("0", "5"):  # a zero hop never finished
        assert main(["evaluate", "--model", "mono2binaural", "--data", str(tmp_path / "data"), "--split", "test",
                     "--hop", hop, "-q"]) == 1
        assert "--hop must be in" in capsys.readouterr().err


def test_mono_deviation_at_the_floor_reads_exact():
    """A renderer that keeps (L+R)/2 = input scores the metric's -120 dB floor: the table says "exact", while a
    real deviation keeps its number."""
    from binauralize.evaluate import markdown_table, summarize
    from binauralize.metrics.spatial import mono_compatibility_db

    rng = np.random.default_rng(0)
    x = rng.standard_normal(8000)
    d = 0.3 * rng.standard_normal(8000)
    kept = mono_compatibility_db(np.stack([x + d, x - d]), x)
    off = mono_compatibility_db(np.stack([x + d, 0.5 * (x - d)]), x)
    assert kept <= -119.5 and -20 < off < 0
    rows = [{"method": m, "clip": c, "mono_compat_db": v} for c in ("a", "b") for m, v in (("kept", kept), ("off", off))]
    table = markdown_table(summarize(rows))
    assert "| kept | exact | 2 |" in table and f"| off | {off:.1f} +- 0.0 | 2 |" in table, table
    one = markdown_table(summarize(rows[:2]))  # one clip: no standard error rather than a zero one
    assert f"| off | {off:.1f} (1 clip) | 1 |" in one, one


def test_width_against_the_truth_in_db():
    """Side-to-mid energy over the truth's: the same signal 0 dB, half the difference -6 dB, mono the floor."""
    from binauralize.evaluate import width_db

    rng = np.random.default_rng(3)
    s, d = rng.standard_normal(16000), 0.3 * rng.standard_normal(16000)
    gt = np.stack([(s + d) / 2, (s - d) / 2])
    half = np.stack([(s + d / 2) / 2, (s - d / 2) / 2])
    assert width_db(gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert width_db(half, gt) == pytest.approx(-6.02, abs=0.01)
    assert width_db(np.stack([s, s]), gt) == -120.0
    assert width_db(3.0 * gt, gt) == pytest.approx(0.0, abs=1e-9)  # level does not matter


def test_band_width_does_not_depend_on_the_outputs_tone():
    """A side strong only at high frequencies: the same binaural pair through one low-pass filter (on both ears)
    reads much narrower broadband but as wide in every octave band; halving the side reads -6 dB in every band."""
    from scipy.signal import butter, sosfilt

    from binauralize.evaluate import width_bands_db, width_db

    sr = 16000
    rng = np.random.default_rng(4)
    s = rng.standard_normal(4 * sr)
    d = sosfilt(butter(4, 2000, "high", fs=sr, output="sos"), rng.standard_normal(4 * sr))
    gt = np.stack([s + d, s - d])
    dull = sosfilt(butter(2, 800, "low", fs=sr, output="sos"), gt, axis=-1) + 0.05 * gt  # same filter, both ears
    assert width_db(dull, gt) < -6.0
    bands = width_bands_db(dull, gt, sr)
    assert set(bands) == {250, 500, 1000, 2000, 4000}  # 8 kHz is above Nyquist at 16 kHz
    assert all(abs(v) < 0.5 for v in bands.values()), bands
    half = width_bands_db(np.stack([s + d / 2, s - d / 2]), gt, sr)
    assert all(abs(v + 6.02) < 0.3 for fc, v in half.items() if fc >= 2000), half
