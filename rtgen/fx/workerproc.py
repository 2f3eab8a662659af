"""Entry point of the effects worker process: ``python -m rtgen.fx.workerproc`` (see rtgen.fx.worker)."""

from __future__ import annotations

import sys

from .worker import _child

if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
