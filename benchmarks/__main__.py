"""Run every benchmark, bounded in time: ``python -m benchmarks [--only NAME] [--quick]``.

Each benchmark is a module ``benchmarks/bench_*.py`` with a ``main(argv)``; each runs in
its own process (so one that fails or runs over its time does not stop the others) and
prints one JSON line per figure. Every line is checked against the schema in
``benchmarks/common.py`` (a line that breaks it becomes a ``pass: false`` figure saying why),
a benchmark that crashes or times out adds a ``pass: false`` figure, and the figures are written
to ``benchmarks/results.jsonl`` (``--only`` replaces just that benchmark's lines there;
``--quick`` and ``--no-write`` leave the file alone). The README's tables are generated from that
file (``python -m benchmarks.readme``) and a test checks that they match it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import figure, normalise

LIMIT_S = {"bench_engine": 1200, "bench_generators": 300, "bench_timbre": 600, "bench_midi": 600,
           "bench_pyo": 900, "bench_music": 900, "bench_startup": 900, "bench_ui": 300}
RESULTS = Path(__file__).with_name("results.jsonl")


def run_one(mod: str, quick: bool) -> list[dict[str, Any]]:
    """Run one benchmark in its own process; its figures, each following the schema."""
    cmd = [sys.executable, "-m", f"benchmarks.{mod}"] + (["--quick"] if quick else [])
    limit = LIMIT_S.get(mod, 600)
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:              # streamed: the figures appear as they are measured
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                raw = {"unparsable": line[:200]}
            row = normalise(raw, mod)
            row["bench"] = mod
            rows.append(row)
            print(json.dumps(row), flush=True)
            if time.monotonic() - t0 > limit:
                raise subprocess.TimeoutExpired(cmd, limit)
        rc = proc.wait(timeout=max(1.0, limit - (time.monotonic() - t0)))
        if rc != 0:
            rows.append(figure(f"{mod}/exit", rc, "exit code", "== 0", False,
                               reason=f"{mod} exited with code {rc}", bench=mod))
            print(json.dumps(rows[-1]), flush=True)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rows.append(figure(f"{mod}/time", time.monotonic() - t0, "s", f"< {limit} s", False,
                           reason=f"{mod} ran over its {limit} s limit and was stopped", bench=mod))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def write_results(rows: list[dict[str, Any]], replace: set[str], path: Path = RESULTS) -> None:
    """Write ``rows`` to the results file, keeping the lines of benchmarks not in ``replace``."""
    kept: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r.get("bench") not in replace:
                    kept.append(r)
    path.write_text("".join(json.dumps(r) + "\n" for r in kept + rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="run one benchmark, e.g. engine or bench_engine (repeatable)")
    ap.add_argument("--quick", action="store_true", help="shorter runs (a smoke check; results.jsonl untouched)")
    ap.add_argument("--no-write", action="store_true", help="do not write benchmarks/results.jsonl")
    args = ap.parse_args()
    here = Path(__file__).parent
    mods = sorted(p.stem for p in here.glob("bench_*.py"))
    if args.only:
        want = {o if o.startswith("bench_") else f"bench_{o}" for o in args.only}
        unknown = want - set(mods)
        if unknown:
            print(f"no benchmark named {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        mods = [m for m in mods if m in want]
    rows: list[dict[str, Any]] = []
    for m in mods:
        rows += run_one(m, args.quick)
    if not (args.quick or args.no_write):
        write_results(rows, set(mods))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
