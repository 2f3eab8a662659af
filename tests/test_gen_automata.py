"""Cellular automata: known answers, all 256 elementary rules, Life, cyclic, live controls."""

from __future__ import annotations

import numpy as np
import pytest
from gen_harness import make_slot, run_kernel, run_reference

from rtgen.errors import ConfigError
from rtgen.gen import automata as A
from rtgen.gen import reference as R
from rtgen.rt.layout import GEN_NB

# OEIS A051023: central column of rule 30 started from a single cell
RULE30_CENTRE = [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1]


def _kernel_rows(row: list[int], rule: int, wrap: bool, gens: int) -> list[list[int]]:
    w = len(row)
    gbuf = np.zeros(GEN_NB, np.int32)
    gbuf[:w] = row
    out = [list(row)]
    for _ in range(gens):
        A.ca1d_step(gbuf, 0, 1024, w, rule, int(wrap))
        gbuf[:w] = gbuf[1024:1024 + w]
        out.append([int(x) for x in gbuf[:w]])
    return out


def test_rule30_centre_column():
    w = 81
    row = [0] * w
    row[w // 2] = 1
    centre = [r[w // 2] for r in _kernel_rows(row, 30, False, 19)]
    assert centre == RULE30_CENTRE
    ref, rows = list(row), []
    for _ in range(20):
        rows.append(ref[w // 2])
        ref = R.elementary_step(ref, 30, False)
    assert rows == RULE30_CENTRE


def test_all_256_rules_kernel_equals_reference():
    rng = np.random.default_rng(3)
    row = [int(x) for x in rng.integers(0, 2, 37)]
    for rule in range(256):
        for wrap in (False, True):
            ref = [row]
            for _ in range(6):
                ref.append(R.elementary_step(ref[-1], rule, wrap))
            assert _kernel_rows(row, rule, wrap, 6) == ref, (rule, wrap)


def test_rule90_is_pascal_mod_2():
    w = 41
    row = [0] * w
    row[20] = 1
    rows = _kernel_rows(row, 90, False, 8)
    from math import comb
    for g, r in enumerate(rows):
        want = [0] * w
        for j in range(g + 1):
            want[20 - g + 2 * j] = comb(g, j) % 2
        assert r == want


def _life_kernel(grid: np.ndarray, gens: int, rule: str = "B3/S23", wrap: bool = True) -> np.ndarray:
    h, w = grid.shape
    b, s = A.parse_life_rule(rule)
    gbuf = np.zeros(GEN_NB, np.int32)
    gbuf[:h * w] = grid.ravel()
    for _ in range(gens):
        A.life_step(gbuf, A.LIFE_A, A.LIFE_B, h, w, b, s, int(wrap))
        gbuf[:h * w] = gbuf[A.LIFE_B:A.LIFE_B + h * w]
    return A.grid_array(gbuf, h, w)


def test_glider_period_4_shift_1_1():
    g = np.zeros((10, 10), np.int32)
    g[1:4, 1:4] = [[0, 1, 0], [0, 0, 1], [1, 1, 1]]
    for gens in (1, 2, 3):
        assert not np.array_equal(_life_kernel(g, gens), np.roll(g, (1, 1), axis=(0, 1)))
    assert np.array_equal(_life_kernel(g, 4), np.roll(g, (1, 1), axis=(0, 1)))
    assert np.array_equal(_life_kernel(g, 40), np.roll(g, (10, 10), axis=(0, 1)))    # wraps home
    ref = g.tolist()
    for _ in range(4):
        ref = R.life_generation(ref, {3}, {2, 3}, True)
    assert np.array_equal(np.array(ref), np.roll(g, (1, 1), axis=(0, 1)))


def test_blinker_and_block_and_highlife():
    g = np.zeros((7, 7), np.int32)
    g[3, 2:5] = 1
    assert np.array_equal(_life_kernel(g, 1, wrap=False).T, g) and np.array_equal(_life_kernel(g, 2), g)
    blk = np.zeros((6, 6), np.int32)
    blk[2:4, 2:4] = 1
    assert np.array_equal(_life_kernel(blk, 5, wrap=False), blk)
    rng = np.random.default_rng(0)
    for rule in ("B36/S23", "B2/S", "S23/B3", "b3/s012345678"):
        grid = rng.integers(0, 2, (9, 11)).astype(np.int32)
        b, s = A.parse_life_rule(rule)
        ref = grid.tolist()
        for _ in range(3):
            births = {i for i in range(9) if b >> i & 1}
            survives = {i for i in range(9) if s >> i & 1}
            ref = R.life_generation(ref, births, survives, False)
        assert np.array_equal(_life_kernel(grid, 3, rule, wrap=False), np.array(ref))


def test_life_rule_parser():
    assert A.parse_life_rule("B3/S23") == (1 << 3, (1 << 2) | (1 << 3))
    assert A.parse_life_rule("s23/b36") == ((1 << 3) | (1 << 6), (1 << 2) | (1 << 3))
    for bad in ("B3S23", "B9/S23", "X3/S23", "B3/B3", "B3/S2/S3", "", "B3/S2a"):
        with pytest.raises(ConfigError):
            A.parse_life_rule(bad)
    with pytest.raises(ConfigError):
        A.Life(rule="B3/S99")


def test_cyclic_kernel_equals_reference_and_advances():
    rng = np.random.default_rng(1)
    h, w, k = 12, 15, 6
    grid = rng.integers(0, k, (h, w)).astype(np.int32)
    for thr, moore in ((1, 0), (2, 1), (3, 1)):
        gbuf = np.zeros(GEN_NB, np.int32)
        gbuf[A.CY_A:A.CY_A + h * w] = grid.ravel()
        ref = grid.tolist()
        for _ in range(5):
            A.cyclic_step(gbuf, A.CY_A, A.CY_B, h, w, k, thr, moore)
            gbuf[A.CY_A:A.CY_A + h * w] = gbuf[A.CY_B:A.CY_B + h * w]
            ref = R.cyclic_generation(ref, k, thr, bool(moore))
        assert np.array_equal(A.grid_array(gbuf, h, w, A.CY_A), np.array(ref))
    # every cell only ever steps to its successor state
    nxt = np.array(R.cyclic_generation(grid.tolist(), k, 1, False))
    assert np.all((nxt == grid) | (nxt == (grid + 1) % k))


@pytest.mark.parametrize("seq", [
    A.CA1D(rule=30, width=64, window=12, max_notes=3),
    A.CA1D(rule=110, width=40, seed="random", fill=0.4, mutation=0.3, wrap=False, density=0.8, humanize=0.4),
    A.CA1D(rule=90, width=33, seed="x.x..xx", offset=30, window=10, degree_step=2, steps_per_beat=3),
    A.Life(rule="B3/S23", height=12, width=12, fill=0.35, max_cells=2, mutation=0.1),
    A.Life(rule="B36/S23", height=9, width=14, seed=A.GLIDER, wrap=False, snap=False, cyclic_states=3,
           instruments=[2, 4, 6], density=0.6),
    A.Cyclic(states=6, threshold=1, height=10, width=10, voices=5, mutation=0.2),
    A.Cyclic(states=4, threshold=2, moore=True, target="layer", mapping=[2, 5, 6, 7], voices=3),
], ids=["ca30", "ca110", "ca90", "life", "highlife_cyc", "cyclic", "cyclic_layer"])
def test_kernel_equals_reference(seq):
    a = run_kernel(seq, 2500, seed=9, swing=0.15, slot=2)
    b = run_reference(seq, 2500, seed=9, swing=0.15, slot=2)
    assert len(a) > 5
    assert a.shape == b.shape and np.array_equal(a, b)


def test_camus_triads_and_cyclic_orchestration():
    seq = A.Life(seed=["O"], height=5, width=5, snap=False, cyclic_states=2, instruments=[7, 9],
                 rule="B/S012345678")
    ev = run_kernel(seq, 100)
    # one live cell at (x=2, y=2): fundamental 48 (degree -7 of C major), +3 and +3 semitones
    assert [int(n) for n in ev[:3, 1]] == [48, 51, 54]
    assert set(ev[:3, 5].astype(int)) <= {7, 9}


def test_live_rule_change_and_reseed():
    seq = A.CA1D(rule=30, width=31, window=31, max_notes=31)
    gi, gf, gbuf = make_slot(seq)

    def ctl(c, gi, gf, gbuf, p, h):
        if c == 300:
            gi[A.C1_RULE] = 4          # rule 4: a cell survives only when alone -> the row freezes
        if c == 600:
            gi[A.C1_RESEED] += 1       # back to the single seed cell

    run_kernel(seq, 900, slot_arrays=(gi, gf, gbuf), on_chunk=ctl)
    row = [int(x) for x in gbuf[:31]]
    assert sum(row) == 1 and row[15] == 1          # reseeded at chunk 600, then rule 4 keeps it
    assert gi[A.C1_GEN] < 10


def test_bad_parameters():
    with pytest.raises(ConfigError):
        A.CA1D(rule=256)
    with pytest.raises(ConfigError):
        A.CA1D(width=2000)
    with pytest.raises(ConfigError):
        A.CA1D(seed="x?x")
    with pytest.raises(ConfigError):
        A.Cyclic(states=1)
    with pytest.raises(ConfigError):
        A.Cyclic(target="pan")
