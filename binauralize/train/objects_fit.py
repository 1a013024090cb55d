"""Training the object detection head (:mod:`binauralize.vision.objects`) on a synthetic dataset.

Inputs: the detector's maps (:func:`~binauralize.vision.objects.detector_maps`) of ``frames_per_clip`` frames of
each clip's video, decoded once and kept in ``DATA/cache/objects/<id>.npz``, and the clip's metadata (every drawn source, sounding or not: class, direction and distance per video frame, the camera's field of
view). Targets: :func:`~binauralize.vision.objects.cell_targets` of the sources whose centre is in the frame.
Loss: cross-entropy over cells (background weighted ``bg_weight``) + L1 on offsets and log distance at object cells.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputError


def frame_objects(meta: dict, t: float) -> list[tuple[str, float, float, float]]:
    """The sources drawn in a synthetic clip's frame at ``t`` s -> ``(class, x px, y px, distance m)``, projected as
    the generator draws them (:func:`binauralize.data.synth._write_video`)."""
    from ..dsp.geometry import direction_to_pixel

    cam = meta["camera"]
    fps = float(meta.get("fps", 10))
    w, h, fov = int(cam["width"]), int(cam["height"]), float(cam["fov_deg"])
    out = []
    for s in meta["sources"]:
        if not s.get("onscreen", True):
            continue
        i = min(int(round(t * fps)), len(s["azimuth"]) - 1)
        try:
            x, y = direction_to_pixel(s["azimuth"][i], s["elevation"][i], w, h, fov)
        except ValueError:
            continue
        out.append((s["class"], float(x), float(y), float(s["distance"][i])))
    return out


def build_object_cache(root: Path, ids: list[str], out: Path, frames_per_clip: int = 6, progress: bool = True,
                       trunk_name: str = "efficientnet-lite0") -> Path:
    """Decode ``frames_per_clip`` frames per clip (evenly spaced, first at half a spacing) and store their detector
    maps (float16) and times in ``out/<id>.npz`` (resumable; files written atomically; a file with another number
    of frames is made again)."""
    from tqdm import tqdm

    from ..io.media import iter_frames
    from ..models.backbone import make_trunk
    from ..vision.objects import detector_maps

    out.mkdir(parents=True, exist_ok=True)
    def stale(c: str) -> bool:
        f = out / f"{c}.npz"
        return not f.exists() or len(np.load(f)["times"]) != frames_per_clip

    todo = [c for c in ids if (root / "videos" / f"{c}.mp4").exists() and stale(c)]
    trunk = make_trunk(trunk_name) if todo else None
    for cid in tqdm(todo, desc="object maps", unit="clip", disable=not progress):
        meta = json.loads((root / "meta" / f"{cid}.json").read_text())
        seconds = float(meta["config"]["seconds"])
        want = (np.arange(frames_per_clip) + 0.5) * seconds / frames_per_clip
        frames = dict(iter_frames(root / "videos" / f"{cid}.mp4", 10.0, None))
        ts = np.array(sorted(frames))
        pick = [ts[np.argmin(np.abs(ts - t))] for t in want]
        maps = detector_maps(trunk, np.stack([frames[t] for t in pick])).astype(np.float16)
        tmp = out / f"{cid}.tmp.npz"
        np.savez(tmp, maps=maps, times=np.array(pick, np.float64))
        tmp.replace(out / f"{cid}.npz")
    return out


def _load(root: Path, cache: Path, ids: list[str], classes: list[str] | None):
    maps, cls_t, reg_t, names = [], [], [], set()
    metas = {}
    for cid in ids:
        f = cache / f"{cid}.npz"
        m = root / "meta" / f"{cid}.json"
        if not (f.exists() and m.exists()):
            continue
        metas[cid] = json.loads(m.read_text())
        names.update(s["class"] for s in metas[cid]["sources"])
    classes = classes or sorted(names)
    from ..vision.objects import cell_targets

    for cid, meta in metas.items():
        z = np.load(cache / f"{cid}.npz")
        feats, times = z["maps"], z["times"]
        cam = meta["camera"]
        for fmap, t in zip(feats, times):
            objs = [(classes.index(c), x, y, d) for c, x, y, d in frame_objects(meta, float(t)) if c in classes]
            c, r = cell_targets(objs, fmap.shape[1:], int(cam["width"]), int(cam["height"]))
            maps.append(fmap)
            cls_t.append(c)
            reg_t.append(r)
    if not maps:
        raise InputError(f"no cached clips with metadata under {cache}: run `binauralize train-cache` first")
    return np.stack(maps), np.stack(cls_t), np.stack(reg_t), classes


def detection_scores(pred: list, truth: list, tol_px: float = 20.0) -> dict:
    """Per-frame detections against the true objects ``(class, x, y, d)`` -> counts and rates: a detection is a hit
    when an unmatched true object lies within ``tol_px``; ``class_ok`` counts hits of the right class."""
    tp = cls_ok = fp = fn = 0
    err = []
    for dets, objs in zip(pred, truth):
        free = list(range(len(objs)))
        for d in sorted(dets, key=lambda d: -d.score):
            dist = [np.hypot(d.x - objs[j][1], d.y - objs[j][2]) for j in free]
            if dist and min(dist) <= tol_px:
                j = free.pop(int(np.argmin(dist)))
                tp += 1
                cls_ok += d.cls == objs[j][0]
                err.append(min(dist))
            else:
                fp += 1
        fn += len(free)
    return {"precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1), "class_accuracy": cls_ok / max(tp, 1),
            "median_error_px": float(np.median(err)) if err else float("nan"), "objects": tp + fn}


def _px(v: float) -> str:
    """A median pixel error for the progress line: "n/a" when nothing was found (recall 0), not "nan px"."""
    return f"{v:.1f} px" if np.isfinite(v) else "n/a"


def fit_object_detector(root: Path, cache: Path, train_ids: list[str], val_ids: list[str], out: Path, trunk: str,
                        hidden: int = 64, epochs: int = 30, lr: float = 2e-3, batch: int = 64, bg_weight: float = 0.3,
                        threshold: float = 0.5, frames_per_clip: int = 6, seed: int = 0, progress: bool = True,
                        config: dict | None = None) -> dict:
    """Train the head, keep the epoch with the best validation F1 (class-correct hits), write ``out/best.safetensors``
    and ``out/last.safetensors``; returns a summary (validation precision, recall, class accuracy, pixel error)."""
    import torch

    from ..vision.objects import decode, make_head, save_detector

    t0 = time.time()
    torch.manual_seed(seed)
    cache = build_object_cache(root, sorted(set(train_ids) | set(val_ids)), cache.parent / "objects", frames_per_clip,
                               progress, trunk)
    xtr, ctr, rtr, classes = _load(root, cache, train_ids, None)
    xva, cva, rva, _ = _load(root, cache, val_ids, classes)
    k = len(classes)
    head = make_head(xtr.shape[1], k, hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    weight = torch.ones(k + 1)
    weight[0] = bg_weight
    xt, ct, rt = torch.as_tensor(xtr.astype(np.float32)), torch.as_tensor(ctr), torch.as_tensor(rtr)
    xv = torch.as_tensor(xva.astype(np.float32))

    # validation truth from the targets themselves (cell centres), in map pixels of a 320 x 180 frame
    mh, mw = xtr.shape[2:]
    w, h = 320, 180
    truth = []
    for c, r in zip(cva, rva):
        rows, cols = np.nonzero(c)
        truth.append([(classes[c[i, j] - 1], (j + r[0, i, j]) / mw * w, (i + r[1, i, j]) / mh * h, 0.0)
                      for i, j in zip(rows, cols)])
    best, best_f1, history = None, -1.0, []
    for ep in range(epochs):
        head.train()
        perm = torch.randperm(len(xt))
        tot = 0.0
        for i in range(0, len(perm), batch):
            b = perm[i:i + batch]
            o = head(xt[b])
            loss = torch.nn.functional.cross_entropy(o[:, :k + 1], ct[b], weight=weight)
            pos = ct[b] > 0
            if pos.any():
                off = torch.sigmoid(o[:, k + 1:k + 3]).permute(0, 2, 3, 1)[pos]
                loss = loss + (off - rt[b][:, :2].permute(0, 2, 3, 1)[pos]).abs().mean() * 2.0
                loss = loss + (o[:, k + 3][pos] - rt[b][:, 2][pos]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
        sched.step()
        head.eval()
        with torch.inference_mode():
            ov = head(xv).numpy()
        pred = [decode(o, classes, w, h, threshold) for o in ov]
        s = detection_scores(pred, truth)
        f1 = 2 * s["precision"] * s["recall"] * s["class_accuracy"] / max(s["precision"] + s["recall"], 1e-9)
        history.append({"epoch": ep + 1, "train_loss": tot / len(perm), **s, "f1_class": f1})
        if progress:
            print(f"objects: epoch {ep + 1}/{epochs} loss {tot / len(perm):.3f} val precision {s['precision']:.3f} "
                  f"recall {s['recall']:.3f} class {s['class_accuracy']:.3f} err {_px(s['median_error_px'])}",
                  flush=True)
        if f1 > best_f1:
            best_f1, best = f1, {kk: v.detach().clone() for kk, v in head.state_dict().items()}
            best_stats = history[-1]
    summary = {"classes": classes, "train_frames": int(len(xt)), "val_frames": int(len(xv)), "val": best_stats,
               "seconds": time.time() - t0, "epochs": epochs}
    save_detector(out / "last.safetensors", head, classes, trunk, hidden, threshold, {"summary": summary})
    head.load_state_dict(best)
    save_detector(out / "best.safetensors", head, classes, trunk, hidden, threshold, {"summary": summary})
    (out / "history.json").write_text(json.dumps(history, indent=1))
    return summary
