"""dataset card --png and dataset subset --name replace an existing file only with --overwrite; the object
detector's progress line says n/a, not nan px, when nothing was found."""
import json

import numpy as np
import pytest

from binauralize.cli import main


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, tiny_set):
    return tiny_set(tmp_path_factory.mktemp("dg") / "set", seconds=1.0, seed=3)


def test_card_png_needs_overwrite(small_set, tmp_path, capsys):
    png = tmp_path / "card.png"
    png.write_bytes(b"mine")
    assert main(["dataset", "card", str(small_set), "--png", str(png)]) == 1
    assert "--overwrite" in capsys.readouterr().err and png.read_bytes() == b"mine"
    assert main(["dataset", "card", str(small_set), "--png", str(png), "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["clips"] == 4
    assert png.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*partial*"))


def test_subset_needs_overwrite_to_replace_a_user_split(small_set, capsys):
    mine = small_set / "splits" / "mine.txt"
    mine.write_text("000000\n")
    assert main(["dataset", "subset", str(small_set), "--from", "hrtf_train", "--name", "mine"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err and mine.read_text() == "000000\n"
    assert main(["dataset", "subset", str(small_set), "--from", "hrtf_train", "--name", "mine", "--overwrite"]) == 0
    assert len(mine.read_text().split()) == 4


def test_object_error_reads_na_without_hits():
    from binauralize.train.objects_fit import _px

    assert _px(float("nan")) == "n/a" and _px(np.float64(3.25)) == "3.2 px"
