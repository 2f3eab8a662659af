"""Keep numba's on-disk cache honest.

``@njit(cache=True)`` keys a cached function on its own source file only: when a function
it calls, in another file, changes, the stale machine code is still loaded. rtgen's
real-time kernel calls into many modules (generators, clock, rng…), so the cache
directory is keyed on a hash of every compiled module's source: any edit starts a fresh
cache, and installed releases never share one.

``NUMBA_CACHE_DIR`` set by the user is respected as the parent directory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_DIRS = ("rt", "gen", "timbre", "backends", "fx")
_done = False


def source_hash() -> str:
    h = hashlib.sha1()
    for d in _DIRS:
        for f in sorted((_HERE / d).glob("*.py")):
            data = f.read_bytes()
            # compiled code, and the layout whose constants are frozen into it
            if b"njit" in data or b"kernel_jit" in data or b"cfunc" in data or f.name == "layout.py":
                h.update(f.name.encode())
                h.update(data)
    return h.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rtgen-numba"


def configure_numba_cache() -> None:
    """Point numba's cache at a directory named after the source hash (once per process)."""
    global _done
    if _done:
        return
    _done = True
    target = cache_root() / source_hash()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return          # read-only home: numba falls back to its own locations
    import numba.core.config as nconfig

    nconfig.CACHE_DIR = str(target)  # type: ignore[attr-defined]
