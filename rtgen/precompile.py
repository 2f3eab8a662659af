"""Compile rtgen's numba code once, ahead of time, and say so when a start has to compile.

Every compiled function in rtgen is cached on disk (``cache=True``; the directory is keyed on
the sources' hash, see :mod:`rtgen._jitcache`), the live callback included. A warm start then
loads machine code in about a second; a cold start (a fresh install, or after the sources
changed) compiles for a minute or more. :func:`compile_all` does that once (``make`` runs it
through ``rtgen compile``), and :func:`compile_notice` wraps the first use in a verb: when the
cache is cold it prints "compiling, first run only" with a progress line every few seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ._jitcache import cache_root, source_hash


def _index_path(py_func: Callable[..., Any]) -> str | None:
    """Where numba keeps the cache index of ``py_func`` (a plain Python function)."""
    try:
        from numba.core.caching import FunctionCache

        return str(FunctionCache(py_func)._cache_file._index_path)  # type: ignore[attr-defined]
    except Exception:                       # numba's private layout changed: assume cold
        return None


def _key_functions(live: bool) -> list[Callable[..., Any]]:
    from .rt import kernel

    funcs: list[Callable[..., Any]] = [kernel.render.py_func]
    if live:
        from .backends import live as _live

        funcs.append(_live._pa_callback)
    return funcs


def is_warm(live: bool = True, funcs: list[Callable[..., Any]] | None = None) -> bool:
    """True when the kernel (and, with ``live``, the audio callback) load from the disk cache
    (or the Python functions ``funcs``, when given)."""
    for f in funcs if funcs is not None else _key_functions(live):
        p = _index_path(f)
        if p is None or not os.path.exists(p):
            return False
    return True


def _cache_dir() -> Path:
    return cache_root() / source_hash()


def _count_cached() -> int:
    d = _cache_dir()
    return sum(1 for _ in d.rglob("*.nbi")) if d.is_dir() else 0


def _count_compilable() -> int:
    """Cached numba functions in the rtgen modules loaded now (the progress line's total)."""
    from numba.core.dispatcher import Dispatcher

    seen = set()
    for name, mod in list(sys.modules.items()):
        if not name.startswith("rtgen.") or mod is None:
            continue
        for v in list(vars(mod).values()):
            if isinstance(v, Dispatcher) and v.py_func not in seen:
                seen.add(v.py_func)
    return len(seen) + 1                    # + the live callback (a cfunc, not a dispatcher)


@contextmanager
def compile_notice(live: bool = True, stream: TextIO | None = None, every_s: float = 5.0,
                   funcs: list[Callable[..., Any]] | None = None) -> Iterator[bool]:
    """Around the first compiled call of a verb: on a cold cache, print "compiling, first run
    only" and then a progress line every ``every_s`` seconds until the block ends. Yields
    whether the cache was cold."""
    out = stream or sys.stderr
    cold = not is_warm(live, funcs)
    if not cold:
        yield False
        return
    t0 = time.monotonic()
    total = max(1, _count_compilable())
    n0 = _count_cached()
    print("rtgen: compiling the audio kernels, first run only (about a minute; 'make' or "
          "'rtgen compile' does it ahead of time, later starts take a second)", file=out, flush=True)
    done = threading.Event()

    def report() -> None:
        while not done.wait(every_s):
            n = min(total, _count_cached() - n0)
            print(f"rtgen: compiling... {n}/{total} functions, {time.monotonic() - t0:.0f} s",
                  file=out, flush=True)

    th = threading.Thread(target=report, name="rtgen-compile-progress", daemon=True)
    th.start()
    try:
        yield True
    finally:
        done.set()
        th.join(timeout=1.0)
        print(f"rtgen: compiled in {time.monotonic() - t0:.0f} s (cached for next time)", file=out, flush=True)


def compile_all(neural: bool = True, stream: TextIO | None = None) -> float:
    """Compile (or load) every compiled function rtgen plays with: the kernel with every
    generator, the live callback, the neural timbre's helpers, the Continuator's search and
    the MIDI-file synth. Returns the seconds it took."""
    import numpy as np

    from .config import EngineSpec
    from .engine import Engine

    out = stream or sys.stderr
    t0 = time.monotonic()
    with compile_notice(live=True, stream=out, every_s=10.0):
        from .backends.live import callback_address
        from .gen.presets import apply_to_engine, list_presets, load_preset

        for name in list_presets():
            eng = Engine(EngineSpec(seed=0))
            apply_to_engine(load_preset(name), eng)
            eng.render(np.zeros((256, 2), np.float32))
        callback_address()
        try:
            from .gen.continuator import warm_up

            warm_up()
        except ImportError:
            pass
        try:
            from .timbre import load_timbre
            from .timbre.midifile import render_notes

            render_notes(load_timbre("additive"), [(0.0, 0.1, 60.0, 100.0, 0.0)], sr=48000)
        except Exception as e:               # a smaller build: nothing else to compile
            print(f"rtgen: MIDI-file synth not compiled ({e})", file=out)
        if neural:
            try:
                n_eng = Engine(EngineSpec(seed=0), timbre="neural")
                apply_to_engine(load_preset("ensemble"), n_eng)
                n_eng.render(np.zeros((4096, 2), np.float32))
            except Exception as e:           # no onnxruntime or no model: the additive timbre plays
                print(f"rtgen: neural timbre not compiled ({e})", file=out)
    return time.monotonic() - t0


def load_kernel(engine: Any) -> None:
    """Compile (or load from the cache) the kernel for ``engine``'s state without rendering."""
    import numpy as np
    from numba import typeof

    from .rt import kernel

    out = np.zeros((1, 2), np.float32)
    kernel.render.compile((typeof(engine.state), typeof(out), typeof(np.int64(1))))
