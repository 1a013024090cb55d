"""SIGTERM (``kill``, ``timeout``, a scheduler or ``docker stop``) handled as Ctrl-C is: the command line cleans up
(partial outputs removed, worker processes stopped) and exits with status 143."""
from __future__ import annotations

import os
import signal


class Terminated(KeyboardInterrupt):
    """Raised in the main process on SIGTERM; every ``except KeyboardInterrupt`` cleanup applies to it."""


_MAIN_PID: int | None = None


def _on_sigterm(signum, frame) -> None:
    if os.getpid() != _MAIN_PID:  # a forked worker inherited the handler: end as SIGTERM does by default
        os._exit(128 + signum)
    raise Terminated()


def handle_sigterm() -> None:
    """Install the handler (main thread only; elsewhere, e.g. under a test runner's thread, nothing happens)."""
    global _MAIN_PID
    _MAIN_PID = os.getpid()
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass


def exit_status(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (the shell's 128 + signal number)."""
    return 143 if isinstance(exc, Terminated) else 130
