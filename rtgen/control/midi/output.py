"""MIDI output: the engine's played notes (its output events) sent to an external synth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...protocol import EngineLike
from ...rt.layout import (
    LAYER_ANSWER,
    LAYER_PLAYER,
    O_NOTE_OFF,
    O_NOTE_ON,
)
from .ports import _api_id, open_port, resolve_api

# ---------------------------------------------------------------- output

@dataclass
class MidiOutStats:
    sent: int = 0
    note_on: int = 0
    note_off: int = 0
    skipped: int = 0
    errors: int = 0


class MidiOutput:
    """Sends the engine's notes (drained from ``engine.events()``) to an external synth.

    ``layers`` maps a layer to a MIDI channel (0..15); notes of other layers are not
    sent. Sounding notes are reference-counted per (channel, note) so overlapping
    voices on one key do not cut each other, and :meth:`stop` releases all of them.
    ``events`` may be given to share one drain of ``engine.events()`` with others
    (a callable returning the rows); by default this thread drains it itself. The
    virtual port is ``rtgen-out:out`` (rtmidi opens input and output as two clients).
    """

    def __init__(self, engine: EngineLike, port: str | None = None, *, api: str = "auto",
                 client_name: str = "rtgen-out", layers: dict[int, int] | None = None,
                 poll_s: float = 0.001, events: Callable[[], Any] | None = None) -> None:
        self.engine = engine
        self.port = port
        self.api = resolve_api(api)
        self.client_name = client_name
        self.layers = dict(layers) if layers is not None else {LAYER_PLAYER: 0, LAYER_ANSWER: 1}
        self.poll_s = poll_s
        self._events = events if events is not None else engine.events
        self.stats = MidiOutStats()
        self.sounding: dict[tuple[int, int], int] = {}
        self.port_name: str | None = None
        self._midi: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MidiOutput:
        import rtmidi
        mo = rtmidi.MidiOut(_api_id(self.api), self.client_name)
        self.port_name = open_port(mo, self.api, self.port, "out", self.client_name, output_side=False)
        self._midi = mo
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rtgen-midi-out", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            rows = self._events()
            if rows is not None and len(rows):
                self.send_rows(rows)
            else:
                time.sleep(self.poll_s)

    def send_rows(self, rows: Any) -> None:
        for r in rows:
            kind = int(r[0])
            if kind not in (O_NOTE_ON, O_NOTE_OFF):
                continue
            ch = self.layers.get(int(r[4]))
            if ch is None:
                self.stats.skipped += 1
                continue
            note = max(0, min(127, int(round(float(r[2])))))
            key = (ch, note)
            if kind == O_NOTE_ON:
                vel = max(1, min(127, int(round(float(r[3])))))
                self.sounding[key] = self.sounding.get(key, 0) + 1
                self._send([0x90 | ch, note, vel])
                self.stats.note_on += 1
            else:
                c = self.sounding.get(key, 0)
                if c <= 1:
                    self.sounding.pop(key, None)
                    if c == 1:
                        self._send([0x80 | ch, note, 0])
                        self.stats.note_off += 1
                else:
                    self.sounding[key] = c - 1

    def _send(self, msg: list[int]) -> None:
        try:
            self._midi.send_message(msg)
            self.stats.sent += 1
        except Exception:
            self.stats.errors += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._midi is not None:
            for ch, note in list(self.sounding):
                self._send([0x80 | ch, note, 0])
            self.sounding.clear()
            for ch in sorted(set(self.layers.values())):
                self._send([0xB0 | ch, 123, 0])
            try:
                self._midi.close_port()
                self._midi.delete()
            except Exception:
                pass
            self._midi = None

    def __enter__(self) -> MidiOutput:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
