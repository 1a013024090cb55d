"""prepare-fairplay refuses a generated set and a root without clips, in one line, writing nothing."""
import json

from binauralize.cli import main

from test_fairplay import replica


def test_generated_set_is_refused(tmp_path, capsys):
    root = tmp_path / "synth"
    replica(root)
    (root / "meta").mkdir()
    (root / "synth_recipe.json").write_text(json.dumps({"seed": 0}))
    assert main(["dataset", "prepare-fairplay", str(root), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "generated set" in err
    assert not (root / "binaural_audios_16k").exists() and not (root / "frames").exists()


def test_empty_root_is_refused(tmp_path, capsys):
    root = tmp_path / "fp"
    (root / "binaural_audios").mkdir(parents=True)
    (root / "videos").mkdir()
    assert main(["dataset", "prepare-fairplay", str(root), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no .wav clips" in err
    assert not (root / "binaural_audios_16k").exists()


def test_prepare_leaves_no_partial_frame_folders(tmp_path):
    ids = replica(tmp_path / "fp")
    assert main(["dataset", "prepare-fairplay", str(tmp_path / "fp"), "-q"]) == 0
    assert not list((tmp_path / "fp" / "frames").glob("*.partial"))
    assert main(["dataset", "prepare-fairplay", str(tmp_path / "fp"), "-q", "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "fp" / "frames").iterdir()) == [f"{c}.mp4" for c in ids]
