"""Start-up: compiled code is cached (the live callback too), and a cold start says it compiles."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path


def test_the_live_callback_is_cached_on_disk() -> None:
    from rtgen import precompile
    from rtgen.backends.live import _pa_callback, callback_address

    callback_address()                      # loads it from the cache, or compiles and saves it
    p = precompile._index_path(_pa_callback)
    assert p is not None and Path(p).exists(), "numba did not cache the callback"
    assert precompile.is_warm(live=True)


def test_a_warm_compile_verb_returns_at_once() -> None:
    r = subprocess.run([sys.executable, "-m", "rtgen.cli", "compile"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "rtgen.cli", "compile"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "compiled already" in r.stdout and "compiling" not in r.stderr


def test_a_cold_cache_prints_compiling_first_run_only_with_progress(tmp_path: Path, monkeypatch) -> None:
    import importlib

    import numba.core.config as nconfig

    from rtgen.precompile import compile_notice

    mod = tmp_path / "cold_mod.py"
    mod.write_text(textwrap.dedent("""
        import numba
        @numba.njit(cache=True)
        def slow(n):
            s = 0.0
            for i in range(n):
                s += i ** 0.5
            return s
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(nconfig, "CACHE_DIR", str(tmp_path / "cache"))
    m = importlib.import_module("cold_mod")
    out = io.StringIO()
    with compile_notice(stream=out, every_s=0.01, funcs=[m.slow.py_func]) as cold:
        m.slow(10)
    text = out.getvalue()
    assert cold and "compiling the audio kernels, first run only" in text and "compiled in" in text
    assert "compiling... " in text          # the progress line
    out = io.StringIO()
    with compile_notice(stream=out, funcs=[m.slow.py_func]) as cold:   # now cached: silent
        m.slow(10)
    assert not cold and out.getvalue() == ""
