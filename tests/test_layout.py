"""rt/layout.py: every group's indices are distinct and inside their array (checked at import), and
no module outside it defines names with a layout group's prefix (a Life automaton's ``LF_H`` once
read as a layer column)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rtgen.rt import layout

ROOT = Path(__file__).resolve().parents[1] / "rtgen"


def _names() -> dict[str, object]:
    return {k: v for k, v in vars(layout).items() if k.isupper()}


def test_the_shipped_layout_passes_its_own_check() -> None:
    layout.check_layout(_names())


@pytest.mark.parametrize(("name", "value", "words"), [
    ("S_NEW_COUNTER", layout.S_CLIPS, "share word"),             # a counter on a used word
    ("VF_NEW", layout.NVF, "outside"),                           # past the voice array
    ("H_NEW", layout.H_SCALE + 5, "share word"),                 # inside the scale's 12 words
    ("IP_NEW", layout.IP_NOISE_BAND + 7, "share word"),          # inside the noise bands
    ("C_NEW", layout.C_SWING, "share word"),                     # two commands with one code
])
def test_a_clash_or_an_overflow_is_refused(name: str, value: int, words: str) -> None:
    names = _names()
    names[name] = value
    with pytest.raises(RuntimeError, match=words):
        layout.check_layout(names)


def test_a_block_sized_by_name_is_checked_as_a_block() -> None:
    names = _names()
    names.update({"M_RING": 4, "P_M_XL": 23, "P_M_XR": 27})
    layout.check_layout(names)                                 # 23..26 and 27..30: no clash
    names["P_M_XR"] = 26
    with pytest.raises(RuntimeError, match="P_M_XR and P_M_XL share word 26"):
        layout.check_layout(names)


def test_sizes_and_range_starts_are_not_words() -> None:
    names = _names()
    names["GI_USER"] = layout.GI_ACTIVE                       # GI_USER marks where the user words start
    layout.check_layout(names)


def test_no_module_borrows_a_layout_prefix() -> None:
    bad = []
    for p in ROOT.rglob("*.py"):
        if p.name == "layout.py" and p.parent.name == "rt":
            continue
        for node in ast.parse(p.read_text("utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and t.id.isupper() and any(t.id.startswith(g) for g in layout.GROUPS):
                    bad.append(f"{p.relative_to(ROOT)}:{t.id}")
    assert not bad, f"module constants that read as layout indices: {bad}"
