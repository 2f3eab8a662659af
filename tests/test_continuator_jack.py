"""The Continuator measured live: real tunes played over a real JACK server into ``rtgen jam``'s ports.

A JACK MIDI client plays phrases of music21 tunes (a chorale in free time, a folk song in
tempo) into the jam's input; the real Engine (clock thread, no sound device) plays the
answers, which come back over JACK MIDI out to a listening client. Checked: every phrase
answered, in key, as long as the phrase, never circling, no hanging note at the synth,
latency from the player's last note-off; in tempo, the answer starts on the bar line.

Also (no JACK needed): with 100,000 notes learnt and a corpus loaded, the first answer note
is handed to the engine within 30 ms of the decision to answer.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rtgen.gen.continuator import ContinuatorConfig, Item, circles, max_copy_length
from rtgen.gen.keydetect import detect_key, in_scale
from tests.midi_harness import JackServer, corpus_melody, jackd_path

ANSWER_CH = 1                 # LAYER_ANSWER goes out on channel 2
PLAYER_CH = 0


@pytest.fixture(scope="module")
def jack():
    if jackd_path() is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    srv = JackServer()
    try:
        srv.start()
    except (RuntimeError, OSError) as e:
        pytest.skip(f"cannot start a JACK dummy server: {e}")
    yield srv
    srv.stop()
    assert srv.proc is not None and srv.proc.poll() is not None, "jackd is still running"


class Listener:
    """A JACK MIDI client receiving what the engine sends out, with arrival times."""

    def __init__(self, port: str = "rtgen-out:out") -> None:
        import rtmidi
        self.got: list[tuple[float, list[int]]] = []
        self.lock = threading.Lock()
        self.mi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "listener")
        self.mi.ignore_types(sysex=True, timing=True, active_sense=True)
        self.mi.set_callback(self._cb)
        idx = [i for i, n in enumerate(self.mi.get_ports()) if n == port]
        assert idx, self.mi.get_ports()
        self.mi.open_port(idx[0], "in")

    def _cb(self, ev, _data) -> None:
        with self.lock:
            self.got.append((time.monotonic(), list(ev[0])))

    def ons(self, ch: int) -> list[tuple[float, int]]:
        with self.lock:
            return [(t, m[1]) for t, m in self.got if (m[0] & 0xF0) == 0x90 and (m[0] & 0x0F) == ch and m[2] > 0]

    def hanging(self, ch: int) -> list[int]:
        bal: dict[int, int] = {}
        with self.lock:
            for _, m in self.got:
                if (m[0] & 0x0F) != ch:
                    continue
                if (m[0] & 0xF0) == 0x90 and m[2] > 0:
                    bal[m[1]] = bal.get(m[1], 0) + 1
                elif (m[0] & 0xF0) in (0x80, 0x90):
                    bal[m[1]] = max(0, bal.get(m[1], 0) - 1)
        return [n for n, v in bal.items() if v > 0]

    def close(self) -> None:
        self.mi.close_port()
        self.mi.delete()


def _play(mo, phrase: list[tuple[int, float]], gate: float = 0.85) -> tuple[float, float]:
    """Play one phrase in real time on a steady clock; returns (first note-on, last note-off) times."""
    t0 = time.monotonic()
    t = t0
    last_off = t0
    for p, d in phrase:
        dt = t - time.monotonic()
        if dt > 0:
            time.sleep(dt)
        mo.send_message([0x90, p, 90])
        off_at = t + d * gate
        dt = off_at - time.monotonic()
        if dt > 0:
            time.sleep(dt)
        mo.send_message([0x80, p, 0])
        last_off = time.monotonic()
        t += d
    return t0, last_off


@pytest.mark.jack
def test_live_jam_answers_real_tunes_in_key_in_time_and_cleanly(jack):
    import rtmidi

    from rtgen.config import EngineSpec
    from rtgen.control.jam import start_jam
    from rtgen.engine import Engine
    eng = Engine(EngineSpec(sample_rate=48000, block_size=128, voices=64, seed=0))
    cfg = ContinuatorConfig(max_copy=5, on_play="stop")
    jam = start_jam(None, "virtual", api="jack", audio=False, engine=eng, continuator_config=cfg)
    listener = None
    try:
        listener = Listener()
        mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "pianist")
        idx = [i for i, n in enumerate(mo.get_ports()) if n == jam.midi_in.port_name]   # rtgen-in:in
        mo.open_port(idx[0], "out")
        # free time: a chorale phrase with a rubato of +-20 % on every note
        rng = np.random.default_rng(5)
        chorale = [(p, d * float(rng.uniform(0.8, 1.2))) for p, d in corpus_melody("bach66", 0.3)[:9]]
        # in tempo: two phrases of a folk song, 0.3 s a quarter (a 0.6 s beat in 2/4... counted in 4)
        folk = corpus_melody("essen_altdeu", sec_per_quarter=0.3)
        phrases = [("free", chorale), ("tempo", folk[:8]), ("tempo", folk[8:16])]
        ends = []
        starts = []
        for _kind, ph in phrases:
            t0, t_off = _play(mo, ph)
            starts.append(t0)
            ends.append(t_off)
            time.sleep(sum(d for _, d in ph) + 1.6)          # let the answer play out
        time.sleep(0.3)
        mo.close_port()
        mo.delete()
    finally:
        summary = jam.stop()
        time.sleep(0.2)
        if listener is not None:
            listener.close()
    cont = jam.continuator
    assert summary.phrases == 3 and summary.answers == 3, summary.text()
    st = cont.stats.summary()
    # answers as long as the phrases, never circling, within the copy limit
    log = list(cont.answers_log)
    assert len(log) == 3
    training = cont.model.phrases()
    for a, (_, ph) in zip(log, phrases, strict=True):
        assert len(a["pitches"]) == max(cfg.min_answer, len(ph)), a
        assert not circles(a["pitches"]), a
        assert max_copy_length(a["pitches"], training) <= cfg.max_copy
    # key: the answers stay in the key of what was played
    played = [p for _, ph in phrases for p, _ in ph]
    root, mode, _ = detect_key(played)
    ans = [p for a in log for p in a["pitches"]]
    assert np.mean([in_scale(p, root, mode) for p in ans]) >= 0.8
    # the synth received every answer note and released it
    ons = listener.ons(ANSWER_CH)
    assert len(ons) >= sum(len(a["pitches"]) for a in log) - 2
    assert listener.hanging(ANSWER_CH) == [] and listener.hanging(PLAYER_CH) == []
    # latency from the player's last note-off (engine clock): free time = silence + compute
    lat_off = cont.stats.answer_latency_from_note_off_ms
    assert len(lat_off) == 3
    assert lat_off[0] <= cfg.silence_max * 1e3 + 40.0, lat_off
    assert max(cont.stats.answer_latency_from_detection_ms[:1]) < 30.0
    # ... and as the listener heard it: the first answer note after the last note-off
    first_ans = [min((t for t, _ in ons if t > e), default=np.inf) for e in ends]
    heard = [(f - e) * 1e3 for f, e in zip(first_ans, ends, strict=True)]
    assert heard[0] <= cfg.silence_max * 1e3 + 60.0, heard
    # in tempo: the answer starts on a bar line counted from the phrase's first note
    assert cont.stats.in_time_answers >= 1, st
    player_ons = listener.ons(PLAYER_CH)
    for i in (1, 2):
        p0 = min(t for t, _ in player_ons if t >= starts[i] - 0.05)
        bars = (first_ans[i] - p0) / (4 * 0.3)
        assert abs(bars - round(bars)) * 4 * 0.3 < 0.03, (i, bars)     # within 30 ms of the bar line
    print({k: st[k] for k in ("answer_latency_from_note_off_ms", "answer_latency_from_detection_ms",
                              "answer_compute_ms")}, "heard", heard)


def test_first_answer_note_within_30ms_with_100000_notes_and_a_corpus():
    pytest.importorskip("music21")
    from rtgen.config import EngineSpec
    from rtgen.control.continuator_live import Continuator
    from rtgen.control.jam import ClockThread
    from rtgen.engine import Engine
    eng = Engine(EngineSpec(sample_rate=48000, block_size=128, voices=64, seed=0))
    clock = ClockThread(eng).start()
    cont = Continuator(eng, ContinuatorConfig(max_memory=120_000), seed=0)
    try:
        rng = np.random.default_rng(0)
        mels = [corpus_melody(k) for k in ("bach1", "bach26", "bach66", "oneill1", "essen_ballad")]
        while cont.model.n < 100_000:
            mel = mels[int(rng.integers(len(mels)))]
            a = int(rng.integers(0, len(mel) - 12))
            t = int(rng.integers(-5, 7))
            cont.model.learn([Item(p + t, 80, d * 0.9, d) for p, d in mel[a: a + int(rng.integers(8, 20))]])
        n_lib = cont.load_library("essen/altdeu10")          # 313 folk songs, 15,285 notes
        assert cont.model.n >= 100_000 and n_lib > 10_000
        cont.start()
        learn_us = np.median(np.array(cont.model.learn_ns)) / 1e3
        for k in range(5):
            for p, d in corpus_melody("oneill7", 0.2)[k * 10: k * 10 + 10]:
                now = time.monotonic()
                cont.note_on(p, 90, now)
                time.sleep(d * 0.8)
                cont.note_off(p, time.monotonic())
                time.sleep(d * 0.2)
            time.sleep(1.2)
    finally:
        cont.stop()
        clock.stop()
    comp = cont.stats.answer_compute_ms
    assert len(comp) == 5
    assert max(comp) < 30.0, comp                          # the first note is ready within 30 ms
    # ... and leaves within 30 ms of the decision (answers in tempo leave on their downbeat instead)
    st = cont.stats
    det = [x for x, t in zip(st.answer_latency_from_detection_ms, st.answer_in_time, strict=True) if not t]
    assert not det or max(det) < 30.0, (det, st.answer_in_time)
    step_ms = np.array(cont.model.step_ns) / 1e6
    print(f"compute to first note: median {np.median(comp):.1f} ms, worst {max(comp):.1f} ms; "
          f"step median {np.median(step_ms):.2f} ms, worst {step_ms.max():.2f} ms; learn {learn_us:.0f} us/phrase")
