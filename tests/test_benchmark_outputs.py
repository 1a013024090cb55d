"""The table scripts refuse to replace an existing output (the tracked docs pages by default) without --overwrite,
and learned_table.py checks every split before any work."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("script", ["position_table.py", "learned_table.py", "position_real_brir.py",
                                    "speech_real_brir.py"])
def test_existing_output_needs_overwrite(tmp_path, script):
    out = tmp_path / "page.md"
    out.write_text("mine")
    extra = ["--frame-png", str(tmp_path / "f.png")] if "real_brir" in script else []
    r = _run(script, "--data", str(tmp_path), "--out", str(out), "--json", str(tmp_path / "r.json"), *extra)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--overwrite" in r.stderr and str(out) in r.stderr
    assert out.read_text() == "mine"


def test_learned_table_checks_every_split_first(tmp_path):
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "scene_test.txt").write_text("")  # present (no clips); hrtf_test missing
    r = _run("learned_table.py", "--data", str(tmp_path), "--out", str(tmp_path / "t.md"), "--json",
             str(tmp_path / "t.json"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "hrtf_test" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.md").exists()
