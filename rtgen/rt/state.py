"""The engine's state: one namedtuple of preallocated numpy arrays.

The same bundle is passed to the compiled kernel by the offline renderer (as Python
objects) and rebuilt from raw addresses inside the live ``@cfunc`` callback (see
:func:`address_table`), so both paths run the exact same code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .layout import (
    CHUNK,
    CMD_CAP,
    CMDW,
    EV_CAP,
    EVW,
    FX_CAP,
    FXL_W,
    GEN_NB,
    GEN_NF,
    GEN_NI,
    N_CMD_RINGS,
    N_FX_BUS,
    N_GEN,
    N_INSTR,
    N_LAYERS,
    N_NOISE_BANDS,
    N_NOTES,
    NF_DEPTH,
    NFXI,
    NH,
    NIP,
    NLF,
    NP,
    NS,
    NVF,
    OUT_CAP,
    OUTW,
    PQ_CAP,
    TS,
)

PQW = 10  # pending-queue row: [time, kind, a, b, c, d, e, f, seq, 0]

# (name, dtype, shape-function of the voice count)
FIELDS: tuple[tuple[str, Any, Any], ...] = (
    ("p", np.float64, lambda v: (NP,)),
    ("st", np.int64, lambda v: (NS,)),
    ("harm", np.float64, lambda v: (NH,)),
    ("cmd", np.float64, lambda v: (N_CMD_RINGS, CMD_CAP, CMDW)),
    ("cmd_idx", np.int64, lambda v: (N_CMD_RINGS, 16)),      # [r, 0] head (producer), [r, 8] tail
    ("out", np.float64, lambda v: (OUT_CAP, OUTW)),
    ("out_idx", np.int64, lambda v: (16,)),                 # [0] head (engine), [8] tail (reader)
    ("vf", np.float64, lambda v: (v, NVF)),
    ("vtab", np.float32, lambda v: (v, 2, TS + 1)),
    ("lf", np.float64, lambda v: (N_LAYERS, NLF)),
    ("gi", np.int64, lambda v: (N_GEN, GEN_NI)),
    ("gf", np.float64, lambda v: (N_GEN, GEN_NF)),
    ("gbuf", np.int32, lambda v: (N_GEN, GEN_NB)),
    ("ev", np.float64, lambda v: (EV_CAP, EVW)),
    ("pq", np.float64, lambda v: (PQ_CAP, PQW)),
    ("itab", np.float32, lambda v: (N_INSTR, N_NOTES, TS + 1)),
    ("iparam", np.float64, lambda v: (N_INSTR, NIP)),
    ("nf_tab", np.float32, lambda v: (NF_DEPTH, v, TS + 1)),    # neural frames (timbre worker)
    ("nf_amp", np.float64, lambda v: (NF_DEPTH, v)),
    ("nf_noise", np.float64, lambda v: (NF_DEPTH, v, N_NOISE_BANDS)),
    ("nf_id", np.int64, lambda v: (NF_DEPTH, v)),
    ("nf_hop", np.int64, lambda v: (NF_DEPTH, v)),
    ("vnb", np.float64, lambda v: (v, N_NOISE_BANDS)),          # per-voice noise band gains
    ("nz", np.float64, lambda v: (N_LAYERS, N_NOISE_BANDS, 4)),   # SVF states + previous gain
    ("nzc", np.float64, lambda v: (N_NOISE_BANDS, 4)),           # SVF coefficients (f, q, 0, 0)
    ("lbuf", np.float64, lambda v: (N_LAYERS, 2, CHUNK)),         # per-layer mix scratch (planar)
    ("tb", np.int64, lambda v: (4,)),                             # clock_gettime scratch
    ("fxs", np.float32, lambda v: (FX_CAP, 2)),                   # effects send ring (dry)
    ("fxr", np.float32, lambda v: (FX_CAP, 2)),                   # effects return ring (wet)
    ("fxi", np.int64, lambda v: (NFXI,)),                           # effects ring indices (FXI_*)
    ("fxa", np.float32, lambda v: (N_FX_BUS, FX_CAP, 2)),         # per-layer aux send rings
    ("fxl", np.float64, lambda v: (N_LAYERS, FXL_W)),             # per-layer send amounts (FXL_*)
    ("mbuf", np.float64, lambda v: (CHUNK, 2)),                   # master mix scratch
    ("lrng", np.int64, lambda v: (N_LAYERS,)),                    # per-layer noise generator states
    ("vscr", np.float32, lambda v: (3, CHUNK)),                   # one voice's samples, gains, crossfade
    # per (instrument, note) frequency override in Hz, 0 = equal temperament from the note
    # number (filled at timbre load; the drum kit's keys sound at their recordings' pitch)
    ("inote_hz", np.float64, lambda v: (N_INSTR, N_NOTES)),
    ("nf_cents", np.float64, lambda v: (NF_DEPTH, v)),           # neural frames: pitch deviation, cents
)



class EngineState(NamedTuple):
    """Every array of the engine, in the order of ``FIELDS`` (shapes and dtypes there)."""

    p: np.ndarray
    st: np.ndarray
    harm: np.ndarray
    cmd: np.ndarray
    cmd_idx: np.ndarray
    out: np.ndarray
    out_idx: np.ndarray
    vf: np.ndarray
    vtab: np.ndarray
    lf: np.ndarray
    gi: np.ndarray
    gf: np.ndarray
    gbuf: np.ndarray
    ev: np.ndarray
    pq: np.ndarray
    itab: np.ndarray
    iparam: np.ndarray
    nf_tab: np.ndarray
    nf_amp: np.ndarray
    nf_noise: np.ndarray
    nf_id: np.ndarray
    nf_hop: np.ndarray
    vnb: np.ndarray
    nz: np.ndarray
    nzc: np.ndarray
    lbuf: np.ndarray
    tb: np.ndarray
    fxs: np.ndarray
    fxr: np.ndarray
    fxi: np.ndarray
    fxa: np.ndarray
    fxl: np.ndarray
    mbuf: np.ndarray
    lrng: np.ndarray
    vscr: np.ndarray
    inote_hz: np.ndarray
    nf_cents: np.ndarray


if EngineState._fields != tuple(f[0] for f in FIELDS):
    raise RuntimeError("EngineState fields and FIELDS disagree")


def allocate(voices: int) -> EngineState:
    """Allocate a zeroed state for ``voices`` voices (C-contiguous, aligned)."""
    arrays: list[np.ndarray] = [np.zeros(shape(voices), dtype=dt) for _, dt, shape in FIELDS]
    return EngineState(*arrays)


TABLE_WORDS = 4  # per field: address, dim0, dim1, dim2


def address_table(s: EngineState) -> np.ndarray:
    """An int64 table of every array's address and shape, for the live ``@cfunc``.

    The table is only valid while ``s`` is alive: the caller keeps both referenced.
    """
    tbl = np.zeros(len(FIELDS) * TABLE_WORDS, np.int64)
    for i, arr in enumerate(s):
        if not arr.flags.c_contiguous:
            raise ValueError(f"state array {FIELDS[i][0]} is not C-contiguous")
        tbl[i * TABLE_WORDS] = arr.ctypes.data
        for d, n in enumerate(arr.shape):
            tbl[i * TABLE_WORDS + 1 + d] = n
    return tbl
