"""Training configs: every shipped one loads; unknown keys and values of the wrong type are refused in one line."""
import glob

import pytest

from binauralize.cli import main
from binauralize.errors import InputError
from binauralize.train.loop import load_config


@pytest.mark.parametrize("path", sorted(glob.glob("configs/*.toml")))
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg["model"]["name"] and cfg["train"]["epochs"] >= 1


@pytest.mark.parametrize("body, match", [
    ("[train]\nepoch = 3\n", r"unknown key 'epoch' in \[train\] \(did you mean 'epochs'\?\).*batch_size"),
    ("[data]\nmax_val_clip = 3\n", r"unknown key 'max_val_clip' in \[data\] \(did you mean 'max_val_clips'\?\)"),
    ("[loss]\nbackbon = 1.0\n", r"unknown key 'backbon' in \[loss\] \(did you mean 'backbone'\?\)"),
    ('[model]\nname = "geometry"\nngf = "four"\n', r"\[model\] ngf must be an integer, got 'four'"),
    ("[train]\nbatch_size = -2\n", r"\[train\] batch_size must be an integer of at least 1, got -2"),
    ("[train]\nepochs = 2.5\n", r"\[train\] epochs must be an integer, got 2.5"),
    ('[train]\nbatch_size = "2"\n', r"\[train\] batch_size must be an integer, got '2'"),
    ('[data]\ninput = "both"\n', r"\[data\] input must be 'real' or 'mix'"),
    ("[train]\namp = 1\n", r"\[train\] amp must be true or false"),
    ('[data]\nexclude_splits = "hrtf_test"\n', r"exclude_splits must be a list of strings"),
])
def test_bad_keys_and_values_are_refused(tmp_path, body, match):
    f = tmp_path / "c.toml"
    f.write_text('[model]\nname = "mono2binaural"\n' + body if not body.startswith("[model]") else body)
    with pytest.raises(InputError, match=match):
        load_config(f)


def test_cli_gives_one_line_not_internal_error(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text('[model]\nname = "geometry"\nngf = "four"\n[train]\nbatch_size = -2\n')
    assert main(["train", str(f), "--data", str(tmp_path), "--out", str(tmp_path / "run"), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err and "batch_size" in err
