"""Renders stay bit-identical: every shipped preset at two seeds, a game session, MIDI input,
MIDI clock and one neural render, hashed and compared with ``tests/golden_renders.json``.

This is the check a structural change (a refactor) must pass unchanged. A change of sound made
on purpose (a new voice, a retuned preset, a generator fix) fails it by design: after merging
such a change, regenerate the file with

    python -m tests.golden --update

and commit it with a message that names the change. ``python -m tests.golden`` lists which
scenarios changed.
"""

from __future__ import annotations

import pytest

from tests import golden


@pytest.fixture(scope="module")
def want() -> dict[str, str]:
    return golden.load()


def test_golden_file_covers_every_scenario(want: dict[str, str]) -> None:
    names = [n for n, _ in golden.scenarios()]
    assert sorted(names) == sorted(want), "scenarios changed: run python -m tests.golden --update"


@pytest.mark.parametrize("name", [n for n, _ in golden.scenarios()])
def test_render_is_bit_identical_to_golden(name: str, want: dict[str, str]) -> None:
    fn = dict(golden.scenarios())[name]
    got = golden.digest(fn())
    assert got == want.get(name), (f"{name}: render changed ({got} != {want.get(name)}); if on purpose, "
                                   "run python -m tests.golden --update")
