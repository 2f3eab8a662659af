"""SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed terminal) all end a live verb the same way.

``rtgen play`` and ``rtgen jam`` run inside :class:`StopSignals`: before the music starts a
signal raises ``KeyboardInterrupt`` (so every ``finally`` stops what was started: the private
JACK server, the timbre and effects workers); once the main loop runs (``armed``) it only sets
``stop`` and the loop ends normally, prints the summary and exits 0. A closed terminal makes
later writes fail: :func:`say` then drops the text instead of failing the clean-up.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """``with StopSignals() as sig: ... sig.armed = True; while not sig.stop: ...``"""

    def __init__(self) -> None:
        self.stop = False
        self.armed = False                       # True: the loop polls ``stop``; do not raise
        self.received: str | None = None         # the name of the signal that ended the session
        self.on_stop: Callable[[], Any] | None = None   # e.g. the UI's exit
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        self.stop = True
        if signum == signal.SIGHUP:
            _detach_terminal()
        if self.on_stop is not None:
            try:
                self.on_stop()
            except Exception:
                pass
            return
        if not self.armed:
            raise KeyboardInterrupt

    def __enter__(self) -> StopSignals:
        for s in HANDLED:
            try:
                self._old[s] = signal.signal(s, self._handle)
            except (ValueError, OSError):         # not the main thread: leave the defaults
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            try:
                signal.signal(s, old)
            except (ValueError, OSError):
                pass
        self._old.clear()


def _terminal_gone(stream: TextIO) -> bool:
    try:
        return stream.isatty() and not os.path.exists(os.ttyname(stream.fileno()))
    except (OSError, ValueError):
        return False


def _detach_terminal() -> None:
    """After SIGHUP the terminal may be gone: send stdout/stderr that pointed at it to /dev/null."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and _terminal_gone(stream):
            setattr(sys, name, open(os.devnull, "w"))


def say(text: str, stream: TextIO | None = None) -> None:
    """print() that never fails the clean-up (a closed terminal or pipe drops the text)."""
    out = stream if stream is not None else sys.stdout
    try:
        print(text, file=out, flush=True)
    except (OSError, ValueError):
        try:
            setattr(sys, "stdout" if out is sys.stdout else "stderr", open(os.devnull, "w"))
        except OSError:
            pass
