"""The Python examples in docs/ run as written (game loops shortened; live ones on a real JACK server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def _blocks(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.S)


def test_game_md_offline_example_runs_as_written() -> None:
    blocks = [b for b in _blocks("game.md") if "with LiveStream(" not in b]
    assert blocks
    for src in blocks:
        src = src.replace("range(1000)", "range(60)").replace("frame == 400", "frame == 20")
        ns: dict = {}
        exec(compile(src, "docs/game.md", "exec"), ns)   # the project's own documentation
        assert ns["eng"].stats()["notes"] > 0 and ns["music"].state == "combat"


@pytest.mark.jack
def test_game_md_live_example_runs_as_written(jack_server) -> None:
    blocks = [b for b in _blocks("game.md") if "with LiveStream(" in b]
    assert len(blocks) == 1
    ns: dict = {}
    exec(compile(blocks[0].replace("range(300)", "range(60)"), "docs/game.md", "exec"), ns)
    assert ns["eng"].stats()["notes"] > 0


def test_every_docs_python_block_compiles() -> None:
    for md in (DOCS / "game.md", DOCS / "osc.md"):          # the pages whose blocks are whole programs
        for i, src in enumerate(_blocks(md.name)):
            compile(src, f"{md.name} block {i}", "exec")


def test_presets_md_examples_are_valid_presets_and_cover_every_key() -> None:
    from rtgen.gen.presets import _COMMON, _TOP, GENERATORS, parse_preset

    try:
        import tomllib
    except ImportError:                      # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    text = (DOCS / "presets.md").read_text()
    # the generators' own page documents what the registry adds (presets.md links there)
    both = text + ((DOCS / "generators.md").read_text() if (DOCS / "generators.md").exists() else "")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    seen = set()
    for i, src in enumerate(blocks):
        p = parse_preset(tomllib.loads(src), f"docs/presets.md block {i}")
        seen.update(s.name for s, _ in p.generators)
    assert seen, "no example preset"
    for gtype, (_, own) in GENERATORS.items():
        assert f"`{gtype}`" in both, gtype
        for key in own:
            assert f"`{key}`" in both or f"{key} =" in both, (gtype, key)   # every key is documented
    for key in list(_COMMON) + list(_TOP):
        assert any(f in both for f in (f"`{key}`", f"`[{key}]`", f"`[[{key}]]`", f"[{key}]")), key
