"""Import pyo once, quietly, and tell the user once when it is missing."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("rtgen.fx")

_state: dict[str, Any] = {"tried": False, "mod": None, "error": "", "warned": False}


def load_pyo() -> Any | None:
    """The pyo module, or None when it cannot be imported (the reason is kept for :func:`why`)."""
    if not _state["tried"]:
        _state["tried"] = True
        # pyo prints a notice about its GUI toolkits on import unless told not to look for wx
        os.environ.setdefault("PYO_GUI_WX", "0")
        try:
            import pyo
        except Exception as e:   # ImportError, or OSError from a missing shared library
            _state["error"] = f"{type(e).__name__}: {e}"
        else:
            _state["mod"] = pyo
    return _state["mod"]


def why() -> str:
    return str(_state["error"] or "pyo is importable")


def warn_missing_once() -> None:
    """Log (once per process) that the effects are bypassed because pyo is not importable."""
    if not _state["warned"]:
        _state["warned"] = True
        log.warning("effects bypassed: pyo is not importable (%s); install it with "
                    "pip install 'rtgen[fx]'", why())


def reset_for_tests() -> None:
    """Forget the import result (tests simulate a missing pyo by monkeypatching the import)."""
    _state.update(tried=False, mod=None, error="", warned=False)
