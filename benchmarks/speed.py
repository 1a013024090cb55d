"""Speed and memory of the whole `binauralize` run against ffmpeg's decode of the same file, side by side.

    bash scripts/setup.sh --bench      # ffmpeg from Debian, for the side-by-side decode
    .venv/bin/python benchmarks/speed.py --repeats 3            # 60 s 1080p30 H.264 + AAC
    .venv/bin/python benchmarks/speed.py --memory-only          # 1-min vs 10-min memory flatness
    .venv/bin/python benchmarks/speed.py --localize             # no --sources: sources found in the frames
    .venv/bin/python benchmarks/speed.py --cold                 # also time first runs (empty HRTF cache)

Writes benchmarks/results/speed.json and prints a markdown table (copied into docs/benchmarks.md).
Targets (issue 2): binauralize >= 5x real time and <= 2x ffmpeg's decode time; peak RSS < 1.5 GB and a
10-minute input within 10% of a 1-minute one. The timed runs use the user's HRTF cache (filled before timing, as
after a first run); ``--cold`` adds runs with an empty cache each time, interleaved.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
RESULTS = HERE / "results"


def make_video(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> Path:
    """A camera-like H.264 (yuv420p, ~8 Mbit/s at 1080p) + AAC 48 kHz stereo clip: moving textured content."""
    if path.exists():
        return path
    import av
    from fractions import Fraction

    from binauralize.io.media import make_audio_frame

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 255, (height + 64, width + 64, 3), dtype=np.uint8)
    sr = 48000
    with av.open(str(tmp), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.time_base = Fraction(1, fps)
        v.bit_rate = int(8e6 * width * height / (1920 * 1080))
        v.options = {"preset": "veryfast", "g": str(2 * fps)}
        a = c.add_stream("aac", rate=sr, layout="stereo")
        a.bit_rate = 192000
        n = int(seconds * fps)
        t_audio = 0
        for i in range(n):
            dx, dy = (i * 3) % 64, (i * 2) % 64
            img = tex[dy: dy + height, dx: dx + width].copy()
            img[:, :, 0] = (img[:, :, 0] // 2 + (i * 4) % 128).astype(np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts = i
            for p in v.encode(fr):
                c.mux(p)
            while t_audio < (i + 1) * sr / fps:
                blk = rng.standard_normal((2, 1024)).astype(np.float32) * 0.05
                blk[1] = blk[0]
                af = make_audio_frame(blk, "fltp", sr)
                af.pts = t_audio
                t_audio += 1024
                for p in a.encode(af):
                    c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)
    tmp.rename(path)
    return path


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run ``cmd`` (with ``env`` added to the environment); return (wall seconds, peak RSS MiB of the child and
    its descendants)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, **(env or {})})
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{err}")
    return wall, ru.ru_maxrss / 1024.0


def binauralize_cmd(video: Path, out: Path, tracks: Path | None, extra=()) -> list[str]:
    exe = Path(sys.executable).parent / "binauralize"
    src = ["--sources", str(tracks)] if tracks else []
    return [str(exe), str(video), "-o", str(out), *src, "--overwrite", "-q", *extra]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--memory-only", action="store_true")
    ap.add_argument("--memory-repeats", type=int, default=3, help="interleaved 1-min / 10-min pairs (medians)")
    ap.add_argument("--extra", nargs="*", default=[], help="extra flags for binauralize")
    ap.add_argument("--localize", action="store_true", help="no --sources: sources are localized in the frames")
    ap.add_argument("--peer-workers", type=int, default=None,
                    help="also time binauralize with this many frame-decoding processes (1: one sequential pass, "
                         "the tool before 2026-11-29), interleaved with the others")
    ap.add_argument("--peer-extra", type=shlex.split, default=None, metavar="'FLAGS'",
                    help="also time binauralize with these flags added (one quoted string, e.g. --peer-extra="
                         "'--model speech'), interleaved with the others: a side-by-side comparison in one run")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1-min / 10-min memory pairs")
    ap.add_argument("--two-sources", action="store_true",
                    help="given sources: a moving 'voice' and a static 'band' (instead of the voice alone)")
    ap.add_argument("--video", default=None, help="time this file instead of the generated clip (--seconds: its "
                                                  "length); e.g. real footage with faces and speech")
    ap.add_argument("--tag", default="", help="appended to the results file name (speed<_localize><_TAG>.json)")
    ap.add_argument("--cold", action="store_true",
                    help="also time first runs: an empty HRTF cache (BINAURALIZE_CACHE_DIR) for each, interleaved")
    args = ap.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    tracks = CACHE / "tracks.json"
    CACHE.mkdir(exist_ok=True)
    sources = [{"name": "voice", "track": [[0, 60], [30, -60], [60, 30]]}]
    if args.two_sources:  # a talker and another source, both sounding throughout: --model speech separates
        sources.append({"name": "band", "azimuth": -30})
    tracks.write_text(json.dumps({"sources": sources}))
    if args.localize:
        tracks = None
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "platform": platform.platform()}, "date": time.strftime("%Y-%m-%d %H:%M")}
    lines = []
    if not args.memory_only:
        ffmpeg = shutil.which("ffmpeg")
        if not ffmpeg:
            raise SystemExit("ffmpeg not found: run `bash scripts/setup.sh --bench`")
        video = (Path(args.video) if args.video else
                 make_video(CACHE / f"bench_{int(args.seconds)}s_1080p30.mp4", args.seconds, 1920, 1080))
        out = CACHE / "out.mp4"
        from binauralize.dsp.hrtf import HRTF

        HRTF.load(None, 48000)  # the cache a first run leaves (the clip's rate), so that no timed run fills it
        ff, bz, peer, cold = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so all see the same machine state
            ff.append(timed([ffmpeg, "-v", "error", "-nostdin", "-i", str(video), "-f", "null", "-"]))
            bz.append(timed(binauralize_cmd(video, out, tracks, args.extra)))
            if args.peer_workers or args.peer_extra is not None:
                peer.append(timed(binauralize_cmd(video, out, tracks, args.extra + (args.peer_extra or [])),
                                  env={"BINAURALIZE_DECODE_WORKERS": str(args.peer_workers)} if args.peer_workers
                                  else None))
            if args.cold:
                import tempfile

                with tempfile.TemporaryDirectory() as empty:
                    cold.append(timed(binauralize_cmd(video, out, tracks, args.extra),
                                      env={"BINAURALIZE_CACHE_DIR": empty}))
        ff_t = statistics.median(t for t, _ in ff)
        bz_t = statistics.median(t for t, _ in bz)
        res["speed"] = {"clip_s": args.seconds, "ffmpeg_decode_s": [t for t, _ in ff], "binauralize_s": [t for t, _ in bz],
                        "ffmpeg_median_s": ff_t, "binauralize_median_s": bz_t, "realtime_factor": args.seconds / bz_t,
                        "ratio_to_ffmpeg": bz_t / ff_t, "binauralize_peak_rss_mib": max(m for _, m in bz),
                        "video": str(video),
                        "extra_flags": args.extra}
        lines += ["| measure | value | target |", "|---|---|---|",
                  f"| ffmpeg decode of the same file (median of {args.repeats}) | {ff_t:.2f} s | |",
                  f"| binauralize, whole run (median of {args.repeats}) | {bz_t:.2f} s | |",
                  f"| real-time factor | {args.seconds / bz_t:.1f}x | >= 5x |",
                  f"| binauralize / ffmpeg decode | {bz_t / ff_t:.2f} | <= 2 |",
                  f"| peak RSS | {max(m for _, m in bz):.0f} MiB | < 1536 MiB |"]
        if peer:
            pt = statistics.median(t for t, _ in peer)
            res["speed"]["peer"] = {"decode_workers": args.peer_workers, "extra_flags": args.peer_extra,
                                    "binauralize_s": [t for t, _ in peer],
                                    "median_s": pt, "realtime_factor": args.seconds / pt,
                                    "peak_rss_mib": max(m for _, m in peer)}
            who = (f"{args.peer_workers} decoding process(es)" if args.peer_workers else "") + (
                (" and " if args.peer_workers else "") + " ".join(args.peer_extra) if args.peer_extra else "")
            lines += [f"| binauralize with {who} (median of {args.repeats}) | "
                      f"{pt:.2f} s = {args.seconds / pt:.1f}x real time, peak RSS {max(m for _, m in peer):.0f} MiB | |"]
        if cold:
            ct = statistics.median(t for t, _ in cold)
            res["speed"]["cold"] = {"binauralize_s": [t for t, _ in cold], "median_s": ct,
                                    "realtime_factor": args.seconds / ct, "peak_rss_mib": max(m for _, m in cold)}
            lines += [f"| binauralize, first run: empty HRTF cache (median of {args.repeats}) | "
                      f"{ct:.2f} s = {args.seconds / ct:.1f}x real time, peak RSS {max(m for _, m in cold):.0f} MiB | |"]
    # memory flatness: 1 minute vs 10 minutes (360p, same audio settings); the peak varies from run to run by a few
    # tens of MiB (the frame-decoding processes' timing), so the pair is repeated, interleaved, and medians compared
    name = ("speed_memory_only" if args.memory_only else "speed") + ("_localize" if args.localize else "") + (
        f"_{args.tag}" if args.tag else "") + ".json"
    if args.no_memory:
        res["localize"] = args.localize
        (RESULTS / name).write_text(json.dumps(res, indent=2))
        print("\n".join(lines))
        return 0
    mem = {1: {"wall_s": [], "peak_rss_mib": []}, 10: {"wall_s": [], "peak_rss_mib": []}}
    vids = {m: make_video(CACHE / f"mem_{m}min_360p.mp4", 60.0 * m, 640, 360) for m in (1, 10)}
    for _ in range(args.memory_repeats):
        for minutes in (1, 10):
            wall, rss = timed(binauralize_cmd(vids[minutes], CACHE / "mem_out.mp4", tracks, args.extra))
            mem[minutes]["wall_s"].append(wall)
            mem[minutes]["peak_rss_mib"].append(rss)
    for minutes in (1, 10):
        mem[minutes]["median_peak_rss_mib"] = statistics.median(mem[minutes]["peak_rss_mib"])
    res["memory"] = mem
    growth = mem[10]["median_peak_rss_mib"] / mem[1]["median_peak_rss_mib"] - 1
    res["memory"]["growth_10min_vs_1min"] = growth
    runs = {m: ", ".join(f"{v:.0f}" for v in mem[m]["peak_rss_mib"]) for m in (1, 10)}
    lines += [f"| peak RSS, 1-min 360p (median of {args.memory_repeats}) | {mem[1]['median_peak_rss_mib']:.0f} MiB ({runs[1]}) | |",
              f"| peak RSS, 10-min 360p (median of {args.memory_repeats}) | {mem[10]['median_peak_rss_mib']:.0f} MiB ({runs[10]}) | within 10% of 1-min |",
              f"| growth 10 min vs 1 min (medians) | {growth:+.1%} | <= +10% |"]
    res["localize"] = args.localize
    (RESULTS / name).write_text(json.dumps(res, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
