"""Drive a generator kernel (or its pure-Python reference) chunk by chunk, as the engine does."""

from __future__ import annotations

import numpy as np

from rtgen.gen.base import Sequencer
from rtgen.gen.dispatch import gen_process
from rtgen.rt.harmony import make_harmony
from rtgen.rt.layout import CHUNK, EV_CAP, EVW, GEN_NB, GEN_NF, GEN_NI, NP, P_BEAT, P_BPM, P_SR, P_SWING


def make_p(sr: float = 48000.0, bpm: float = 120.0, swing: float = 0.0) -> np.ndarray:
    p = np.zeros(NP, np.float64)
    p[P_SR] = sr
    p[P_BPM] = bpm
    p[P_SWING] = swing
    p[P_BEAT] = 0.0
    return p


def make_slot(seq: Sequencer, seed: int = 1, slot: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gi = np.zeros(GEN_NI, np.int64)
    gf = np.zeros(GEN_NF, np.float64)
    gbuf = np.zeros(GEN_NB, np.int32)
    seq.pack(gi, gf, gbuf, seed, slot)
    return gi, gf, gbuf


def run_kernel(seq: Sequencer, chunks: int, seed: int = 1, slot: int = 0, bpm: float = 120.0,
               sr: float = 48000.0, swing: float = 0.0, harm: np.ndarray | None = None,
               slot_arrays: tuple | None = None, on_chunk=None) -> np.ndarray:
    """Events (rows of EVW floats) of ``chunks`` chunks of the compiled kernel."""
    gi, gf, gbuf = slot_arrays if slot_arrays is not None else make_slot(seq, seed, slot)
    p = make_p(sr, bpm, swing)
    h = make_harmony() if harm is None else harm
    ev = np.zeros((EV_CAP, EVW), np.float64)
    out = []
    t0 = 0
    for c in range(chunks):
        if on_chunk is not None:
            on_chunk(c, gi, gf, gbuf, p, h)
        nev = gen_process(int(gi[0]), gi, gf, gbuf, p, h, t0, CHUNK, ev, 0)
        # the dispatch contract: every event starts inside the chunk that wrote it
        assert np.all((ev[:nev, 0] >= t0) & (ev[:nev, 0] < t0 + CHUNK)), "event outside its chunk"
        if nev:
            out.append(ev[:nev].copy())
        t0 += CHUNK
        p[P_BEAT] += CHUNK * p[P_BPM] / (60.0 * p[P_SR])
    return np.concatenate(out) if out else np.zeros((0, EVW))


def run_reference(seq: Sequencer, chunks: int, seed: int = 1, slot: int = 0, bpm: float = 120.0,
                  sr: float = 48000.0, swing: float = 0.0, harm: np.ndarray | None = None) -> np.ndarray:
    """The same with the pure-Python reference (rtgen.gen.reference)."""
    from rtgen.gen.registry import make_reference

    ref = make_reference(seq, seed, slot)
    p = make_p(sr, bpm, swing)
    h = make_harmony() if harm is None else harm
    out: list[list[float]] = []
    t0 = 0
    for _ in range(chunks):
        out += ref.process(p, h, t0, CHUNK)
        t0 += CHUNK
        p[P_BEAT] += CHUNK * p[P_BPM] / (60.0 * p[P_SR])
    return np.array(out, np.float64).reshape(-1, EVW)
