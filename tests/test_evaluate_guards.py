"""evaluate refuses what would give misleading scores or replace files: length mismatches, missing clips, existing
--json/--results-page files, a training run's folder as --out; the default split of a generated set."""
import json

import numpy as np
import soundfile as sf

from binauralize.cli import main

from test_evaluate import SR, make_dataset


def _predictions(tmp_path, ids, name="pred", scale=None):
    pred = tmp_path / name
    pred.mkdir()
    for cid in ids:
        gt, sr = sf.read(tmp_path / "data" / "binaural_audios" / f"{cid}.wav")
        sf.write(pred / f"{cid}.wav", gt if scale is None else scale(gt), sr, subtype="FLOAT")
    return pred


def _eval(tmp_path, *preds, extra=()):
    return main(["evaluate", "--predictions", *map(str, preds), "--ground-truth",
                 str(tmp_path / "data" / "binaural_audios"), "--out", str(tmp_path / "e"), "-q", *extra])


def test_truncated_or_padded_prediction_is_refused(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")
    half = _predictions(tmp_path, ids, "half", lambda x: x[: len(x) // 2])
    assert _eval(tmp_path, half) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ids[0] in err and str(SR // 2) in err and str(SR) in err
    double = _predictions(tmp_path, ids, "double", lambda x: np.concatenate([x, 0 * x]))
    assert _eval(tmp_path, double) == 1
    assert "lengths must match" in capsys.readouterr().err
    assert not (tmp_path / "e" / "summary.json").exists()
    # an encoder's edge (a few ms) is within tolerance: cropped and scored
    edge = _predictions(tmp_path, ids, "edge", lambda x: x[: len(x) - SR // 200])
    assert _eval(tmp_path, edge) == 0
    s = json.loads((tmp_path / "e" / "summary.json").read_text())["edge"]
    assert s["gao2019/stft"]["mean"] < 1e-3


def test_folder_missing_clips_is_refused_unless_allowed(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")
    full = _predictions(tmp_path, ids, "full")
    part = _predictions(tmp_path, ids[:1], "part")
    assert _eval(tmp_path, full, part) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "part lacks 2" in err and ids[1] in err and "--allow-missing" in err
    assert _eval(tmp_path, full, part, extra=["--allow-missing"]) == 0
    s = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert s["full"]["gao2019/stft"]["n"] == 3 and s["part"]["gao2019/stft"]["n"] == 1
    assert "| part |" in (tmp_path / "e" / "results.md").read_text()


def test_json_and_results_page_need_overwrite(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")
    pred = _predictions(tmp_path, ids)
    for flag in ("--json", "--results-page"):
        f = tmp_path / f"mine{flag}.txt"
        f.write_text("the user's file")
        assert _eval(tmp_path, pred, extra=[flag, str(f)]) == 1
        assert "--overwrite" in capsys.readouterr().err
        assert f.read_text() == "the user's file"
        assert _eval(tmp_path, pred, extra=[flag, str(f), "--overwrite"]) == 0
        assert f.read_text() != "the user's file"
    assert not [p for p in tmp_path.rglob("*.partial*")]


def test_out_holding_a_training_run_is_refused(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")
    pred = _predictions(tmp_path, ids)
    run = tmp_path / "e"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "best.safetensors").write_bytes(b"x")
    (run / "summary.json").write_text('{"epochs": 3}')
    assert _eval(tmp_path, pred) == 1
    assert "training run" in capsys.readouterr().err
    assert json.loads((run / "summary.json").read_text()) == {"epochs": 3}


def test_default_split_is_scene_test_then_test(tmp_path, capsys):
    ids = make_dataset(tmp_path / "data")  # writes splits/test.txt (3 clips)
    data = tmp_path / "data"
    assert main(["evaluate", "--model", "mono", "--data", str(data), "--out", str(tmp_path / "a"), "-q"]) == 0
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["mono"]["gao2019/stft"]["n"] == 3
    (data / "splits" / "scene_test.txt").write_text(ids[0] + "\n")
    assert main(["evaluate", "--model", "mono", "--data", str(data), "--out", str(tmp_path / "b"), "-q"]) == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["mono"]["gao2019/stft"]["n"] == 1
    for f in ("test.txt", "scene_test.txt"):
        (data / "splits" / f).unlink()
    (data / "splits" / "scene_val.txt").write_text(ids[0] + "\n")
    assert main(["evaluate", "--model", "mono", "--data", str(data), "--out", str(tmp_path / "c"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--split" in err and "scene_val" in err
