"""What the tool decided, to look at: a preview video (boxes, which source sounds, azimuth over time) and a PNG.

The preview is drawn at the analysis frame rate and width; each detected face gets a box (green and thick when it
is judged sounding, grey otherwise) with its name and sounding weight; every source with weight > 0 gets a marker
at its azimuth on the top edge, labelled with its name and azimuth (an arrow at the side edge when it is outside the
picture); a strip at the bottom plots the weighted azimuth of the whole clip with a cursor.
"""
from __future__ import annotations

import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..dsp.geometry import direction_to_pixel, horizontal_fov
from ..tracks import SourceTrack, block_directions

STRIP = 64


def weighted_azimuth(tracks: list[SourceTrack], times: np.ndarray) -> np.ndarray:
    """Weight-averaged azimuth of all sources at ``times`` (what the renderer aims at) -> [N] degrees."""
    az, _, _, w = block_directions(tracks, times)
    return (az * w).sum(axis=0)


def rendered_lines(tracks: list[SourceTrack], times: np.ndarray, parts: dict | None = None) -> dict:
    """label -> the azimuth the renderer aims at over ``times`` ``[N]`` (deg): one line for all the sound, or with
    ``parts`` (part name -> its tracks) one per part."""
    if parts:
        return {f"{name} rendered (weighted)": weighted_azimuth(ts, times) for name, ts in parts.items()}
    return {"rendered (weighted)": weighted_azimuth(tracks, times)}


def write_preview(video: str | Path, out: str | Path, tracks: list[SourceTrack], fa=None, fps: float = 10.0,
                  width: int = 480, fov: float | None = None, duration: float | None = None, cues: dict | None = None,
                  parts: dict | None = None) -> list[Path]:
    """Write ``out`` (mp4, H.264) and ``out`` with suffix .png; only the .png summary when ``out`` ends in .png.
    ``cues``: the output's interaural cues over time (:func:`binauralize.metrics.spatial.cues_from_chunks`), drawn
    in the PNG beside the tracks. ``parts``: for a renderer that takes the sound apart, part name -> the tracks that
    part is rendered along (``--model speech``: the speech and the rest), drawn as one rendered line each.
    Returns the paths written (atomically)."""
    out = Path(out)
    dur = duration or (float(fa.times[-1]) + 1.0 / fps if fa is not None and len(fa.times) else 10.0)
    if out.suffix.lower() == ".png":
        summary_png(out, tracks, fa, dur, cues, parts)
        return [out]
    import av
    import cv2

    from ..io.media import iter_frames

    tmp = out.with_name(f".{out.stem}.partial-{uuid.uuid4().hex[:8]}{out.suffix}")
    frame_faces = {}
    if fa is not None:
        for f in fa.faces:
            for i, b in zip(f.frames, f.boxes):
                frame_faces.setdefault(i, []).append((f"face{f.id}", b))
    name_to_track = {t.name: t for t in tracks}
    tl = np.linspace(0, dur, 400)
    az_line = weighted_azimuth(tracks, tl)
    try:
        with av.open(str(tmp), "w", format="mp4") as c:
            vs = None
            for i, (t, img) in enumerate(iter_frames(video, fps, width)):
                h, w = img.shape[:2]
                if vs is None:
                    vs = c.add_stream("libx264", rate=int(round(fps)))
                    vs.width, vs.height = w - w % 2, (h + STRIP) - (h + STRIP) % 2
                    vs.pix_fmt = "yuv420p"
                    vs.codec_context.time_base = Fraction(1, 1000)  # frame pts in ms; the encoder's clock too
                    vs.time_base = Fraction(1, 1000)  # (without it PyAV 18 took the ms as 1/10-s ticks: 100x slow)
                    vs.options = {"preset": "veryfast", "crf": "23"}
                canvas = np.zeros((h + STRIP, w, 3), np.uint8)
                canvas[:h] = img
                for name, b in frame_faces.get(i, []):
                    tr = name_to_track.get(name)
                    wgt = float(np.interp(t, tr.weight_times, tr.weight)) if tr is not None else 0.0
                    col = (40, 220, 60) if wgt > 0.5 else (160, 160, 160)
                    cv2.rectangle(canvas, (int(b.x0), int(b.y0)), (int(b.x1), int(b.y1)), col, 3 if wgt > 0.5 else 1)
                    label = f"{name} {'SOUNDING' if wgt > 0.5 else 'silent'} {wgt:.2f}"
                    cv2.putText(canvas, label, (int(b.x0), max(12, int(b.y0) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1)
                az, el, _, wts = block_directions(tracks, np.array([t]))
                marks = source_markers([tr.name for tr in tracks], az[:, 0], wts[:, 0], w, h, fov)
                for x, side, text in marks:
                    col = (255, 200, 0)
                    if side == "on":
                        cv2.drawMarker(canvas, (x, 8), col, cv2.MARKER_TRIANGLE_DOWN, 14, 2)
                        tx = int(np.clip(x - 3 * len(text), 0, max(0, w - 6 * len(text))))
                        cv2.putText(canvas, text, (tx, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.35, col, 1)
                    else:  # off the picture: an arrow at the edge on the source's side, with where it is
                        x0, x1 = (22, 2) if side == "left" else (w - 23, w - 3)
                        cv2.arrowedLine(canvas, (x0, 12), (x1, 12), col, 2, tipLength=0.5)
                        tx = 26 if side == "left" else max(0, w - 26 - 6 * len(text))
                        cv2.putText(canvas, text, (tx, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.35, col, 1)
                _draw_strip(canvas, h, w, tl, az_line, t, dur)
                fr = av.VideoFrame.from_ndarray(canvas[: vs.height, : vs.width], format="rgb24")
                fr.pts = int(round(t * 1000))
                fr.time_base = Fraction(1, 1000)
                for p in vs.encode(fr):
                    c.mux(p)
            if vs is not None:
                for p in vs.encode(None):
                    c.mux(p)
        tmp.replace(out)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    png = out.with_suffix(".png")
    try:
        summary_png(png, tracks, fa, dur, cues, parts)
    except BaseException:  # interrupted or failed: no preview without its PNG
        out.unlink(missing_ok=True)
        raise
    return [out, png]


def source_markers(names: list[str], azimuth: np.ndarray, weight: np.ndarray, w: int, h: int,
                   fov: float | None) -> list[tuple[int, str, str]]:
    """Where the preview marks each source at one instant: ``(x, side, text)`` per source with weight >= 0.05, side
    "on" (x: its pixel column in a ``w`` x ``h`` picture) or "left"/"right" (outside the camera's view, drawn as an
    arrow at that edge); text = name and azimuth, e.g. "guitar +30 deg". ``azimuth`` (deg, + = left), ``weight``:
    ``[S]``; ``fov``: horizontal field of view (deg; None: the tool's default)."""
    out = []
    for name, a, wgt in zip(names, azimuth, weight):
        if wgt < 0.05:
            continue
        text = f"{name} {a:+.0f} deg"
        x = None
        if abs(a) < 89:
            try:
                x, _ = direction_to_pixel(float(a), 0.0, w, h, horizontal_fov(fov, w, h))
            except ValueError:
                x = None
        if x is not None and 0 <= x < w:
            out.append((int(x), "on", text))
        else:
            out.append((0 if a > 0 else w - 1, "left" if a > 0 else "right", text))
    return out


def _draw_strip(canvas, h, w, tl, az_line, t, dur):
    import cv2

    canvas[h:] = 24
    ys = h + STRIP // 2 - (np.clip(az_line, -90, 90) / 90.0) * (STRIP // 2 - 4)
    xs = tl / max(dur, 1e-9) * (w - 1)
    pts = np.stack([xs, ys], axis=1).astype(np.int32)
    cv2.line(canvas, (0, h + STRIP // 2), (w - 1, h + STRIP // 2), (80, 80, 80), 1)
    cv2.polylines(canvas, [pts], False, (255, 200, 0), 1)
    cx = int(t / max(dur, 1e-9) * (w - 1))
    cv2.line(canvas, (cx, h), (cx, h + STRIP - 1), (255, 255, 255), 1)
    cv2.putText(canvas, "left", (2, h + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (200, 200, 200), 1)
    cv2.putText(canvas, "right", (2, h + STRIP - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (200, 200, 200), 1)


def summary_png(path: Path, tracks: list[SourceTrack], fa, dur: float, cues: dict | None = None,
                parts: dict | None = None) -> None:
    """Azimuth of each source over time (opacity = its weight) and the weights, as a PNG; with ``cues`` (the
    output's, per 100 ms) also the azimuth its ITD says (Woodworth) over the tracks, and its ILD: listening by
    numbers. ``parts`` (see :func:`write_preview`): one rendered line per part instead of one for all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..metrics.spatial import azimuth_from_itd

    t = np.linspace(0, dur, 600)
    az, _, _, w = block_directions(tracks, t)
    rows = 3 if cues is not None else 2
    fig, ax = plt.subplots(rows, 1, figsize=(10, 2.4 * rows), sharex=True,
                           gridspec_kw={"height_ratios": [2, 1, 1][:rows]})
    for s, tr in enumerate(tracks):
        col = f"C{s % 10}"
        a = np.where(w[s] > 0.02, az[s], np.nan)
        ax[0].plot(t, a, color=col, lw=1, alpha=0.4)
        ax[0].scatter(t, a, s=4 + 20 * w[s], color=col, alpha=np.clip(w[s], 0.05, 1))
        ax[0].scatter([], [], s=20, color=col, label=tr.name)  # its legend entry, not faded with its share
        ax[1].plot(t, w[s], color=col, label=tr.name)
    for (label, line), style in zip(rendered_lines(tracks, t, parts).items(), ("-", "--", ":", "-.")):
        ax[0].plot(t, line, color="k", ls=style, lw=1.5, label=label)
    if cues is not None:
        act = np.asarray(cues["active"], bool)
        ct = np.asarray(cues["time"])[act]
        ax[0].plot(ct, azimuth_from_itd(np.asarray(cues["itd"])[act]), "x", color="crimson", ms=3,
                   label="output: azimuth from its ITD")
        ax[2].plot(ct, np.asarray(cues["ild"])[act], ".", color="crimson", ms=3)
        ax[2].axhline(0, color="grey", lw=0.5)
        ax[2].set_ylabel("output ILD (dB)\n+ = left louder")
        lim = cues.get("limiter_db")
        if lim is not None and len(lim) and np.max(lim) > 0:  # where the look-ahead limiter lowered both ears
            lt = (np.arange(len(lim)) + 0.5) * cues.get("limiter_hop_s", 0.05)
            tw = ax[2].twinx()
            tw.fill_between(lt, 0, -np.asarray(lim), step="mid", color="grey", alpha=0.35, lw=0)
            tw.set_ylim(-max(6.0, 1.1 * float(np.max(lim))), 0.5)
            tw.set_ylabel("limiter gain (dB)\nboth ears", color="dimgrey")
    ax[0].set_ylabel("azimuth (deg), + = left")
    ax[0].axhline(0, color="grey", lw=0.5)
    ax[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax[1].set_ylabel("share of the sound")
    ax[-1].set_xlabel("time (s)")
    ax[0].set_title("binauralize: sources, where the sound is placed" + (" and what the output says" if cues is not None else ""))
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:8]}.png")
    try:
        fig.savefig(tmp, dpi=80, bbox_inches="tight")
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
