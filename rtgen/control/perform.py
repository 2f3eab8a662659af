"""What a performer changes while the music plays: the key, and the preset file itself.

Shared by the terminal UI's keys and the OSC addresses ``/rtgen/key`` and ``/rtgen/reload``:

- :func:`set_key` moves the harmony (tonic and scale) at the next bar (or beat, or at once);
  :func:`transpose` moves the tonic by semitones; :func:`key_name` reads the key back.
- :class:`PresetReloader` watches the preset file a session was started from. When the file
  changes it is read again; if it is valid its music takes over at the next bar (the same
  transition a scene change makes), and if it has an error the old music keeps playing and the
  error is kept for the UI and printed once: a typo on stage never stops the sound.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RtgenError
from ..rt.layout import H_CHORD, H_CHORD_LEN, H_CHORD_ROOT, H_ROOT, H_SCALE, H_SCALE_LEN

log = logging.getLogger("rtgen.perform")

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def key_name(engine: Any) -> str:
    """The key now playing, e.g. ``"D minor"`` (``"E (5 notes)"`` for other scales)."""
    from ..gen.theory import SCALES

    h = engine.state.harm
    root = int(h[H_ROOT]) % 12
    n = int(h[H_SCALE_LEN])
    scale = tuple(int(x) for x in h[H_SCALE:H_SCALE + max(0, min(12, n))])
    for name in ("major", "minor"):
        if scale == tuple(SCALES[name]):
            return f"{NOTE_NAMES[root]} {name}"
    for name, sc in SCALES.items():
        if scale == tuple(sc):
            return f"{NOTE_NAMES[root]} {name}"
    return f"{NOTE_NAMES[root]} ({n} notes)"


def chord_name(engine: Any) -> str:
    """The chord the generators follow now (``"-"`` when none is set)."""
    h = engine.state.harm
    n = int(h[H_CHORD_LEN])
    if n <= 0 or h[H_CHORD_ROOT] < 0:
        return "-"
    root = int(h[H_CHORD_ROOT]) % 12
    pcs = sorted({(int(x) - root) % 12 for x in h[H_CHORD:H_CHORD + min(6, n)]})
    quality = {(0, 4, 7): "", (0, 3, 7): "m", (0, 3, 6): "dim", (0, 4, 8): "aug", (0, 4, 7, 10): "7",
               (0, 4, 7, 11): "maj7", (0, 3, 7, 10): "m7"}.get(tuple(pcs), f"({len(pcs)})")
    return NOTE_NAMES[root] + quality


def _harmony_at(controller: Any, root: int, scale: tuple[int, ...], quantum: str) -> None:
    """Tonic and scale (the chord cleared) from the next ``quantum``, through the engine's command ring."""
    at = controller.boundary(quantum)
    if not controller.engine.set_harmony(root, scale, (), time=at):
        raise ConfigError("the command ring is full: the key change was dropped")


def set_key(controller: Any, key: str, quantum: str = "bar") -> str:
    """Change the key (``"D"``, ``"a"`` = A minor, ``"F# minor"``, ``"Eb major"``) at the next
    ``quantum``; returns the key's name. A bad key is a ConfigError naming it."""
    from ..gen.theory import SCALES, parse_key

    root, minor = parse_key(str(key))
    scale = tuple(SCALES["minor" if minor else "major"])
    _harmony_at(controller, root, scale, quantum)
    return f"{NOTE_NAMES[root]} {'minor' if minor else 'major'}"


def set_root(controller: Any, root: int, quantum: str = "bar") -> str:
    """Move the tonic to pitch class ``root`` (the scale stays) at the next ``quantum``; returns the key."""
    h = controller.engine.state.harm
    n = int(h[H_SCALE_LEN])
    scale = tuple(int(x) for x in h[H_SCALE:H_SCALE + max(1, min(12, n))])
    root = int(root) % 12
    _harmony_at(controller, root, scale, quantum)
    name = key_name(controller.engine).split(" ", 1)
    return f"{NOTE_NAMES[root]} {name[1] if len(name) > 1 else ''}".strip()


def transpose(controller: Any, semitones: int, quantum: str = "bar") -> str:
    """Move the tonic by ``semitones`` (the scale stays); returns the new key's name."""
    return set_root(controller, int(controller.engine.state.harm[H_ROOT]) + int(semitones), quantum)


def read_preset_file(path: str | Path) -> Any:
    """A preset file read for a reload (the live tables too); errors are ConfigError naming the file."""
    from ..control.params import has_extra_tables, load_preset_file
    from ..gen.presets import load_preset

    if has_extra_tables(path):
        return load_preset_file(path)[0]
    return load_preset(path)


class PresetReloader:
    """Reloads the session's preset file when it changes (see the module docstring).

    ``poll()`` checks the file's modification time (a background thread calls it every
    ``interval`` seconds after ``start()``); ``reload()`` forces a reload. ``message`` holds the
    last outcome for the UI; ``reloads`` and ``errors`` count them.
    """

    def __init__(self, controller: Any, path: str | Path, interval: float = 0.25, quantum: str = "bar",
                 echo: Any = None) -> None:
        self.controller = controller
        self.path = Path(path)
        self.interval = float(interval)
        self.quantum = quantum
        self.echo = echo                 # echo(text): where messages go besides ``message`` (stderr)
        self.message = ""
        self.error = ""
        self.reloads = 0
        self.errors = 0
        self._mtime = self._stat()
        self._stop = threading.Event()
        self._t: threading.Thread | None = None
        self._lock = threading.Lock()

    def _stat(self) -> float:
        try:
            st = os.stat(self.path)
        except OSError:
            return -1.0
        return st.st_mtime_ns + st.st_size * 1e-3

    def start(self) -> PresetReloader:
        self._t = threading.Thread(target=self._loop, name="rtgen-reload", daemon=True)
        self._t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as e:             # the watcher never dies: the music goes on
                log.warning("preset reload failed: %s", e)

    def poll(self) -> bool:
        """Reload when the file changed since the last look; True when it did."""
        m = self._stat()
        if m == self._mtime or m < 0:
            return False
        time.sleep(0.05)                       # an editor may write the file in more than one go
        self._mtime = self._stat()
        self.reload()
        return True

    def reload(self) -> str:
        """Read the file again; valid: its music at the next bar; invalid: keep playing, keep the error."""
        with self._lock:
            try:
                preset = read_preset_file(self.path)
                name = getattr(preset, "name", None) or self.path.stem
                self.controller.add_state(name, preset)
                tr = self.controller.set_state(name, self.quantum)
            except (RtgenError, ConfigError, OSError, ValueError) as e:
                self.errors += 1
                self.error = str(e)
                self.message = f"reload failed, the old music plays on: {e}"
                self._say(self.message)
                return self.message
            self.reloads += 1
            self.error = ""
            when = f"at sample {tr.sample}" if tr.sample >= 0 else "when the current change has landed"
            self.message = f"reloaded {self.path.name}: the new music starts at the next {self.quantum} ({when})"
            self._say(self.message)
            return self.message

    def _say(self, text: str) -> None:
        if self.echo is not None:
            try:
                self.echo(text)
            except Exception:
                pass

    def summary(self) -> str:
        return f"{self.path.name}: {self.reloads} reloads, {self.errors} with errors (kept the old music)"
