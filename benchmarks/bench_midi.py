"""MIDI and Continuator benchmarks: ``python -m benchmarks.bench_midi`` (one JSON line per figure).

Figures (bounded time, about a minute in all):

* ``continuator_learn_us_per_note`` / ``continuator_answer_us_per_note`` at several memory sizes;
* ``continuator_memory_100k``: bytes held after learning 100,000 notes (tracemalloc of the
  model's arrays, and the process RSS growth);
* ``phrase_end_to_first_answer_ms``: the live Continuator thread, real clock (min/median/max);
* ``midi_in_jitter_jack``: a JACK client sends notes at known times into ``rtgen:in``; the spread
  of (scheduled sample - send time) is the scheduling jitter (needs jackd);
* ``midi_in_to_audio_out_frames``: with the engine's live backend on JACK (64 and 128 frames):
  the note's onset sample minus the arrival sample, plus the stream's output latency.

Options: ``--quick`` (smaller sizes), ``--no-jack``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import tracemalloc
from typing import Any

import numpy as np

from rtgen.gen.continuator import Continuator, ContinuatorConfig, ContinuatorModel, Item

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from tests.midi_harness import FakeEngine, JackServer, corpus_melody, engine_available, jackd_path  # noqa: E402


def emit(name: str, **kw: Any) -> None:
    print(json.dumps({"figure": name, **kw}), flush=True)


def _stats(a: list[float] | np.ndarray) -> dict[str, float]:
    x = np.asarray(a, np.float64)
    return {"n": int(x.size), "min": round(float(x.min()), 4), "median": round(float(np.median(x)), 4),
            "p99": round(float(np.percentile(x, 99)), 4), "max": round(float(x.max()), 4)}


def _corpus_items() -> list[list[Item]]:
    out = []
    for key in ("bach66", "bach1", "bach26", "oneill1", "oneill7", "essen_altdeu", "essen_ballad"):
        out.append([Item(p, 80, d * 0.9, d) for p, d in corpus_melody(key)])
    return out


def _fill(model: ContinuatorModel, melodies: list[list[Item]], n: int, rng: np.random.Generator
          ) -> list[float]:
    """Learn phrases of 8..24 notes cut from corpus melodies, randomly transposed, until n notes.

    Returns the learning cost per note of each phrase, in microseconds.
    """
    per_note: list[float] = []
    while model.n < n:
        mel = melodies[int(rng.integers(len(melodies)))]
        a = int(rng.integers(0, max(1, len(mel) - 8)))
        k = int(rng.integers(8, 25))
        t = int(rng.integers(-5, 7))
        ph = [Item(it.pitch + t, it.vel, it.dur, it.ioi) for it in mel[a:a + k]]
        t0 = time.perf_counter_ns()
        k = model.learn(ph[: n - model.n])
        per_note.append((time.perf_counter_ns() - t0) / 1e3 / max(1, k))
    return per_note


def _warm_up(melodies: list[list[Item]]) -> None:
    """Load the compiled kernels (numba cache) before anything is timed."""
    m = ContinuatorModel(ContinuatorConfig(max_memory=1000), seed=0)
    m.learn(melodies[0])
    g = m.start_answer(melodies[0][:8], np.ones(12))
    for _ in range(4):
        g.step()


def bench_model(sizes: list[int]) -> None:
    melodies = _corpus_items()
    _warm_up(melodies)
    rng = np.random.default_rng(0)
    for n in sizes:
        m = ContinuatorModel(ContinuatorConfig(max_memory=max(n, 1000)), seed=1)
        learn = _fill(m, melodies, n, rng)
        w = np.ones(12)
        m.step_ns.clear()
        t_end = time.monotonic() + 5.0
        answers = 0
        while answers < 50 and time.monotonic() < t_end:
            mel = melodies[answers % len(melodies)]
            g = m.start_answer(mel[:10], w)
            for _ in range(16):
                if g.step() is None:
                    break
            answers += 1
        emit("continuator_learn_us_per_note", memory_notes=n, **_stats(learn))
        emit("continuator_answer_us_per_note", memory_notes=n, answers=answers,
             **_stats(np.array(m.step_ns) / 1e3))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_memory(n: int) -> None:
    melodies = _corpus_items()
    rss0 = _rss()
    tracemalloc.start()
    m = ContinuatorModel(ContinuatorConfig(max_memory=n), seed=0)
    _fill(m, melodies, n, np.random.default_rng(1))
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    emit("continuator_memory", notes=m.n, traced_bytes=cur, traced_peak_bytes=peak,
         bytes_per_note=round(cur / max(1, m.n), 1), rss_growth_bytes=_rss() - rss0)


def bench_answer_latency(memory_notes: int, phrases: int) -> None:
    """The live thread on the real clock: play phrases, measure phrase end -> first answer note."""
    eng = FakeEngine()
    cont = Continuator(eng, ContinuatorConfig(max_memory=max(1000, memory_notes * 2)), seed=0)
    melodies = _corpus_items()
    if memory_notes:
        _fill(cont.model, melodies, memory_notes, np.random.default_rng(2))
    cont.start()
    try:
        for i in range(phrases):
            mel = melodies[i % len(melodies)][:12]
            t = time.monotonic()
            for it in mel:
                cont.note_on(it.pitch, 90, t)
                cont.note_off(it.pitch, t + 0.08)
                t += 0.1
            # the phrase is fed as if being played now; wait for its answer to end
            time.sleep(max(0.0, t - time.monotonic()) + cont.silence_threshold() + 1.5)
    finally:
        cont.stop()
    s = cont.stats
    emit("phrase_end_to_first_answer_ms", memory_notes=memory_notes, answers=s.answers,
         **_stats(s.answer_latency_ms))
    emit("phrase_end_timer_lateness_ms", memory_notes=memory_notes, **_stats(s.wake_late_ms))


def bench_jitter_jack(n: int = 600) -> None:
    import rtmidi

    from rtgen.control.midi import MidiInput
    srv = JackServer()
    srv.start()
    try:
        eng = FakeEngine()
        mi = MidiInput(eng, None, api="jack").start()
        mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "bench-player")
        mo.open_port([i for i, p in enumerate(mo.get_ports()) if p == mi.port_name][0])
        sent = []
        t0 = time.monotonic() + 0.05
        for k in range(n):
            t = t0 + k * 0.005
            while time.monotonic() < t:
                time.sleep(0.0002)
            sent.append(time.monotonic())
            mo.send_message([0x90, 40 + k % 60, 100])
        time.sleep(0.2)
        mo.close_port()
        mo.delete()
        mi.stop()
        ons = [c for c in eng.commands if c[0] == 1]
        sr = 48000.0
        lat = np.array([(c[7] / sr - (s - eng.t0)) * 1e3 for c, s in zip(ons, sent, strict=False)])
        d = lat - np.median(lat)
        emit("midi_in_jitter_jack", period=128, rate=48000, received=len(ons), sent=n,
             latency_ms=_stats(lat), jitter_ms_std=round(float(d.std()), 4),
             jitter_ms_max=round(float(np.abs(d).max()), 4),
             note="send time -> scheduled sample; includes JACK period quantisation (2.67 ms)")
    finally:
        srv.stop()


def _stream_output_latency(stream: Any) -> float:
    """PortAudio's reported output latency of a running stream (seconds), 0 if unknown."""
    return float(stream.output_latency())


def bench_midi_to_audio(periods: tuple[int, ...] = (64, 128), notes: int = 60) -> None:
    ok, why = engine_available()
    if not ok:
        emit("midi_in_to_audio_out_frames", skipped=why)
        return
    import rtmidi
    try:
        from rtgen.backends.jackserver import jack_dummy
        from rtgen.backends.live import LiveStream
    except Exception as e:                          # the live backend is not importable right now
        emit("midi_in_to_audio_out_frames", skipped=f"live backend: {type(e).__name__}: {e}")
        return
    from rtgen.config import EngineSpec
    from rtgen.control.midi import M_NOTE_ON, MidiInput
    from rtgen.engine import Engine
    from rtgen.rt.layout import LAYER_PLAYER, O_NOTE_ON
    for period in periods:
        try:
            with jack_dummy(48000, period):
                eng = Engine(EngineSpec(sample_rate=48000, block_size=period))
                arrivals: list[float] = []
                lock = threading.Lock()

                def on_note(ev: Any, t: float, sample: float, arrivals: list[float] = arrivals,
                            lock: threading.Lock = lock, eng: Any = eng) -> None:
                    if ev.kind == M_NOTE_ON:
                        with lock:
                            arrivals.append(eng.now_sample() - (time.monotonic() - t) * 48000.0)
                stream = LiveStream(eng, block_size=period).start()
                try:
                    out_lat = _stream_output_latency(stream)
                    mi = MidiInput(eng, None, api="jack", listeners=[on_note]).start()
                    mo = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "bench-player")
                    mo.open_port([i for i, p in enumerate(mo.get_ports()) if p == mi.port_name][0])
                    onsets: list[float] = []
                    for k in range(notes):
                        mo.send_message([0x90, 60 + k % 12, 100])
                        time.sleep(0.02)
                        mo.send_message([0x80, 60 + k % 12, 0])
                        time.sleep(0.01)
                        ev = eng.events()
                        onsets += [float(r[1]) for r in ev
                                   if int(r[0]) == O_NOTE_ON and int(r[4]) == LAYER_PLAYER]
                    time.sleep(0.1)
                    ev = eng.events()
                    onsets += [float(r[1]) for r in ev
                               if int(r[0]) == O_NOTE_ON and int(r[4]) == LAYER_PLAYER]
                    mo.close_port()
                    mo.delete()
                    mi.stop()
                finally:
                    stream.stop()
            k = min(len(onsets), len(arrivals))
            if k == 0:
                emit("midi_in_to_audio_out_frames", period=period, skipped="no notes came back")
                continue
            fr = np.array(onsets[:k]) - np.array(arrivals[:k]) + out_lat * 48000.0
            emit("midi_in_to_audio_out_frames", period=period, notes=int(k),
                 output_latency_frames=round(out_lat * 48000.0, 1),
                 frames={"min": round(float(fr.min()), 1), "median": round(float(np.median(fr)), 1),
                         "max": round(float(fr.max()), 1)},
                 note="arrival sample (engine clock) -> voice onset sample + the stream's output latency")
        except Exception as e:                      # no live backend on this machine yet
            emit("midi_in_to_audio_out_frames", period=period, skipped=f"{type(e).__name__}: {e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-jack", action="store_true")
    a = ap.parse_args(argv)
    sizes = [1_000, 10_000] if a.quick else [1_000, 10_000, 100_000]
    bench_model(sizes)
    bench_memory(10_000 if a.quick else 100_000)
    bench_answer_latency(0, 4 if a.quick else 8)
    if not a.quick:
        bench_answer_latency(100_000, 6)
    if not a.no_jack and jackd_path() is not None:
        bench_jitter_jack(300 if a.quick else 600)
        bench_midi_to_audio()
    return 0


if __name__ == "__main__":
    sys.exit(main())
