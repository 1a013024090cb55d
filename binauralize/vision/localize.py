"""From frames to source tracks: detect candidates, follow them, decide which one sounds, map to directions.

1. ``analyse_video``: one streaming pass over frames sampled at ``fps`` (real timestamps): faces every
   ``detect_every``-th analysis frame, causal box tracking between detections, mouth-motion energy per face at every
   analysis frame, a localized-motion candidate, and shot boundaries. Only small per-frame records are kept.
2. ``decide``: audio-visual synchrony (Pearson correlation, over a sliding window, of each face's mouth motion with
   the audio envelope and with its rate of change; in the spirit of Hershey & Movellan 2000 and the
   "talking face" cues of Chung & Zisserman 2016) gives each face a sounding score; the talking face gets the
   sound, with weights that cross-fade between faces; with no candidate the last position is held for ``hold_s``
   and then the sound goes to the front (reported as off-screen).
3. Directions by the pinhole model of :mod:`binauralize.dsp.geometry` (``fov``), distance from the face width
   (an adult face is ~0.16 m wide). Output: :class:`SourceTrack` list, the same schema as ``--sources``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from ..dsp.geometry import focal_length_px, horizontal_fov, pixel_to_direction
from ..io.framestore import JpegFrames
from ..tracks import SourceTrack
from .detect import Box, FaceDetector, colour_histogram, is_shot_boundary, motion_candidate, mouth_crop

FACE_WIDTH_M = 0.16


@dataclass(frozen=True)
class LocalizeOptions:
    """Settings of the localizer.

    Attributes:
        fps: analysis frame rate (Hz). detect_every: run the face detector every n-th analysis frame.
        width: analysis frame width in pixels. fov: horizontal field of view of the camera (degrees).
        window_s: synchrony window (s). hold_s: how long an off-screen sound keeps its last position (s).
        smooth_s: smoothing of positions and weights (s). min_detections: detections a face track needs.
        switch_margin: how much better (in correlation) another face's synchrony must be to take the sound.
        min_dwell_s: for how long it must stay that much better before the sound moves (no flicker).
        mirror: flip every frame left-right before looking (the Flipped-Visual baseline of the papers).
        keep_every_s: also keep one analysis frame every this many seconds (0: none) for models that look at
            the sources' crops, so they need not decode the video a second time.
        objects: also run the object detector (:mod:`binauralize.vision.objects`); the objects it finds replace the
            faces/motion tracks. objects_weights: its weights file (default: the shipped one).
    """

    fps: float = 10.0
    detect_every: int = 4
    width: int = 480
    fov: float | None = None  # horizontal, degrees; None: DEFAULT_FOV_DEG across the longer side (horizontal_fov)
    window_s: float = 3.0
    hold_s: float = 2.0
    smooth_s: float = 0.4
    min_detections: int = 2
    switch_margin: float = 0.15
    min_dwell_s: float = 0.8
    mirror: bool = False
    keep_every_s: float = 0.0
    objects: bool = False
    objects_weights: str | None = None


@dataclass
class FaceTrack:
    """A face followed over analysis frames (indices into the frame records)."""

    id: int
    shot: int
    frames: list = field(default_factory=list)  # analysis frame indices
    boxes: list = field(default_factory=list)  # Box per frame (last detection, held between detections)
    motion: list = field(default_factory=list)  # mouth motion energy per frame (nan when unknown)
    detections: int = 0
    last_detect_frame: int = -1
    prev_crop: np.ndarray | None = None


@dataclass
class FrameAnalysis:
    """What the frame pass found."""

    times: np.ndarray
    shots: np.ndarray
    width: int
    height: int
    faces: list[FaceTrack]
    motion: list  # per frame: (cx, cy, energy, frac) or None
    detect_seconds: float = 0.0
    keyframes: Sequence = field(default_factory=list)  # (t, rgb) every options.keep_every_s s (io.framestore.JpegFrames)
    motion_grid: list = field(default_factory=list)  # with options.objects: per frame, mean |frame difference| (of
    # 255) over a MOTION_GRID-wide grid of cells [rows, MOTION_GRID] float16, None after a cut or at the start


MOTION_GRID = 32  # cells across the picture for the objects' motion (5 px of the 160-px difference frame)


def analyse_video(frames: Iterable[tuple[float, np.ndarray]], options: LocalizeOptions = LocalizeOptions(),
                  progress: Callable[[float], None] | None = None) -> FrameAnalysis:
    """Stream frames ``(t, rgb [H, W, 3])`` (already at the analysis rate and width) -> :class:`FrameAnalysis`."""
    import time

    import cv2

    det = FaceDetector()
    times, shots, motion, grid = [], [], [], []
    active: list[FaceTrack] = []
    done: list[FaceTrack] = []
    next_id = 0
    shot = 0
    prev_hist = prev_small = None
    w = h = 0
    t_det = 0.0
    max_gap = max(2, int(round(1.0 * options.fps)))
    keyframes, next_keep = JpegFrames(), 0.0  # compressed: two a second would grow with the video
    for i, (t, rgb) in enumerate(frames):
        if options.mirror:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        if options.keep_every_s > 0 and t >= next_keep - 1e-6:
            keyframes.append((float(t), rgb))
            next_keep = t + options.keep_every_s
        h, w = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small_rgb = cv2.resize(rgb, (64, max(1, int(64 * h / w))), interpolation=cv2.INTER_AREA)
        hist = colour_histogram(small_rgb)
        if prev_hist is not None and is_shot_boundary(prev_hist, hist):
            shot += 1
            done += active
            active = []
            prev_small = None
        prev_hist = hist
        small = cv2.resize(gray, (160, max(1, int(160 * h / w))), interpolation=cv2.INTER_AREA)
        motion.append(motion_candidate(prev_small, small) if prev_small is not None else None)
        if options.objects:
            grid.append(None if prev_small is None else cv2.resize(
                np.abs(small.astype(np.float32) - prev_small), (MOTION_GRID, max(1, round(MOTION_GRID * h / w))),
                interpolation=cv2.INTER_AREA).astype(np.float16))
        prev_small = small
        times.append(t)
        shots.append(shot)
        if i % options.detect_every == 0:
            t0 = time.perf_counter()
            boxes = det(gray)
            t_det += time.perf_counter() - t0
            used = set()
            for tr in active:  # greedy association by overlap / centre distance
                last = tr.boxes[-1]
                best, best_j = 0.0, None
                for j, b in enumerate(boxes):
                    if j in used:
                        continue
                    d = np.hypot(b.cx - last.cx, b.cy - last.cy) / max(last.w, 1.0)
                    s = max(b.iou(last), 1.0 - d) if d < 1.0 else b.iou(last)
                    if s > best and s > 0.2:
                        best, best_j = s, j
                if best_j is not None:
                    used.add(best_j)
                    tr.boxes.append(boxes[best_j])
                    tr.detections += 1
                    tr.last_detect_frame = i
                    tr.frames.append(i)
            for j, b in enumerate(boxes):
                if j not in used:
                    tr = FaceTrack(next_id, shot, [i], [b], [], 1, i)
                    next_id += 1
                    active.append(tr)
            keep = []
            for tr in active:
                if i - tr.last_detect_frame > max_gap:
                    done.append(tr)
                else:
                    keep.append(tr)
            active = keep
        for tr in active:
            if not tr.frames or tr.frames[-1] != i:
                tr.frames.append(i)
                tr.boxes.append(tr.boxes[-1])
            crop = mouth_crop(gray, tr.boxes[-1])
            eyes = mouth_crop(gray, tr.boxes[-1], rows=(0.2, 0.5))
            if crop is not None and eyes is not None and tr.prev_crop is not None:
                # mouth motion beyond what the whole head does (head turns and gestures move both regions)
                mouth = float(np.mean(np.abs(crop - tr.prev_crop[0])))
                head = float(np.mean(np.abs(eyes - tr.prev_crop[1])))
                tr.motion.append(max(0.0, mouth - head))
            else:
                tr.motion.append(np.nan)
            tr.prev_crop = (crop, eyes) if crop is not None and eyes is not None else None
        if progress is not None:
            progress(t)
    done += active
    faces = [f for f in done if f.detections >= options.min_detections]
    for f in faces:
        f.prev_crop = None
        # drop the held frames after the last detection (the face may have left)
        n = f.frames.index(f.last_detect_frame) + 1
        f.frames, f.boxes, f.motion = f.frames[:n], f.boxes[:n], f.motion[:n]
    return FrameAnalysis(np.array(times), np.array(shots), w, h, faces, motion, t_det, keyframes, grid)


def object_weights(fa: FrameAnalysis, env_times: np.ndarray, env_db: np.ndarray, tracks: list, boxes: dict,
                   options: LocalizeOptions = LocalizeOptions()) -> tuple[np.ndarray, np.ndarray, dict]:
    """Which of the detected objects sounds: as for faces, one visible object at a time, the one whose motion moves
    with the sound (:func:`synchrony`, :func:`choose_sounding`). An object's motion at an analysis frame is the mean
    frame difference over the cells of ``fa.motion_grid`` under its box (boxes interpolated between sightings), less
    the median over the whole picture (camera motion, flicker). ``tracks``: the objects, visible where their weight
    is > 0.5; ``boxes``: name -> (sighting times, boxes as fractions of the frame), from
    :func:`binauralize.vision.coco.coco_tracks`. -> (times ``[N]``, weights ``[S, N]``, report: mean synchrony and
    share of the sound per object)."""
    times = fa.times
    n, m = len(times), len(tracks)
    if not fa.motion_grid or n == 0 or m == 0:
        return times, np.zeros((m, n)), {}
    env = envelope_at(times, env_times, env_db, 1.0 / options.fps)
    active_audio = env > np.max(env) - 40.0
    visible = np.array([np.interp(times, t.weight_times, t.weight) > 0.5 for t in tracks]).reshape(m, n)
    scores = np.full((m, n), np.nan)
    motion = np.full((m, n), np.nan)
    for k, tr in enumerate(tracks):
        bt, bb = boxes[tr.name]
        box = np.stack([np.interp(times, bt, bb[:, c]) for c in range(4)], axis=1)
        for i in np.nonzero(visible[k])[0]:
            g = fa.motion_grid[i] if i < len(fa.motion_grid) else None
            if g is None:
                continue
            rows, cols = g.shape
            x0, x1 = int(np.floor(box[i, 0] * cols)), int(np.ceil(box[i, 2] * cols))
            y0, y1 = int(np.floor(box[i, 1] * rows)), int(np.ceil(box[i, 3] * rows))
            cell = g[max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)].astype(np.float32)
            if cell.size:
                motion[k, i] = max(0.0, float(cell.mean()) - float(np.median(g.astype(np.float32))))
        scores[k] = np.where(visible[k], synchrony(motion[k], env, options), np.nan)
    weights = choose_sounding(scores, visible, active_audio, options)
    nsm = max(1, int(round(options.smooth_s * options.fps)))
    for k in range(m):
        weights[k] = np.where(visible[k], np.nan_to_num(_smooth(np.where(visible[k], weights[k], np.nan), nsm)), 0.0)
    with np.errstate(all="ignore"):
        report = {tr.name: {"mean_sounding_score": (float(np.nanmean(scores[k])) if np.isfinite(scores[k]).any()
                                                    else None),
                            "share_of_sound": (float(weights[k][visible[k] & active_audio].mean())
                                               if (visible[k] & active_audio).any() else 0.0)}
                  for k, tr in enumerate(tracks)}
    return times, weights, report


def choose_sounding(scores: np.ndarray, visible: np.ndarray, active_audio: np.ndarray,
                    options: LocalizeOptions) -> np.ndarray:
    """One visible candidate at a time gets the sound: the one whose synchrony ``scores`` ``[S, N]`` (nan: unknown)
    is best; another takes it only when better by ``switch_margin`` for ``min_dwell_s`` while the audio is active
    (hysteresis: near-ties keep the current source instead of a phantom between two). Without any synchrony yet,
    candidates rank by their mean synchrony. -> weights ``[S, N]`` of 0/1 (all 0 where nothing is visible)."""
    m, n = scores.shape
    weights = np.zeros((m, n))
    with np.errstate(all="ignore"):
        mean_score = np.array([np.nanmean(scores[k]) if np.isfinite(scores[k]).any() else np.nan for k in range(m)])
    current = -1
    challenger, streak = -1, 0
    dwell = max(1, int(round(options.min_dwell_s * options.fps)))
    for i in range(n):
        vis = np.nonzero(visible[:, i])[0]
        if len(vis) == 0:
            current = -1
            continue
        s = np.nan_to_num(scores[vis, i], nan=-1.0)
        if np.all(s == -1.0):  # no synchrony evidence yet: rank by each candidate's mean synchrony over its track
            s = np.nan_to_num(mean_score[vis], nan=0.0)
        best = int(vis[np.argmax(s)])
        if current not in vis:
            current = best
        elif best != current and active_audio[i]:
            s_cur = float(np.nan_to_num(scores[current, i], nan=0.0))
            if s.max() > s_cur + options.switch_margin:
                streak = streak + 1 if best == challenger else 1
                challenger = best
                if streak >= dwell:  # the challenger must stay clearly better for min_dwell_s
                    current, challenger, streak = best, -1, 0
            else:
                challenger, streak = -1, 0
        weights[current, i] = 1.0
    return weights


def synchrony(motion: np.ndarray, env: np.ndarray, options: LocalizeOptions) -> np.ndarray:
    """Audio-visual synchrony ``[N]``: the larger Pearson correlation, over a sliding ``window_s`` window, of a
    candidate's motion energy ``[N]`` (nan: unknown) with the audio envelope ``env`` ``[N]`` (dB) or with its rate
    of change (Hershey & Movellan 2000's idea, as for the faces' mouths)."""
    half = int(round(options.window_s * options.fps / 2))
    both = np.stack([_window_corr(motion, env, half), _window_corr(motion, np.abs(np.gradient(env)), half)])
    return np.where(np.isnan(both).all(axis=0), np.nan, np.nanmax(np.where(np.isnan(both), -np.inf, both), axis=0))


def _window_corr(a: np.ndarray, b: np.ndarray, half: int) -> np.ndarray:
    """Pearson correlation of a and b [N] in a centred window of +-half samples (nan-aware) -> [N]."""
    n = len(a)
    out = np.full(n, np.nan)
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        x, y = a[lo:hi], b[lo:hi]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < max(6, half // 2):
            continue
        x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        den = np.sqrt((x * x).sum() * (y * y).sum())
        out[i] = (x * y).sum() / den if den > 1e-12 else 0.0
    return out


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over n samples (edges renormalised); nan treated as missing."""
    if n <= 1:
        return x
    k = np.ones(n)
    ok = np.isfinite(x)
    a = (n - 1) // 2  # centred slice of the full convolution, valid for any length of x
    num = np.convolve(np.where(ok, x, 0.0), k, mode="full")[a: a + len(x)]
    den = np.convolve(ok.astype(float), k, mode="full")[a: a + len(x)]
    return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


def envelope_at(times: np.ndarray, env_times: np.ndarray, env_db: np.ndarray, width_s: float) -> np.ndarray:
    """Audio envelope (dB) averaged over ``width_s`` around each time."""
    out = np.empty(len(times))
    for i, t in enumerate(times):
        sel = (env_times >= t - width_s / 2) & (env_times < t + width_s / 2)
        out[i] = env_db[sel].mean() if sel.any() else -120.0
    return out


def decide(fa: FrameAnalysis, env_times: np.ndarray, env_db: np.ndarray,
           options: LocalizeOptions = LocalizeOptions()) -> tuple[list[SourceTrack], dict]:
    """Choose the sounding source over time -> (tracks in the ``--sources`` schema, report dict)."""
    times = fa.times
    n = len(times)
    fov = horizontal_fov(options.fov, fa.width, fa.height)
    report: dict = {"analysis_fps": options.fps, "fov_deg": fov, "frames": n, "faces": [], "notices": [],
                    "off_screen": []}
    if n == 0:
        report["notices"].append("no video frames could be analysed: the sound is placed in front")
        return [SourceTrack.static(0.0, name="front")], report
    if options.fov is None and fa.height > fa.width:
        report["notices"].append(f"upright picture: field of view taken as {fov:.0f} deg across (a phone camera's "
                                 "70 deg along the long side); --fov DEG sets it")
    env = envelope_at(times, env_times, env_db, 1.0 / options.fps)
    active_audio = env > np.max(env) - 40.0
    f_px = focal_length_px(fa.width, fov)
    m = len(fa.faces)
    scores = np.full((m, n), np.nan)
    visible = np.zeros((m, n), bool)
    az = np.full((m, n), np.nan)
    el = np.full((m, n), np.nan)
    dist = np.full((m, n), np.nan)
    for k, f in enumerate(fa.faces):
        idx = np.array(f.frames)
        visible[k, idx] = True
        mot = np.full(n, np.nan)
        mot[idx] = f.motion
        scores[k] = np.where(visible[k], synchrony(mot, env, options), np.nan)
        cx = np.array([b.cx for b in f.boxes])
        cy = np.array([b.cy for b in f.boxes])
        bw = np.array([b.w for b in f.boxes])
        a, e = pixel_to_direction(cx, cy, fa.width, fa.height, fov)
        az[k, idx], el[k, idx] = a, e
        dist[k, idx] = np.clip(FACE_WIDTH_M * f_px / np.maximum(bw, 1.0), 0.3, 20.0)
    # weights: one face at a time gets the sound, the one whose mouth moves with it; switching needs a clear
    # margin (hysteresis), so near-ties keep the current talker instead of a phantom source between the two
    weights = choose_sounding(scores, visible, active_audio, options)
    nsm = max(1, int(round(options.smooth_s * options.fps)))
    for k in range(m):
        weights[k] = np.where(visible[k], _smooth(np.where(visible[k], weights[k], np.nan), nsm), 0.0)
        for arr in (az, el, dist):
            arr[k] = np.where(visible[k], _smooth(arr[k], nsm), np.nan)
    # motion candidate when no face is visible (kept only when it persists: isolated blips are noise)
    mot_ok = np.array([mc is not None for mc in fa.motion], dtype=float)
    face_any = visible.any(axis=0)
    use_motion = (_smooth(mot_ok, max(3, nsm)) > 0.6) & ~face_any
    hold = int(round(options.hold_s * options.fps))
    # dense weights of every source [S, n]; held for hold_s after a face leaves, then the front takes over
    names, dense, specs = [], [], []
    for k, f in enumerate(fa.faces):
        idx = np.array(f.frames)
        held = weights[k].copy()
        last = idx[-1]
        end = min(n, last + 1 + hold)
        if end > last + 1:
            gap = ~(face_any[last + 1:end] | use_motion[last + 1:end])
            held[last + 1:end] = np.where(gap, weights[k, last], 0.0)
        names.append(f"face{f.id}")
        dense.append(held)
        specs.append(("face", k, idx))
        sc = scores[k, idx]
        report["faces"].append({
            "name": f"face{f.id}", "shot": int(f.shot), "first_s": float(times[idx[0]]), "last_s": float(times[idx[-1]]),
            "detections": f.detections, "median_azimuth_deg": float(np.nanmedian(az[k, idx])),
            "mean_sounding_score": float(np.nanmean(sc)) if np.isfinite(sc).any() else None,
            "share_of_sound": float(weights[k, idx][active_audio[idx]].mean()) if active_audio[idx].any() else 0.0,
        })
    if use_motion.any():
        idx = np.nonzero(use_motion)[0]
        names.append("motion")
        dense.append(use_motion.astype(float))
        specs.append(("motion", None, idx))
        report["motion_seconds"] = float(len(idx) / options.fps)
    dense_w = np.array(dense) if dense else np.zeros((0, n))
    if len(dense_w):  # a source seen within hold_s after a silent-picture start takes the start too
        tot = dense_w.sum(axis=0)
        for i in range(n - 1, -1, -1):
            if tot[i] < 1e-6 and i + 1 < n and tot[i + 1] >= 1e-6 and i + 1 - _first_gap_start(tot, i) <= hold:
                dense_w[:, i] = dense_w[:, i + 1]
                tot[i] = tot[i + 1]
    front_w = (dense_w.sum(axis=0) < 1e-6).astype(float) if len(dense_w) else np.ones(n)
    tracks: list[SourceTrack] = []
    for name, w, (kind, k, idx) in zip(names, dense_w, specs):
        if kind == "face":
            f = fa.faces[k]
            tracks.append(_track(name, times, idx, az[k], el[k], dist[k], w,
                                 {"kind": "face", "shot": int(f.shot), "detections": f.detections}))
        else:
            ok = [i for i in idx if fa.motion[i] is not None]
            if not ok:  # the motion frames it was smoothed from are all under faces: take the nearest ones
                ok = [i for i in range(n) if fa.motion[i] is not None]
            cx = np.interp(idx, ok, [fa.motion[i][0] for i in ok]) * fa.width
            cy = np.interp(idx, ok, [fa.motion[i][1] for i in ok]) * fa.height
            a, e = pixel_to_direction(cx, cy, fa.width, fa.height, fov)
            az_m, el_m = np.full(n, np.nan), np.full(n, np.nan)
            az_m[idx], el_m[idx] = _smooth(a, nsm), _smooth(e, nsm)
            tracks.append(_track(name, times, idx, az_m, el_m, np.full(n, 10.0), w, {"kind": "motion"}))
    if front_w.any():
        tracks.append(SourceTrack("front (off-screen)", np.zeros(1), np.zeros(1), np.zeros(1), np.full(1, 2.0),
                                  *_compress(times, front_w), info={"kind": "off-screen"}))
        report["off_screen"] = _ranges(times, front_w > 0.5)
        total = float(front_w.mean() * (times[-1] - times[0] + 1.0 / options.fps))
        if len(dense_w):
            report["notices"].append(off_screen_notice(total, report["off_screen"]))
        else:
            report["notices"].append("no candidate sound source (face or moving object) was found: "
                                     "the sound is placed in front")
    report["sounding_by_frame"] = {"time": np.round(times, 3).tolist(),
                                   "weights": {t.name: np.round(np.interp(times, t.weight_times, t.weight), 3).tolist()
                                               for t in tracks},
                                   "audio_active": active_audio.tolist()}
    return tracks, report


def _first_gap_start(tot: np.ndarray, i: int) -> int:
    """Start index of the run of empty frames containing ``i``; only a run that starts the clip is backfilled."""
    j = i
    while j > 0 and tot[j - 1] < 1e-6:
        j -= 1
    return j if j == 0 else -10**9


def _track(name, times, idx, az, el, dist, weight, info) -> SourceTrack:
    t = times[idx]
    wt, w = _compress(times, weight)
    if len(t) == 1:
        return SourceTrack(name, t, az[idx], el[idx], dist[idx], wt, w, info)
    keep = _decimate(t, az[idx], tol=0.5)
    return SourceTrack(name, t[keep], az[idx][keep], el[idx][keep], dist[idx][keep], wt, w, info)


def _decimate(t: np.ndarray, v: np.ndarray, tol: float) -> np.ndarray:
    """Indices of points to keep so that linear interpolation stays within ``tol`` (greedy)."""
    keep = [0]
    for i in range(1, len(t) - 1):
        a = keep[-1]
        j = i + 1
        interp = v[a] + (v[j] - v[a]) * (t[i] - t[a]) / (t[j] - t[a])
        if abs(interp - v[i]) > tol:
            keep.append(i)
    keep.append(len(t) - 1)
    return np.array(keep)


def _compress(times: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight curve -> (times, values) without redundant interior points of constant runs."""
    w = np.round(w, 3)
    keep = [0] + [i for i in range(1, len(w) - 1) if not (w[i] == w[i - 1] == w[i + 1])] + ([len(w) - 1] if len(w) > 1 else [])
    return times[keep].astype(float), w[keep].astype(float)


def _ranges(times: np.ndarray, mask: np.ndarray) -> list[list[float]]:
    out, start = [], None
    for i, mk in enumerate(mask):
        if mk and start is None:
            start = times[i]
        if not mk and start is not None:
            out.append([round(float(start), 2), round(float(times[i]), 2)])
            start = None
    if start is not None:
        out.append([round(float(start), 2), round(float(times[-1]), 2)])
    return out


OFF_SCREEN_NOTICES = ("no visible sound source", "no candidate sound source")  # how those notices begin


def off_screen_notice(total_s: float, ranges: list) -> str:
    """The notice for the time ranges (``[[start, end], ...]`` s) where no visible source has the sound."""
    return f"no visible sound source for {total_s:.1f} s ({_fmt_ranges(ranges)}): the sound is placed in front there"


def _fmt_ranges(r: list) -> str:
    s = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in r[:4])
    return s + (" ..." if len(r) > 4 else "")
