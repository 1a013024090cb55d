"""Resident memory of one in-process run over time: is a peak a leak (a baseline that climbs) or a transient?

    .venv/bin/python benchmarks/learned_memory.py --seconds 600 --models speech     # makes the clip and tracks
    .venv/bin/python benchmarks/rss_over_time.py --model speech

Runs ``binauralize_file`` on benchmarks/.cache/bench_600s_360p30.mp4 with the two given sources of
learned_memory.py (the first named "voice"), samples VmRSS every 0.5 s in a thread, and prints it every 2 s with the
run's peak (ru_maxrss). Writes benchmarks/results/rss_over_time_<model>.json.
"""
from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="speech")
    ap.add_argument("--video", type=Path, default=HERE / ".cache" / "bench_600s_360p30.mp4")
    ap.add_argument("--sources", type=Path, default=HERE / ".cache" / "two_sources_long_voice.json")
    ap.add_argument("--localize", action="store_true", help="no --sources: found in the frames")
    ap.add_argument("--objects", action="store_true", help="with --localize: the object detectors too")
    ap.add_argument("--json", type=Path, help="where to write (default benchmarks/results/rss_over_time_<tag>.json)")
    args = ap.parse_args()
    from binauralize.api import binauralize_file
    from binauralize.tracks import load_tracks

    samples: list = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            with open("/proc/self/status") as f:
                rss = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))
            samples.append((time.perf_counter(), rss))
            time.sleep(0.5)

    t0 = time.perf_counter()
    threading.Thread(target=watch, daemon=True).start()
    from binauralize.vision.localize import LocalizeOptions

    binauralize_file(args.video, HERE / ".cache" / "mem_out.mp4", overwrite=True, method=args.model,
                     sources=None if args.localize else load_tracks(args.sources), notice=lambda m: None,
                     localize=LocalizeOptions(objects=args.objects) if args.localize else None)
    done.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    series, last = [], -1e9
    for t, r in samples:
        if t - last >= 2.0:
            series.append((round(t - t0, 1), round(r)))
            last = t
    print(f"peak {peak:.0f} MiB; RSS (s, MiB) every 2 s:", " ".join(f"{t:.0f}:{r}" for t, r in series))
    tag = args.model + ("_localize" if args.localize else "") + ("_objects" if args.objects else "")
    out = args.json or HERE / "results" / f"rss_over_time_{tag}.json"
    flags = (" --localize" if args.localize else "") + (" --objects" if args.objects else "")
    out.write_text(json.dumps({"command": f"python benchmarks/rss_over_time.py --model {args.model}{flags}",
                               "video": str(args.video.name), "peak_mib": peak, "series_s_mib": series}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
