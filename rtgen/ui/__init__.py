"""Terminal UI for live performance (textual): ``rtgen play --ui``. See :mod:`rtgen.ui.app`.

textual is imported only when the app is used (``rtgen play`` without ``--ui`` never loads it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RtgenApp", "automaton_view", "continuator_status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'rtgen.ui' has no attribute {name!r}")
