"""Offline rendering: N seconds to a numpy array or a WAV file, bit-identical for a seed."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..protocol import EngineLike

RENDER_BLOCK = 4096


def render_array(engine: EngineLike, seconds: float, block: int = RENDER_BLOCK,
                 progress: Callable[[float], None] | None = None,
                 on_block: Callable[[int], None] | None = None) -> np.ndarray:
    """Render ``seconds`` of audio from ``engine`` into a new float32 [n, 2] array.

    ``on_block(sample)`` is called before each block (a game loop or a test can send
    commands there); ``progress(fraction)`` after each block.
    """
    if not (seconds >= 0.0) or seconds > 24 * 3600:
        raise ConfigError(f"seconds must be in 0..86400, not {seconds}")
    if block < 1:
        raise ConfigError("block must be >= 1 frame")
    n = int(round(seconds * engine.spec.sample_rate))
    out = np.zeros((n, 2), np.float32)
    pos = 0
    while pos < n:
        m = min(block, n - pos)
        if on_block is not None:
            on_block(pos)
        engine.render(out[pos:pos + m])
        pos += m
        if progress is not None:
            progress(pos / n)
    return out


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int, subtype: str = "PCM_24") -> Path:
    """Write ``audio`` (float32 [n, 2]) to ``path`` atomically (a temporary file, then a rename).

    24-bit PCM by default: libsndfile stamps float WAV files with a PEAK chunk holding the
    time of writing, which would make two renders of the same seed differ as files.
    """
    import soundfile as sf

    p = Path(path)
    if p.suffix.lower() not in (".wav", ".flac"):
        raise ConfigError(f"{p}: the output must end in .wav or .flac")
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.part")
    fmt = "WAV" if p.suffix.lower() == ".wav" else "FLAC"
    sf.write(str(tmp), audio, sample_rate, subtype=subtype, format=fmt)
    os.replace(tmp, p)
    return p


def text_progress(label: str = "rendering") -> Callable[[float], None]:
    """A progress callback that draws a bar on stderr when it is a terminal."""
    tty = sys.stderr.isatty()
    last = [-1]

    def show(frac: float) -> None:
        pct = int(frac * 100)
        if pct == last[0]:
            return
        last[0] = pct
        if tty:
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{label} [{bar:<25}] {pct:3d}%")
            if pct >= 100:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct % 25 == 0:
            sys.stderr.write(f"{label}: {pct}%\n")

    return show
