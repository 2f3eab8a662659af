"""The neural timbre's worker as its own process (see :mod:`rtgen.rt.shared` for why).

    python -m rtgen.timbre.workerproc DESCRIPTION_JSON MODEL_PATH

Maps the engine's voice array, frame ring, parameters and counters from shared memory,
loads the model, prints ``ready`` and computes frames a hop ahead until its standard
input closes (the engine closes it to stop it; it also closes if the engine dies). The
mapping lives as long as the process.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from ..rt.shared import attach
    from .onnx import NeuralSlots, OnnxTimbre, TimbreWorker

    _shm, v = attach(args[0])
    timbre = OnnxTimbre(args[1] if len(args) > 1 and args[1] else None)
    slots = NeuralSlots.wrap(v["nf_tab"], v["nf_amp"], v["nf_noise"], v["nf_id"], v["nf_hop"],
                              v.get("nf_cents"))
    worker = TimbreWorker(timbre, v["vf"], slots, v["p"], v["st"])
    worker.warm()                          # loads the compiled passes before the stream needs them
    worker.catch_up()
    print("ready", flush=True)
    worker.start()
    sys.stdin.read()                       # until the engine closes the pipe (or dies)
    worker.stop()
    print(f"frames {worker.frames} hops {worker.hops} skipped {worker.skipped_hops} "
          f"worst_ms {1000 * worker.worst_seconds:.2f}", flush=True)
    return 0 if worker.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
