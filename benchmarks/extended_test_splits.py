"""Test splits for a second generated set (another seed) scored with checkpoints trained on the first.

Writes ``EXT/splits/ext_scene.txt`` (clips not made with the held-out head whose ``scene_id`` appears in neither
scene_train nor scene_val of the training set: unseen rooms) and ``EXT/splits/ext_hrtf.txt`` (the clips made with
the held-out head), and prints how many clips of each source count they hold (docs/position.md, "On new clips the
real-mono target is missed in all four subsets").

    .venv/bin/python benchmarks/extended_test_splits.py --train ../data/synth_near --ext ../data/synth_near_ext
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, help="the set the checkpoints were trained on")
    ap.add_argument("--ext", required=True, help="the new set (binauralize dataset synth ... --seed 1)")
    a = ap.parse_args(argv)
    train, ext = Path(a.train), Path(a.ext)

    def meta(root: Path, cid: str) -> dict:
        return json.loads((root / "meta" / f"{cid}.json").read_text())

    seen = {meta(train, c)["scene_id"] for split in ("scene_train", "scene_val")
            for c in (train / "splits" / f"{split}.txt").read_text().split()}
    held = set((ext / "splits" / "hrtf_test.txt").read_text().split())
    scene, hrtf = [], []
    for f in sorted((ext / "meta").glob("*.json")):
        m = json.loads(f.read_text())
        if m["id"] in held:
            hrtf.append(m["id"])
        elif m["scene_id"] not in seen:
            scene.append(m["id"])
    for name, ids in (("ext_scene", scene), ("ext_hrtf", hrtf)):
        (ext / "splits" / f"{name}.txt").write_text("\n".join(ids) + "\n")
        counts = Counter(sum(s["sounding"] for s in meta(ext, c)["sources"]) for c in ids)
        print(f"{name}: {len(ids)} clips, by sounding sources {dict(sorted(counts.items()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
