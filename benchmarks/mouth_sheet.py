"""Both mouths of the split-screen interview (../shared/data/videos/visualvoice_interview.mp4) at 5 fps between two
times, one row per man, to see by eye who talks when (docs/localization.md).

    .venv/bin/python benchmarks/mouth_sheet.py 11.0 13.0 sheet.png [VIDEO]
"""
import sys

import cv2
import numpy as np

from binauralize.io.media import iter_frames
V = sys.argv[4] if len(sys.argv) > 4 else '../shared/data/videos/visualvoice_interview.mp4'
t0, t1 = float(sys.argv[1]), float(sys.argv[2])
rows = [[], []]
for t, f in iter_frames(V, 5.0, 1280, fast=True):
    if t < t0: continue
    if t >= t1: break
    img = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
    # left man face ~ x 250-450, right man ~ x 850-1050 (half-frame split screen); crop lower face
    for k, (x0, x1, y0, y1) in enumerate([(330, 500, 230, 360), (790, 960, 190, 320)]):
        c = img[y0:y1, x0:x1]
        c = cv2.resize(c, (130, 100))
        cv2.putText(c, f"{t:.1f}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1)
        rows[k].append(c)
sheet = np.vstack([np.hstack(r) for r in rows])
cv2.imwrite(sys.argv[3], sheet)
print(sheet.shape)
