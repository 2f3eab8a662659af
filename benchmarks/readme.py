"""The README's benchmark tables, generated from ``benchmarks/results.jsonl`` (one ``make bench`` run).

    python -m benchmarks.readme            rewrite the tables in README.md from the results
    python -m benchmarks.readme --check    exit 1 if a table differs from what the results give

A table in the README sits between ``<!-- bench-table: ID -->`` and ``<!-- /bench-table -->``;
``TABLES[ID]`` renders it. Prose around the tables is free text. ``tests/test_bench_readme.py``
checks that every table matches the committed results, so a figure in a table is always the
figure the code measured, under the label of what the code measures.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = Path(__file__).with_name("results.jsonl")
BLOCK = re.compile(r"(<!-- bench-table: (\S+) -->\n)(.*?)(<!-- /bench-table -->)", re.S)

Rows = dict[str, dict[str, Any]]


def load(path: Path = RESULTS) -> Rows:
    return {r["name"]: r for r in (json.loads(x) for x in path.read_text().splitlines() if x.strip())}


def _v(rows: Rows, name: str, fmt: str = "{:.3g}", key: str = "value") -> str:
    r = rows.get(name)
    if r is None:
        return "not run"
    v = r.get(key)
    if v is None:
        return "failed" if key == "value" else "–"
    s = fmt.format(v)
    return s if r["pass"] or key != "value" else f"{s} ✗"


def engine_table(rows: Rows) -> str:
    out = ["| block | 8 voices | 32 voices | 64 voices | budget (64 voices) |", "|---|---|---|---|---|"]
    for b in (64, 128, 256):
        cells = [_v(rows, f"engine/block_{b}f_{v}v", "{:.4f}") for v in (8, 32, 64)]
        tgt = rows.get(f"engine/block_{b}f_64v", {}).get("target", "–")
        out.append(f"| {b} frames | " + " | ".join(cells) + f" | {tgt.split(' ')[1] if ' ' in tgt else tgt} |")
    return "\n".join(out)


def live_table(rows: Rows) -> str:
    out = ["| period | rtgen, quiet | rtgen + busy Python thread "
           "| jack_metro in the same windows (quiet / busy / control) "
           "| Python callback + busy thread (control) | bound |", "|---|---|---|---|---|---|"]
    for p in (128, 64):
        b = f"live/jack_{p}f"
        q, busy, ctl = (f"{b}/rtgen_quiet/late_cycles_per_min", f"{b}/rtgen_busy_python_thread/late_cycles_per_min",
                        f"{b}/control_python_callback_busy/late_cycles_per_min")
        metro = " / ".join(_v(rows, n, "{:.0f}", "peer_value") for n in (q, busy, ctl))
        bound = rows.get(q, {}).get("target", "–")
        out.append(f"| {p} frames | {_v(rows, q, '{:.0f}')} | {_v(rows, busy, '{:.0f}')} | {metro} | "
                   f"{_v(rows, ctl, '{:,.0f}')} | {bound} |")
    return "\n".join(out)


GEN_LABELS = {"euclid": "Euclid (3 tracks)", "chorale": "chorale", "melody": "rule melody", "dice": "dice game",
              "serial": "mode of values", "grammar": "grammar", "lsystem": "L-system (14 iterations)",
              "ca1d": "1-D automaton (rule 30, 64 cells)", "life32": "Life 32×32 (+ 4 cyclic states)",
              "life64": "Life 64×64 (+ 4 cyclic states)", "cyclic": "cyclic automaton 24×24"}


def generators_table(rows: Rows) -> str:
    out = ["| generator | µs per busy chunk | budget | Python reference, same chunks | speed-up |",
           "|---|---|---|---|---|"]
    for g, label in GEN_LABELS.items():
        n, s = f"gen/{g}/us_per_busy_chunk", f"gen/{g}/speedup_on_busy_chunks"
        tgt = rows.get(n, {}).get("target", "–").split(" (")[0].replace(" us", " µs")
        out.append(f"| {label} | {_v(rows, n, '{:.3g}')} | {tgt} | {_v(rows, s, '{:,.1f} µs', 'peer_value')} | "
                   f"{_v(rows, s, '{:.0f}×')} |")
    return "\n".join(out)


def midi_table(rows: Rows) -> str:
    out = ["| period | min | median | p99 | max | target (p99) | spread p99 − min | target |",
           "|---|---|---|---|---|---|---|---|"]
    for p in (64, 128):
        n, j = f"midi/in_to_audio_{p}f/latency_ms", f"midi/in_to_audio_{p}f/jitter_ms"
        t = rows.get(n, {}).get("target", "–").split(" (")[0].replace("p99 ", "")
        tj = rows.get(j, {}).get("target", "–").split(" (")[0]
        out.append(f"| {p} frames | {_v(rows, n, '{:.2f}', 'min')} | {_v(rows, n, '{:.2f}')} | "
                   f"{_v(rows, n, '{:.2f}', 'p99')} | {_v(rows, n, '{:.2f}', 'max')} | {t} | "
                   f"{_v(rows, j, '{:.2f}')} | {tj} |")
    return "\n".join(out)


def answer_table(rows: Rows) -> str:
    out = ["| memory | timed from | min | median | p99 | max | target (p99) |", "|---|---|---|---|---|---|---|"]
    for suffix, mem in (("", "empty"), ("/memory_100000", "100,000 notes")):
        for what, label in (("note_off", "last note-off"), ("detection", "phrase end known")):
            n = f"continuator/answer_from_{what}_ms{suffix}"
            if n not in rows:
                continue
            t = rows[n]["target"].replace("p99 ", "")
            out.append(f"| {mem} | {label} | {_v(rows, n, '{:.1f}', 'min')} | {_v(rows, n, '{:.1f}')} | "
                       f"{_v(rows, n, '{:.1f}', 'p99')} | {_v(rows, n, '{:.1f}', 'max')} | {t} |")
    return "\n".join(out)


def pyo_live_table(rows: Rows) -> str:
    out = ["| effects worker | late blocks / min (played dry) | target | rtgen late cycles / min | "
           "jack_metro, same window |", "|---|---|---|---|---|"]
    for mode in ("process", "thread"):
        b = f"pyo/live_128f/{mode}_worker"
        n, r = f"{b}/late_blocks_per_min", f"{b}/rtgen_late_cycles_per_min"
        t = rows.get(n, {}).get("target", "–").split(" (")[0]
        out.append(f"| {mode} | {_v(rows, n, '{:,.0f}')} | {t} | {_v(rows, r, '{:.0f}')} | "
                   f"{_v(rows, r, '{:.0f}', 'peer_value')} |")
    return "\n".join(out)


TABLES: dict[str, Callable[[Rows], str]] = {
    "engine": engine_table, "live": live_table, "generators": generators_table, "midi": midi_table,
    "answer": answer_table, "pyo-live": pyo_live_table,
}


def render(text: str, rows: Rows) -> str:
    """``text`` with every bench table regenerated from ``rows``."""
    def sub(m: re.Match[str]) -> str:
        tid = m.group(2)
        if tid not in TABLES:
            raise KeyError(f"README names an unknown bench table {tid!r}")
        return m.group(1) + TABLES[tid](rows) + "\n" + m.group(4)

    return BLOCK.sub(sub, text)


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = render(text, load())
    if "--check" in argv:
        if new != text:
            print("README.md's bench tables differ from benchmarks/results.jsonl: python -m benchmarks.readme",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
