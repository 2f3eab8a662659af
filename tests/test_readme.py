"""The README's Python example runs as written (shortened game loop)."""

from __future__ import annotations

import re
from pathlib import Path


def test_readme_game_example_runs() -> None:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    src = code.group(1).replace("range(2000)", "range(40)").replace("frame == 500", "frame == 10")
    src = src.replace('timbre="neural"', 'timbre="additive"')
    ns: dict = {}
    exec(compile(src, "README.md", "exec"), ns)   # the project's own documentation, not user input
    eng = ns["eng"]
    assert eng.stats()["notes"] > 0 and ns["music"].state in ("explore", "combat")
