"""Single-producer / single-consumer rings between Python threads and the audio thread.

A ring is a numpy array of rows plus two int64 indices that only grow: the producer
writes a row, then publishes it by storing ``head + 1``; the consumer reads rows
below ``head`` and publishes ``tail``. An aligned 8-byte store is atomic on the
platforms rtgen runs on, and the row is written before the index that publishes it,
so neither side ever waits for the other. A full ring drops the row and counts it.

The audio thread never takes a lock. The producer side may be shared by several
Python threads, so :class:`CommandWriter` serialises *producers* with a lock of its
own (a control thread may wait; the audio thread never does).
"""

from __future__ import annotations

import threading

import numpy as np

from .layout import CMD_CAP, CMDW, OUT_CAP, OUTW

HEAD = 0
TAIL = 8
DROPS = 1   # cmd_idx[r, DROPS]: rows this ring's producers dropped (ring full)


class CommandWriter:
    """The producer end of command ring ``r``."""

    def __init__(self, cmd: np.ndarray, idx: np.ndarray, r: int) -> None:
        self._rows = cmd[r]
        self._idx = idx[r]
        self._lock = threading.Lock()
        self._row = np.zeros(CMDW, np.float64)

    def push(self, kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, d: float = 0.0,
             e: float = 0.0, f: float = 0.0, time: float = -1.0) -> bool:
        """Queue one command. Returns False (and counts a drop) when the ring is full."""
        with self._lock:
            head = int(self._idx[HEAD])
            if head - int(self._idx[TAIL]) >= CMD_CAP:
                self._idx[DROPS] += 1
                return False
            row = self._rows[head % CMD_CAP]
            row[0] = kind
            row[1] = a
            row[2] = b
            row[3] = c
            row[4] = d
            row[5] = e
            row[6] = f
            row[7] = time
            self._idx[HEAD] = head + 1          # publish last
            return True

    def free(self) -> int:
        """Rows that can be pushed now without a drop."""
        return CMD_CAP - (int(self._idx[HEAD]) - int(self._idx[TAIL]))

    @property
    def dropped(self) -> int:
        return int(self._idx[DROPS])

    @property
    def written(self) -> int:
        return int(self._idx[HEAD])

    @property
    def consumed(self) -> int:
        return int(self._idx[TAIL])


class EventReader:
    """The consumer end of the engine's output-event ring."""

    def __init__(self, out: np.ndarray, idx: np.ndarray) -> None:
        self._rows = out
        self._idx = idx
        self._lock = threading.Lock()

    def drain(self, limit: int = OUT_CAP) -> np.ndarray:
        """Every unread row (at most ``limit``), oldest first, as a new [n, OUTW] array."""
        with self._lock:
            head = int(self._idx[HEAD])
            tail = int(self._idx[TAIL])
            n = min(head - tail, limit)
            if n <= 0:
                return np.zeros((0, OUTW), np.float64)
            a = tail % OUT_CAP
            b = a + n
            if b <= OUT_CAP:
                rows = self._rows[a:b].copy()
            else:
                rows = np.concatenate([self._rows[a:], self._rows[:b - OUT_CAP]])
            self._idx[TAIL] = tail + n          # publish after the copy
            return rows
