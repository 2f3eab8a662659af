"""Engine state fields in shared memory, so a worker *process* can read and write them.

Python work that must keep pace with the audio (the neural timbre's model, pyo effects)
cannot run in the compiled callback, and in a thread of the host process it competes for
the GIL with the host's own threads (a game loop, a UI): each time it releases the GIL
around a native call it waits a whole switch interval to get it back. A worker process
has a GIL of its own. :func:`share_fields` moves chosen state arrays into one shared
segment (before a live stream builds its address table); the worker maps the same
fields with :func:`attach`.
"""

from __future__ import annotations

import json
from multiprocessing import resource_tracker, shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..protocol import EngineLike

ALIGN = 64


def _layout(arrays: dict[str, np.ndarray]) -> tuple[list[list[Any]], int]:
    fields: list[list[Any]] = []
    off = 0
    for name, a in arrays.items():
        off = -(-off // ALIGN) * ALIGN
        fields.append([name, a.dtype.str, list(a.shape), off])
        off += a.nbytes
    return fields, max(off, 1)


def share_fields(engine: EngineLike, names: tuple[str, ...]) -> tuple[shared_memory.SharedMemory, str]:
    """Copy ``engine.state``'s fields ``names`` into a new shared segment and point the state at it.

    Returns the segment (the caller unlinks it when done) and a JSON description for
    :func:`attach`. Must run while the engine is not live.
    """
    if engine.is_live:
        raise RuntimeError("share_fields() must run before the live stream starts")
    s = engine.state
    arrays = {n: getattr(s, n) for n in names}
    fields, size = _layout(arrays)
    shm = shared_memory.SharedMemory(create=True, size=size)
    views = _views(shm, fields)
    for n, a in arrays.items():
        views[n][...] = a
    engine.state = s._replace(**views)
    return shm, json.dumps({"shm": shm.name, "fields": fields})


def _views(shm: shared_memory.SharedMemory, fields: list[list[Any]]) -> dict[str, np.ndarray]:
    return {name: np.ndarray(tuple(shape), dtype=np.dtype(dt), buffer=shm.buf, offset=off)
            for name, dt, shape, off in fields}


def attach(desc: str) -> tuple[shared_memory.SharedMemory, dict[str, np.ndarray]]:
    """In the worker process: map the fields a :func:`share_fields` description names."""
    d = json.loads(desc)
    shm = shared_memory.SharedMemory(name=d["shm"])
    # the creating process owns the segment; do not let this process's tracker unlink it at exit
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - only a tracker bookkeeping detail
        pass
    return shm, _views(shm, d["fields"])
