"""Run every benchmark, bounded in time: ``python -m benchmarks [--only NAME] [--quick]``.

Each benchmark is a module ``benchmarks/bench_*.py`` with a ``main(argv)``; each runs in
its own process (so one that fails or runs over its time does not stop the others) and
prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

LIMIT_S = {"bench_engine": 900, "bench_generators": 300, "bench_timbre": 600, "bench_midi": 600,
           "bench_pyo": 600, "bench_music": 900}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", help="run one benchmark, e.g. engine or bench_engine")
    ap.add_argument("--quick", action="store_true", help="shorter live runs (for a smoke check)")
    args = ap.parse_args()
    here = Path(__file__).parent
    mods = sorted(p.stem for p in here.glob("bench_*.py"))
    if args.only:
        want = args.only if args.only.startswith("bench_") else f"bench_{args.only}"
        mods = [m for m in mods if m == want]
        if not mods:
            print(f"no benchmark named {args.only}", file=sys.stderr)
            return 2
    rc = 0
    for m in mods:
        cmd = [sys.executable, "-m", f"benchmarks.{m}"] + (["--quick"] if args.quick else [])
        try:
            r = subprocess.run(cmd, timeout=LIMIT_S.get(m, 600))
            if r.returncode != 0:
                print(f'{{"name": "{m}", "error": "exit code {r.returncode}"}}', flush=True)
                rc = 1
        except subprocess.TimeoutExpired:
            print(f'{{"name": "{m}", "error": "timed out after {LIMIT_S.get(m, 600)} s"}}', flush=True)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
