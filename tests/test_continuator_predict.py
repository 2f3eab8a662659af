"""The Continuator's predictive model: PPM-C by hand, distributions, information content, bad input, files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from rtgen.errors import ConfigError
from rtgen.gen.continuator import ContinuatorConfig, ContinuatorModel, Item, circles, cycle_runs


def _pitch_model(order: int) -> ContinuatorModel:
    return ContinuatorModel(ContinuatorConfig(orders=(order, 1, 1), viewpoints=(True, False, False),
                                              use_stm=False))


def test_ppm_c_blending_matches_a_hand_computation():
    m = _pitch_model(1)
    m.learn_melody([60, 61, 60, 61, 60, 62])
    u = 1.0 / 128
    c0 = np.zeros(128)
    c0[[60, 61, 62]] = [3, 2, 1]                  # order 0: T = 6, 3 distinct symbols
    p0 = (c0 + 3 * u) / (6 + 3)
    c1 = np.zeros(128)
    c1[[61, 62]] = [2, 1]                         # after 60: 61 twice, 62 once (T = 3, q = 2)
    p1 = (c1 + 2 * p0) / (3 + 2)
    got = m.predict([60])
    assert np.allclose(got, p1, rtol=1e-9, atol=1e-15)
    assert got[61] == pytest.approx((2 + 2 * (2 + 3 * u) / 9) / 5)
    assert np.allclose(_pitch_model(0).predict([]), np.full(128, u))


def test_an_unseen_context_blends_down_to_order_zero():
    m = _pitch_model(1)
    m.learn_melody([60, 61, 60, 61, 60, 62])
    c0 = np.zeros(128)
    c0[[60, 61, 62]] = [3, 2, 1]
    p0 = (c0 + 3 / 128) / 9
    assert np.allclose(m.predict([70]), p0)      # 70 never seen: order 1 has no counts


@pytest.mark.parametrize("cfg", [ContinuatorConfig(), ContinuatorConfig(combine="geometric"),
                                 ContinuatorConfig(transpose=False)])
def test_predictions_are_strictly_positive_and_sum_to_one(cfg):
    m = ContinuatorModel(cfg)
    rng = np.random.default_rng(0)
    for _ in range(20):
        m.learn_melody(rng.integers(55, 80, 30), rng.uniform(0.2, 1.0, 30), key=int(rng.integers(12)))
    for ctx in ([], [60], [127, 0, 127], list(rng.integers(0, 128, 40))):
        p = m.predict(ctx)
        assert p.shape == (128,) and np.all(p > 0) and abs(p.sum() - 1.0) < 1e-9


def test_information_content_falls_towards_zero_on_a_deterministic_sequence():
    tune = [60, 62, 64, 65, 67, 65, 64, 62]

    def ic_after(reps: int) -> float:
        m = ContinuatorModel(ContinuatorConfig())
        for _ in range(reps):
            m.learn_melody(tune, key=0)
        return float(np.mean([-np.log2(m.predict(tune[:t], key=0)[tune[t]]) for t in range(1, len(tune))]))

    few, many = ic_after(2), ic_after(40)
    assert many < few
    assert many < 0.15                             # (T + q) / T with T ~ 40: a few hundredths of a bit
    rnd = -np.log2(1 / 128)
    assert few < rnd


def test_the_model_beats_a_uniform_guess_on_unseen_real_melodies():
    pytest.importorskip("music21")
    from tests.midi_harness import corpus_melody
    m = ContinuatorModel(ContinuatorConfig())
    for key in ("bach1", "bach26", "essen_altdeu", "essen_ballad"):
        m.learn_melody([p for p, _ in corpus_melody(key)])
    test = [p for p, _ in corpus_melody("bach66")]
    ic = np.mean([-np.log2(m.predict(test[:t])[test[t]]) for t in range(len(test))])
    assert ic < 4.0                                # uniform over 128 pitches: 7 bits


@pytest.mark.parametrize("pitches,durs,what", [
    ([], None, "empty"),
    ([60, 128], None, "0..127"),
    ([60, -1], None, "0..127"),
    ([60.5], None, "0..127"),
    ([60, float("nan")], None, "0..127"),
    ([60, 62], [0.5, float("nan")], "NaN"),
    ([60, 62], [0.5], "durations"),
    (["a"], None, "numbers"),
])
def test_learn_melody_rejects_bad_input_with_a_clear_error(pitches, durs, what):
    m = ContinuatorModel()
    with pytest.raises(ConfigError, match=what):
        m.learn_melody(pitches, durs)
    assert m.n == 0


def test_predict_rejects_pitches_out_of_range_and_bad_durations():
    with pytest.raises(ConfigError):
        ContinuatorModel().predict([60, 200])
    with pytest.raises(ConfigError, match="len"):
        ContinuatorModel().predict([60, 62], durations=[1.0, 1.0])
    with pytest.raises(ConfigError):
        ContinuatorModel().predict([60, 62], durations=[1.0, float("nan"), 1.0])


def test_a_known_rhythm_sharpens_the_prediction():
    # a tune whose rhythm tells where the leaps are: long notes come after a leap up a 5th
    m = ContinuatorModel(ContinuatorConfig())
    for k in range(20):
        p0 = 55 + (k % 5)
        m.learn_melody([p0, p0 + 2, p0 + 4, p0 + 11, p0 + 9, p0 + 7], [1, 1, 1, 2, 1, 1])
    ctx, durs = [60, 62, 64], [1.0, 1.0, 1.0, 2.0]
    with_rhythm = m.predict(ctx, durations=durs)
    without = m.predict(ctx)
    assert with_rhythm[71] > without[71]
    assert abs(with_rhythm.sum() - 1) < 1e-9 and np.all(with_rhythm > 0)


def _bad_files(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not a zip at all" * 10)
    trunc = tmp_path / "truncated.npz"
    m = ContinuatorModel()
    m.learn([Item(60 + i, 80, 0.2, 0.25) for i in range(12)])
    m.save(str(trunc))
    trunc.write_bytes(trunc.read_bytes()[:200])
    pick = tmp_path / "pickled.npz"
    np.savez(pick, pitch=np.array([60]), meta=np.array([{"version": 2}], dtype=object))
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    badval = tmp_path / "badval.npz"
    m.save(str(badval))
    with np.load(badval) as z:
        d = {k: z[k] for k in z.files}
    d["pitch"] = d["pitch"].astype(np.int16) + 200
    np.savez(badval, **d)
    zf = tmp_path / "zipnojson.npz"
    with zipfile.ZipFile(zf, "w") as z:
        z.writestr("meta.npy", b"junk")
        z.writestr("pitch.npy", b"junk")
    return [garbage, trunc, pick, other, badval, zf, tmp_path / "missing.npz"]


def test_corrupt_memory_or_library_files_are_one_clear_line(tmp_path):
    for f in _bad_files(tmp_path):
        for load in (lambda p: ContinuatorModel().load(p), lambda p: ContinuatorModel().load_library(p)):
            with pytest.raises(ConfigError) as e:
                load(str(f))
            msg = str(e.value)
            assert "\n" not in msg and str(f) in msg
            assert "allow_pickle" not in msg and "Object arrays" not in msg


def test_cycle_detection():
    assert cycle_runs([66, 66, 69, 67, 66, 66, 69, 67, 66, 66, 69])[4] == 11
    assert circles([66, 66, 69, 67, 66, 66, 69, 67, 66, 66, 69])        # almost three turns
    assert not circles([66, 66, 69, 67, 66, 66, 69, 67])                # two turns: allowed
    assert not circles([60, 60, 60, 60, 60, 60, 60])                    # a repeated note is no cycle
    assert circles([60, 62, 60, 62, 60])
    assert not circles([60, 62, 64, 65, 67, 69, 71, 72])


def test_a_version_1_memory_file_still_loads(tmp_path):
    import json
    f = tmp_path / "v1.npz"
    p = np.array([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60], np.int16)
    n = p.size
    np.savez_compressed(f, pitch=p, dcls=np.zeros(n, np.int8), vcls=np.zeros(n, np.int8),
                        phrase=np.array([1] * 8 + [2] * 3, np.int32), vel=np.full(n, 80, np.uint8),
                        dur=np.full(n, 0.2, np.float32), ioi=np.full(n, 0.25, np.float32),
                        chord=np.zeros((n, 5), np.int8), nchord=np.zeros(n, np.int8),
                        meta=np.array(json.dumps({"version": 1, "next_phrase": 3, "config": {}})))
    m = ContinuatorModel()
    m.load(str(f))
    assert m.n == n and m.next_phrase == 3
    assert [list(x) for x in m.phrases()] == [list(p[:8]), list(p[8:])]
    assert set(m.memory.ref[:n].tolist()) == {0}                        # C major, found from the notes
    q = m.predict([60, 62, 64])
    assert np.argmax(q) == 65


def test_order_zero_counts_follow_learning_forgetting_and_loading(tmp_path):
    m = ContinuatorModel(ContinuatorConfig(max_memory=200), seed=0)
    rng = np.random.default_rng(4)
    for _ in range(30):                                   # forgets the oldest phrases many times
        m.learn([Item(int(p), 80, 0.2, float(d)) for p, d in zip(rng.integers(50, 80, 17),
                                                                  rng.choice([0.25, 0.5], 17), strict=True)])
    mem = m.memory
    for v, c0 in enumerate(mem.c0):
        sv = mem.sym[v, : mem.n]
        assert np.array_equal(c0, np.bincount(sv[sv >= 0], minlength=c0.size)), v
    f = tmp_path / "m.npz"
    m.save(str(f))
    m2 = ContinuatorModel(ContinuatorConfig(max_memory=200))
    m2.load(str(f))
    for a, b in zip(m2.memory.c0, mem.c0, strict=True):
        assert np.array_equal(a, b)
    ctx = [int(x) for x in mem.pitch[:6]]
    m.session.clear()                                     # the session is not saved
    assert np.allclose(m2.predict(ctx), m.predict(ctx))
