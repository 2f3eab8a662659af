"""Every benchmark figure follows one schema: name, value, unit, target, pass (and pass can be false).

The emitter (``benchmarks/common.py``) refuses a figure without a target or a pass flag, turns a
measurement that could not be made into ``pass: false`` with a reason, and the runner turns any
line that breaks the schema into a failing figure. The committed results file follows it too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import common
from benchmarks.__main__ import RESULTS, write_results


def test_a_figure_carries_every_key_and_can_fail(capsys: pytest.CaptureFixture[str]) -> None:
    row = common.emit("g/f", 0.5, "s", "< 0.25", 0.5 < 0.25, peer="ref", ratio=2.0)
    printed = json.loads(capsys.readouterr().out)
    assert printed == row
    assert row["name"] == "g/f" and row["value"] == 0.5 and row["unit"] == "s" and row["target"] == "< 0.25"
    assert row["pass"] is False
    assert common.check_figure(row) == []


def test_target_and_pass_are_required() -> None:
    with pytest.raises(TypeError):
        common.figure("g/f", 1.0, "s")                    # type: ignore[call-arg]
    with pytest.raises(ValueError, match="target"):
        common.figure("g/f", 1.0, "s", "", True)


def test_a_skipped_or_failed_measurement_is_pass_false_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    row = common.skipped("g/skip", "ms", "< 30", "jackd is not installed")
    assert row["pass"] is False and row["value"] is None and row["reason"] == "jackd is not installed"
    try:
        raise RuntimeError("the port vanished")
    except RuntimeError as e:
        row = common.failed("g/err", "ms", "< 30", e)
    assert row["pass"] is False and "RuntimeError: the port vanished" in row["reason"]
    assert "test_bench_schema.py" in row["reason"]           # where it came from
    # a value that is not a number never passes
    row = common.figure("g/nan", math.nan, "ms", "< 30", True)
    assert row["pass"] is False and row["value"] is None and "nan" in row["reason"]
    # a figure cannot claim to pass without a value
    with pytest.raises(ValueError, match="reason"):
        common.figure("g/none", None, "ms", "< 30", True)
    capsys.readouterr()


@pytest.mark.parametrize("bad", [
    {"figure": "midi_in_to_audio_out_frames", "skipped": "no jack"},           # the old schema
    {"name": "a", "value": 1, "unit": "s"},                                     # no target, no pass
    {"name": "a", "value": 1, "unit": "s", "target": "< 2", "pass": "yes"},
    {"name": "a", "value": None, "unit": "s", "target": "< 2", "pass": True, "reason": "x"},
    {"name": "a", "value": 1, "unit": "s", "target": "< 2", "pass": True, "ratio": 3.0},   # no peer
    "not an object",
])
def test_the_runner_turns_a_line_that_breaks_the_schema_into_a_failing_figure(bad: object) -> None:
    assert common.check_figure(bad)
    row = common.normalise(bad, "bench_x")
    assert common.check_figure(row) == [] and row["pass"] is False and "breaks the schema" in row["reason"]


def test_results_file_keeps_other_benchmarks_lines(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    a = dict(common.figure("a/x", 1, "s", "< 2", True), bench="bench_a")
    b = dict(common.figure("b/x", 1, "s", "< 2", True), bench="bench_b")
    write_results([a, b], {"bench_a", "bench_b"}, p)
    b2 = dict(common.figure("b/x", 3, "s", "< 2", False), bench="bench_b")
    write_results([b2], {"bench_b"}, p)
    rows = [json.loads(x) for x in p.read_text().splitlines()]
    assert rows == [a, b2]


def test_the_committed_results_follow_the_schema() -> None:
    assert RESULTS.exists(), "run `make bench` to write benchmarks/results.jsonl"
    rows = [json.loads(x) for x in RESULTS.read_text().splitlines() if x.strip()]
    assert rows
    bad = {r.get("name"): common.check_figure(r) for r in rows if common.check_figure(r)}
    assert not bad, bad
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), "a figure name appears twice"
