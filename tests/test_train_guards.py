"""train refuses a partly cached set, a resume on another dataset or input, and does nothing (files untouched)
when a resumed run already has its epochs; one-line errors for a file as --out and a folder that is no dataset."""
import json
import shutil

import pytest

from binauralize.cli import main
from binauralize.models import checkpoint


@pytest.fixture(scope="module")
def cached_set(tmp_path_factory, tiny_set):
    data = tiny_set(tmp_path_factory.mktemp("guards") / "set")
    ids = [f"{i:06d}" for i in range(4)]
    (data / "splits" / "scene_train.txt").write_text("\n".join(ids[:3]))
    (data / "splits" / "scene_val.txt").write_text(ids[3])
    assert main(["train-cache", str(data), "-q"]) == 0
    return data


def _train(data, run, *extra):
    return main(["train", "configs/debug.toml", "--data", str(data), "--out", str(run), "-q", *extra])


def test_partly_cached_set_is_refused_unless_allowed(cached_set, tmp_path, capsys):
    data = tmp_path / "partial"
    shutil.copytree(cached_set, data)
    (data / "cache" / "efficientnet-lite0" / "000000.npz").unlink()
    assert _train(data, tmp_path / "r") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1 of 3 clips of scene_train are not cached" in err
    assert f"binauralize train-cache {data}" in err and not (tmp_path / "r").exists()
    assert _train(data, tmp_path / "r", "--allow-uncached") == 0
    for f in ("config.json", "summary.json"):
        clips = json.loads((tmp_path / "r" / f).read_text())["clips"]
        assert clips["scene_train"] == {"clips": 3, "cached": 2, "used": 2}
        assert clips["scene_val"]["used"] == 1


def test_resume_checks_dataset_and_input_and_nothing_to_do(cached_set, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(cached_set, run) == 0
    assert json.loads((run / "config.json").read_text())["dataset"] == str(cached_set.resolve())
    assert checkpoint.read_metadata(run / "last.safetensors")["config"]["dataset"] == str(cached_set.resolve())
    files = {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()}
    other = tmp_path / "other"
    shutil.copytree(cached_set, other)
    capsys.readouterr()
    assert _train(other, run, "--resume", "--epochs", "3") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"was trained on {cached_set.resolve()}" in err
    assert _train(cached_set, run, "--resume", "--epochs", "3", "--input", "mix") == 1
    assert "trained with input 'real', not 'mix'" in capsys.readouterr().err
    assert _train(cached_set, run, "--resume") == 0  # 2 of 2 epochs done
    assert "nothing to do: the run already has 2 epochs" in capsys.readouterr().err
    assert {f.name: f.read_bytes() for f in run.iterdir() if f.is_file()} == files
    assert _train(cached_set, run, "--resume", "--epochs", "3") == 0
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_resume_of_a_run_without_the_record_gives_a_notice(cached_set, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    run = tmp_path / "old"
    assert _train(cached_set, run) == 0
    last = run / "last.safetensors"
    with safe_open(str(last), framework="pt") as f:  # as a run made before the dataset was recorded
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    cfg.pop("dataset")
    meta["config"] = json.dumps(cfg)
    save_file(tensors, str(last), metadata=meta)
    capsys.readouterr()
    assert _train(cached_set, run, "--resume", "--epochs", "3") == 0
    assert "predates the dataset record" in capsys.readouterr().err


def test_bad_out_and_data_are_one_line(cached_set, tmp_path, capsys):
    png = tmp_path / "card.png"
    png.write_bytes(b"png")
    assert _train(cached_set, png) == 1
    assert "is a file" in capsys.readouterr().err and png.read_bytes() == b"png"
    assert main(["train", "configs/debug.toml", "--out", str(tmp_path / "r"), "-q"]) == 1
    assert "pass --data DIR" in capsys.readouterr().err
    assert _train(cached_set / "meta", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "is not a dataset folder" in err and "train-cache" not in err
    (tmp_path / "dir").mkdir()
    assert main(["train-crop-bank", str(cached_set), "--out", str(tmp_path / "dir"), "--overwrite"]) == 1
    err = capsys.readouterr().err.strip()
    assert "is a folder" in err and "internal error" not in err
    assert main(["train-cache", str(cached_set), "--flip-splits", "nosuch", "-q"]) == 1
    assert "no split nosuch" in capsys.readouterr().err


def test_evaluating_a_checkpoint_on_its_training_split_gives_a_notice(cached_set, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(cached_set, run) == 0
    ck = str(run / "best.safetensors")
    capsys.readouterr()
    assert main(["evaluate", "--model", f"m={ck}", "--data", str(cached_set), "--split", "scene_train",
                 "--max-clips", "1", "--out", str(tmp_path / "e")]) == 0
    assert "m was trained with scene_train as its training split" in capsys.readouterr().err
    assert main(["evaluate", "--model", f"m={ck}", "--data", str(cached_set), "--split", "hrtf_train",
                 "--max-clips", "1", "--out", str(tmp_path / "e2"), "-q"]) == 0
    assert "notice" not in capsys.readouterr().err
