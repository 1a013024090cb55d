"""How PyTorch's OpenMP wait policy changes the tool's speed, on an idle machine and with one core busy.

    .venv/bin/python benchmarks/omp_contention.py --repeats 3 \\
        --case "objects=examples/example.mp4 --objects" \\
        --case "position-nmf=benchmarks/.cache/bench_60s_1080p30.mp4 --model position-nmf"

Each case is one `binauralize` run (input, then options; output to a temporary file), timed by the report's total,
under every policy (libgomp's default, which spins before sleeping, and PASSIVE, the tool's default since
2026-12-01) and every load (idle; one core kept busy by a spinning Python process: another program on the machine),
interleaved so drift hits all alike. Prints medians as a markdown table and writes benchmarks/results/omp_contention.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POLICIES = {"libgomp default (spin, then sleep)": "", "PASSIVE (the tool's default)": "PASSIVE"}


def one_run(inp: str, opts: list[str], policy: str) -> float:
    """Seconds the tool reports for one run with ``OMP_WAIT_POLICY=policy`` ('' = libgomp's own default)."""
    with tempfile.TemporaryDirectory() as d:
        rep = Path(d) / "r.json"
        env = dict(os.environ, OMP_WAIT_POLICY=policy)  # an empty value: libgomp's default (setdefault keeps it)
        cmd = [sys.executable, "-m", "binauralize", inp, "-o", str(Path(d) / ("o" + Path(inp).suffix)), "-q",
               "--report", str(rep), *opts]
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        return json.loads(rep.read_text())["timings_s"]["total"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", action="append", required=True, metavar="NAME=INPUT [OPTIONS]")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(HERE / "results" / "omp_contention.json"))
    a = ap.parse_args(argv)
    cases = []
    for c in a.case:
        name, rest = c.split("=", 1)
        inp, *opts = shlex.split(rest)
        cases.append((name, inp, opts))
    times: dict = {}
    for rep in range(a.repeats):
        for load in ("idle", "one core busy"):
            hog = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "idle" else None)
            try:
                time.sleep(0.5 if hog else 0)
                for name, inp, opts in cases:
                    for pname, policy in POLICIES.items():
                        t = one_run(inp, opts, policy)
                        times.setdefault(name, {}).setdefault(load, {}).setdefault(pname, []).append(t)
                        print(f"[{rep + 1}/{a.repeats}] {name}, {load}, {pname}: {t:.2f} s", flush=True)
            finally:
                if hog:
                    hog.kill()
    lines = ["| case | load | " + " | ".join(POLICIES) + " | PASSIVE / default |", "|---|---|" + "---|" * (len(POLICIES) + 1)]
    for name in times:
        for load, per in times[name].items():
            med = [statistics.median(per[p]) for p in POLICIES]
            lines.append(f"| {name} | {load} | " + " | ".join(f"{m:.2f} s" for m in med) + f" | {med[1] / med[0]:.2f} |")
    cmd = "python benchmarks/omp_contention.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    table = "\n".join(lines)
    print(f"`{cmd}` (medians of {a.repeats}, {os.cpu_count()} cores)\n\n{table}")
    Path(a.json).write_text(json.dumps({"command": cmd, "cores": os.cpu_count(), "table": table, "seconds": times},
                                       indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
