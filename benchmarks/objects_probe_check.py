"""Does the synthetic-set object detector's probe (every 4th frame at 2 fps) find something in every synthetic test
clip where looking at every frame gives a track? (The probe lets `--objects` skip that detector on real footage.)

    python benchmarks/objects_probe_check.py 400 [DATA]    # DATA: a generated set (default /work/data/synth_near)

2026-11-30: clips 191 with tracks 181 without 10 tracks but empty sample []  (scene_test + hrtf_test of the near set)
"""
import sys

import numpy as np
import torch
from binauralize.vision.objects import ObjectDetector, link_tracks
from binauralize.io.media import iter_frames
from binauralize.dsp.geometry import horizontal_fov
torch.set_num_threads(2)
DATA = sys.argv[2] if len(sys.argv) > 2 else '/work/data/synth_near'
det = ObjectDetector.load()
w = det.trunk.input_size[0]
ids = sorted(set(open(f'{DATA}/splits/scene_test.txt').read().split() + open(f'{DATA}/splits/hrtf_test.txt').read().split()))
mism, n_tr, n_none = [], 0, 0
for cid in ids[:int(sys.argv[1])]:
    frames = list(iter_frames(f'{DATA}/videos/{cid}.mp4', 2.0, w, fast=True))
    fh, fw = frames[0][1].shape[:2]
    batch = np.stack([f for _, f in frames])
    dets = det.detect(batch)
    tr = link_tracks(np.array([t for t, _ in frames]), dets, w, fh, horizontal_fov(None, fw, fh))
    sample_any = any(len(d) for d in dets[::4])
    if tr: n_tr += 1
    else: n_none += 1
    if bool(tr) and not sample_any:
        mism.append(cid)
print("clips", len(ids[:int(sys.argv[1])]), "with tracks", n_tr, "without", n_none, "tracks but empty sample", mism)
