"""`dataset splits` rewrites every generated split name: a split left with no clip loses its file (a stale one
would leak clips between training and test), and readers say so in one line."""
import json

import pytest

from binauralize.cli import main
from binauralize.data.synth import GENERATED_SPLITS, write_splits
from binauralize.errors import InputError


def _metas(root, n=6):
    (root / "meta").mkdir(parents=True)
    for i in range(n):
        m = {"id": f"{i:06d}", "scene_id": f"scene{i}", "hrtf_heldout": False,
             "sources": [{"sounding": True, "azimuth": [40.0]}]}
        (root / "meta" / f"{i:06d}.json").write_text(json.dumps(m))


def test_stale_split_files_are_removed(tmp_path, capsys):
    _metas(tmp_path)
    (tmp_path / "splits").mkdir()
    for name in GENERATED_SPLITS:  # an earlier seed's files, every clip in each
        (tmp_path / "splits" / f"{name}.txt").write_text("\n".join(f"{i:06d}" for i in range(6)) + "\n")
    (tmp_path / "splits" / "mine.txt").write_text("000001\n")  # a user's subset: left alone
    counts = write_splits(tmp_path, seed=3)
    assert set(counts) == set(GENERATED_SPLITS) and counts["hrtf_test"] == 0 and counts["position_test"] == 0
    files = {p.stem for p in (tmp_path / "splits").glob("*.txt")}
    assert files == {k for k, v in counts.items() if v} | {"mine"}
    scene = [set((tmp_path / "splits" / f"{k}.txt").read_text().split()) for k in ("scene_train", "scene_val",
                                                                                   "scene_test") if k in files]
    assert sum(len(s) for s in scene) == 6 and len(set().union(*scene)) == 6  # disjoint, every clip once
    assert not list((tmp_path / "splits").glob(".*"))  # no temporary files left
    assert main(["dataset", "splits", str(tmp_path), "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["hrtf_test"] == 0


def test_readers_name_an_empty_generated_split(tmp_path):
    _metas(tmp_path)
    write_splits(tmp_path)
    from binauralize.evaluate import discover_dataset
    from binauralize.train.loop import _split_ids

    with pytest.raises(InputError, match=r"hrtf_test.txt \(a generated split with no clip in this set has no file\)"):
        discover_dataset(tmp_path, "hrtf_test")
    with pytest.raises(InputError, match=r"no clip in this set has no file\); this set has: .*hrtf_train"):
        _split_ids(tmp_path, "hrtf_test", tmp_path)
