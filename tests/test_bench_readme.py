"""The README's benchmark tables are the figures of the committed ``make bench`` run.

Each table sits between ``<!-- bench-table: ID -->`` markers and is generated from
``benchmarks/results.jsonl`` by ``python -m benchmarks.readme``; a hand edit, or a new run
without regenerating the tables, fails here.
"""

from __future__ import annotations

from benchmarks.readme import BLOCK, README, TABLES, load, render


def test_the_readme_has_the_bench_tables() -> None:
    ids = [m.group(2) for m in BLOCK.finditer(README.read_text())]
    assert set(ids) == set(TABLES), ids
    assert len(ids) == len(set(ids))


def test_every_bench_table_in_the_readme_matches_the_results() -> None:
    text = README.read_text()
    rows = load()
    want = render(text, rows)
    got_blocks = [m.group(0) for m in BLOCK.finditer(text)]
    want_blocks = [m.group(0) for m in BLOCK.finditer(want)]
    for g, w in zip(got_blocks, want_blocks, strict=True):
        assert g == w, "README table differs from benchmarks/results.jsonl (python -m benchmarks.readme):\n" + w


def test_every_figure_a_table_shows_was_measured() -> None:
    rows = load()
    for tid, fn in TABLES.items():
        table = fn(rows)
        assert "not run" not in table, f"table {tid} shows a figure the results do not hold:\n{table}"


def test_a_changed_figure_changes_the_table() -> None:
    rows = load()
    name = "engine/block_64f_64v"
    before = TABLES["engine"](rows)
    rows[name] = dict(rows[name], value=rows[name]["value"] * 2 + 0.01)
    assert TABLES["engine"](rows) != before
