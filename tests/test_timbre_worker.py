"""The timbre worker against fake engine arrays (real onnxruntime, the packaged model)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rtgen.rt.layout import (
    N_NOISE_BANDS,
    NP,
    NS,
    NVF,
    P_HOP,
    P_SR,
    S_SAMPLE,
    TS,
    VF_AGE,
    VF_BEND,
    VF_INSTR,
    VF_NOTE,
    VF_NOTE_ID,
    VF_REL_AGE,
    VF_STATE,
    VF_VEL,
    VS_FREE,
    VS_ON,
    VS_RELEASED,
)
from rtgen.timbre.base import midi_to_hz
from rtgen.timbre.onnx import NeuralSlots, OnnxTimbre, TimbreWorker

N_VOICES = 16
HOP = 256
SR = 48000


@pytest.fixture(scope="module")
def timbre() -> OnnxTimbre:
    return OnnxTimbre()


def _engine() -> tuple[np.ndarray, NeuralSlots, np.ndarray, np.ndarray]:
    vf = np.zeros((N_VOICES, NVF))
    p = np.zeros(NP)
    p[P_SR] = SR
    p[P_HOP] = HOP
    st = np.zeros(NS, np.int64)
    return vf, NeuralSlots.allocate(N_VOICES), p, st


def _voice(vf: np.ndarray, v: int, note: float, vel: float, instr: int, note_id: int, age: int = 0,
           released: bool = False) -> None:
    vf[v, VF_STATE] = VS_RELEASED if released else VS_ON
    vf[v, VF_NOTE] = note
    vf[v, VF_VEL] = vel
    vf[v, VF_INSTR] = instr
    vf[v, VF_NOTE_ID] = note_id
    vf[v, VF_AGE] = age
    vf[v, VF_REL_AGE] = 100 if released else 0
    vf[v, VF_BEND] = 0.0


def test_slots_shapes() -> None:
    s = NeuralSlots.allocate(8)
    assert s.depth == 2
    assert s.tab.shape == (2, 8, TS + 1) and s.tab.dtype == np.float32
    assert s.amp.shape == (2, 8) and s.amp.dtype == np.float64
    assert s.noise.shape == (2, 8, N_NOISE_BANDS) and s.noise.dtype == np.float64
    assert s.note_id.shape == (2, 8) and s.note_id.dtype == np.int64
    assert s.hop.shape == (2, 8) and s.hop.dtype == np.int64 and (s.hop == -1).all()


def test_process_hop_publishes_frames_for_sounding_voices(timbre: OnnxTimbre) -> None:
    vf, slots, p, st = _engine()
    _voice(vf, 0, 60, 100, 0, note_id=11)
    _voice(vf, 3, 72, 64, 7, note_id=12, age=5000)
    _voice(vf, 9, 100, 90, 3, note_id=13, age=20000, released=True)
    w = TimbreWorker(timbre, vf, slots, p, st)
    st[S_SAMPLE] = 10 * HOP + 17
    target = 11
    assert w.process_hop(target) == 3
    s = target % 2
    for v, nid in ((0, 11), (3, 12), (9, 13)):
        assert slots.hop[s, v] == target and slots.note_id[s, v] == nid
        assert np.isfinite(slots.tab[s, v]).all() and slots.tab[s, v, TS] == slots.tab[s, v, 0]
        assert slots.amp[s, v] > 0 and np.isfinite(slots.noise[s, v]).all()
        assert np.abs(slots.tab[s, v]).max() == pytest.approx(1.0, abs=1e-5)
    free = [v for v in range(N_VOICES) if v not in (0, 3, 9)]
    assert (slots.hop[:, free] == -1).all()
    assert (slots.hop[1 - s] == -1).all()          # the other parity slot is untouched
    # band-limited for the voice's pitch (note 100: ~2.6 kHz, 9 harmonics below 24 kHz)
    spec = np.abs(np.fft.rfft(slots.tab[s, 9, :TS].astype(np.float64)))
    k = np.arange(spec.size)
    assert spec[k * midi_to_hz(100) >= SR / 2].max() < 1e-3 * spec.max()


def test_state_follows_note_ids(timbre: OnnxTimbre) -> None:
    vf, slots, p, st = _engine()
    _voice(vf, 2, 64, 100, 1, note_id=5)
    w = TimbreWorker(timbre, vf, slots, p, st)
    for h in range(1, 6):
        st[S_SAMPLE] = (h - 1) * HOP
        vf[2, VF_AGE] = (h - 1) * HOP
        w.process_hop(h)
    assert np.abs(w.state[2]).sum() > 0
    # the voice is stolen by a new note: a fresh state, the frame carries the new id
    _voice(vf, 2, 40, 50, 2, note_id=6)
    fresh = TimbreWorker(timbre, vf, NeuralSlots.allocate(N_VOICES), p, st)
    st[S_SAMPLE] = 5 * HOP
    w.process_hop(6)
    fresh.process_hop(6)
    assert slots.note_id[0, 2] == 6 and slots.hop[0, 2] == 6
    np.testing.assert_allclose(w.state[2], fresh.state[2], atol=1e-6)
    np.testing.assert_allclose(slots.tab[0, 2], fresh.slots.tab[0, 2], atol=1e-5)


@pytest.mark.parametrize("depth,block_hops", [(1, 1), (2, 1), (3, 2)])
def test_worker_thread_keeps_ahead_of_the_engine(timbre: OnnxTimbre, depth: int, block_hops: int) -> None:
    """Simulate an engine rendering blocks of ``block_hops`` hops (at half real-time speed, so a
    loaded test machine measures the mechanism, not its speed: the benchmark measures speed).
    At each hop boundary the kernel would read slot h % depth: every frame found there must be
    for that hop and note, and the bulk must be there in time."""
    vf, _, p, st = _engine()
    if depth == 1:      # the engine's plain [V, ...] arrays, wrapped without copies
        raw = NeuralSlots.allocate(N_VOICES, depth=1)
        slots = NeuralSlots.wrap(raw.tab[0], raw.amp[0], raw.noise[0], raw.note_id[0], raw.hop[0])
        assert np.shares_memory(slots.tab, raw.tab)
    else:
        slots = NeuralSlots.allocate(N_VOICES, depth=depth)
    for v in range(8):
        _voice(vf, v, 48 + 3 * v, 60 + 5 * v, v % 8, note_id=100 + v)
    w = TimbreWorker(timbre, vf, slots, p, st)
    w.start()
    period = 2.0 * block_hops * HOP / SR
    try:
        n_blocks = 40
        late = 0
        checked = 0
        t_start = time.perf_counter()
        for blk in range(n_blocks):
            while time.perf_counter() - t_start < (blk + 1) * period:
                time.sleep(0.0002)
            # "render" one block: meet each hop boundary in it, then advance S_SAMPLE
            for h in range(blk * block_hops, (blk + 1) * block_hops):
                s = h % depth
                for v in range(8):
                    if slots.hop[s, v] == h:
                        assert slots.note_id[s, v] == 100 + v
                        assert slots.tab[s, v, TS] == slots.tab[s, v, 0]
                        checked += 1
                    else:
                        assert slots.hop[s, v] < h      # never a frame of a later hop in a slot not yet read
                        late += 1
            st[S_SAMPLE] = (blk + 1) * block_hops * HOP
            vf[:8, VF_AGE] = st[S_SAMPLE]
        assert w.error is None
    finally:
        w.stop()
    assert not w.is_alive()
    assert w.hops > 0 and w.frames > 0
    assert checked >= 0.6 * (checked + late), f"{late} late frames of {checked + late}"


def test_due_hops_never_overwrite_an_unread_slot(timbre: OnnxTimbre) -> None:
    vf, _, p, st = _engine()
    _voice(vf, 0, 60, 100, 0, note_id=1)
    for depth in (1, 2, 4):
        w = TimbreWorker(timbre, vf, NeuralSlots.allocate(N_VOICES, depth=depth), p, st)
        st[S_SAMPLE] = 0
        assert w.due() == (0, depth - 1)
        assert w.catch_up() == depth
        assert w.catch_up() == 0                       # nothing new until the engine renders
        st[S_SAMPLE] = 5 * HOP                         # block ended exactly on a boundary: hop 5 unread
        first, last = w.due()
        assert first == max(5, depth) and last == 4 + depth
        w.catch_up()
        st[S_SAMPLE] = 5 * HOP + 64                    # hop 5's frame consumed: its slot may be reused
        assert w.due()[1] == 5 + depth
    # a voice reused while the worker was away: the new note's frame, never the old one
    _voice(vf, 0, 62, 90, 1, note_id=2)
    w.catch_up()
    assert w.slots.note_id[w.last_hop % w.slots.depth, 0] == 2


def test_catch_up_offline_matches_one_hop_at_a_time(timbre: OnnxTimbre) -> None:
    vf, a, p, st = _engine()
    _voice(vf, 0, 57, 80, 5, note_id=1)
    w1 = TimbreWorker(timbre, vf, a, p, st)
    for h in range(4):
        w1.process_hop(h)
    w2 = TimbreWorker(timbre, vf, NeuralSlots.allocate(N_VOICES, depth=4), p, st)
    st[S_SAMPLE] = 0
    w2.catch_up()                                      # hops 0..3 in one go
    np.testing.assert_allclose(w1.state, w2.state, atol=1e-6)
    assert w2.slots.hop[3, 0] == 3


def test_free_voices_are_ignored(timbre: OnnxTimbre) -> None:
    vf, slots, p, st = _engine()
    vf[:, VF_STATE] = VS_FREE
    w = TimbreWorker(timbre, vf, slots, p, st)
    assert w.process_hop(1) == 0
    assert (slots.hop == -1).all()


def test_worker_frames_match_get_controls(timbre: OnnxTimbre) -> None:
    """The worker's compiled path computes exactly what get_controls + controls_to_tables give."""
    from rtgen.timbre.base import VoiceFeatures, controls_to_tables

    vf, slots, p, st = _engine()
    notes = [40.0, 60.0, 80.0, 100.0]
    for v, note in enumerate(notes):
        _voice(vf, v, note, 50 + 20 * v, v * 2, note_id=v, age=1000, released=(v == 3))
    vf[1, VF_INSTR] = 2.5           # between two instruments: embeddings interpolate
    w = TimbreWorker(timbre, vf, slots, p, st)
    w.process_hop(0)
    n = len(notes)
    rel = (vf[:n, VF_STATE] == VS_RELEASED).astype(float)

    def controls(j: int, state: np.ndarray | None):   # the features of hop j, as the worker forms them
        t_on = (vf[:n, VF_AGE] + (j + 1) * HOP) / SR
        t_rel = rel * np.maximum(vf[:n, VF_REL_AGE] + (j + 1) * HOP, 0) / SR
        return timbre.get_controls(VoiceFeatures(midi_to_hz(vf[:n, VF_NOTE]), vf[:n, VF_VEL], t_on, rel, t_rel,
                                                 vf[:n, VF_INSTR]), state)

    # the notes sounded 1000 samples before hop 0: the worker first runs the model over those
    # ceil(1000 / HOP) hops (state only), as a note's sequence starts at its note-on in training
    state = None
    for j in range(-int(np.ceil(1000 / HOP)), 0):
        state = controls(j, state).state
    c = controls(0, state)
    tabs, gain = controls_to_tables(c.harmonics)
    np.testing.assert_allclose(slots.tab[0, :n], tabs, atol=2e-5)
    np.testing.assert_allclose(slots.amp[0, :n], gain, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(slots.noise[0, :n], c.noise, rtol=1e-6)
    np.testing.assert_allclose(w.state[:n], c.state, atol=1e-6)
