"""What the shipped crop bank accepts: the share of crops it calls like the training pictures, per kind of picture
(docs/position.md, "Pictures unlike the training glyphs: the crop bank").

- the near set's test clips (scene_test + hrtf_test), every on-screen source's crop from the feature cache, per class;
- the real-recording benchmark's photographs (a face and a cat, benchmarks/speech_real_brir.py's frame) at four
  placements;
- every feature-map cell of ten frames (one a second) of each video in ``SHARED/videos``;
- every cell of eight scikit-image photographs (the generator draws its backgrounds from these).

    .venv/bin/python benchmarks/crop_bank_acceptance.py --data ../data/synth_near --shared ../shared/data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def cells(fmap: np.ndarray) -> np.ndarray:
    """Trunk map ``[C, h, w]`` -> every cell's channels ``[h w, C]``."""
    return np.asarray(fmap, np.float32).reshape(fmap.shape[0], -1).T


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the near set with its feature cache")
    ap.add_argument("--shared", required=True, help="folder with videos/")
    ap.add_argument("--json", default=str(HERE / "results" / "crop_bank_acceptance.json"))
    a = ap.parse_args(argv)
    import av
    import cv2
    from skimage import data as skdata

    from binauralize.models.position import crop_embedding
    from binauralize.models.spatializer import open_spatializer
    from binauralize.train.class_nmf_fit import _embeddings
    from position_real_brir import FOV
    from speech_real_brir import VIDEO_H, VIDEO_W, two_photo_frame

    sp = open_spatializer("position", fov_deg=FOV)
    bank = sp.crop_bank
    root = Path(a.data)
    ids = [c for s in ("scene_test", "hrtf_test") for c in (root / "splits" / f"{s}.txt").read_text().split()]
    x, y = _embeddings(root, root / "cache" / "efficientnet-lite0", ids)
    kinds: dict[str, np.ndarray] = {"near set test crops": x}
    per_class = {c: float(np.mean(bank.similarity(x[np.array(y) == c]) >= bank.threshold)) for c in sorted(set(y))}
    photos = []
    for az_v, az_o in ((-40, 40), (40, -40), (-20, 30), (10, -35)):
        fmap = sp.features_from_frames(np.array([0.0]), two_photo_frame(az_v, az_o)[None])(0.0)
        photos += [crop_embedding(fmap, az, 0.0, FOV, VIDEO_W, VIDEO_H)[:-1] for az in (az_v, az_o)]
    kinds["benchmark photographs (face, cat)"] = np.array(photos)
    for v in sorted(Path(a.shared, "videos").glob("*.mp4")):
        frames = []
        with av.open(str(v)) as c:
            stream = c.streams.video[0]
            rate = float(stream.average_rate or 30)
            for i, f in enumerate(c.decode(stream)):
                if i % max(1, round(rate)) == 0:
                    frames.append(f.to_ndarray(format="rgb24"))
                if len(frames) >= 10:
                    break
        fa = sp.features_from_frames(np.arange(len(frames), dtype=float), np.stack(frames))
        kinds[f"video {v.stem}, every cell"] = np.concatenate([cells(fa(float(t))) for t in range(len(frames))])
    imgs = []
    for name in ("astronaut", "chelsea", "coffee", "rocket", "cat", "camera", "immunohistochemistry",
                 "hubble_deep_field"):
        img = getattr(skdata, name)()
        img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
        fmap = sp.features_from_frames(np.array([0.0]), cv2.resize(img, (320, 180))[None])(0.0)
        imgs.append(cells(fmap))
    kinds["scikit-image photographs, every cell"] = np.concatenate(imgs)
    out = {"command": "python benchmarks/crop_bank_acceptance.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "threshold": bank.threshold, "kinds": {}, "near_set_per_class": per_class}
    for k, e in kinds.items():
        sim = bank.similarity(e)
        out["kinds"][k] = {"crops": int(len(e)), "accepted": float(np.mean(sim >= bank.threshold)),
                           "max_similarity": float(sim.max())}
        print(f"{k:<55} {len(e):5d} crops, accepted {np.mean(sim >= bank.threshold):6.1%}, max similarity {sim.max():.3f}")
    print("near set test crops accepted per class: " + ", ".join(f"{c} {v:.1%}" for c, v in per_class.items()))
    Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
