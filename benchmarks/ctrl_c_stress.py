"""Ctrl-C while the frames are analysed, many times: how often does the tool fail to exit?

Makes a 60-s 160x120 test clip, starts the tool on it in a new process group with two decoder processes, sends
SIGINT to the whole group (as a terminal does) as soon as the analysis and its decoders run, and counts the runs that
have not exited 15 s later (each such run is killed). ``tests/test_cli.py::test_ctrl_c_while_the_frames_are_analysed``
does this once.

    .venv/bin/python benchmarks/ctrl_c_stress.py --runs 40

The hang it looks for (2026-12-07): a decoder forked just before the analysis process was ended kept that process's
pipes open, so the tool waited for it at exit. Before the fix it hung in 1 of 10 runs of a loop like this one and in
1 of 12 runs of the test (diagnosed with gdb's py-bt on the stuck processes); yet this script ran 120 times on the
old code without a hang, so the race depends on timing this loop does not force: a clean run is evidence, not proof.
After the fix: 0 of 80 (that loop) and 0 of 40 (this script).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[0] != "Z" and os.getpgid(int(d)) == pgid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    a = ap.parse_args(argv)
    from binauralize.testing.clips import make_clip

    hung, bad_exit = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "long.mp4", seconds=60.0, width=160, height=120)
        for _ in range(a.runs):
            out = Path(tmp) / "o.mp4"
            p = subprocess.Popen([sys.executable, "-m", "binauralize", str(clip), "-o", str(out), "-q"],
                                 env=dict(os.environ, BINAURALIZE_DECODE_WORKERS="2"), stderr=subprocess.PIPE,
                                 start_new_session=True,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            t0 = time.time()
            while len(group(p.pid)) < 4 and p.poll() is None and time.time() - t0 < 60:
                time.sleep(0.01)
            os.killpg(p.pid, signal.SIGINT)
            try:
                err = p.communicate(timeout=15)[1].decode()
                bad_exit += p.returncode != 130 or err.strip() != "binauralize: interrupted"
            except subprocess.TimeoutExpired:
                hung += 1
                for q in group(p.pid):
                    os.kill(q, signal.SIGKILL)
                p.communicate()
    print(f"`python benchmarks/ctrl_c_stress.py --runs {a.runs}`: {hung} of {a.runs} runs hung, {bad_exit} exited "
          "otherwise than with 130 and one line")
    return 1 if hung or bad_exit else 0


if __name__ == "__main__":
    raise SystemExit(main())
