"""Terminal UI for live performance (textual): ``rtgen play --ui``. See :mod:`rtgen.ui.app`."""

from __future__ import annotations

from .app import RtgenApp, automaton_view, continuator_status

__all__ = ["RtgenApp", "automaton_view", "continuator_status"]
