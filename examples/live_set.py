"""Perform examples/live_set.toml: generators in scenes, two knobs, and the Continuator answering you.

    python examples/live_set.py                       # live: sound card or JACK, MIDI in on 'rtgen-in:in'
    python examples/live_set.py --offline set.wav     # no devices: a scripted player, rendered to a file

Live, play phrases on a MIDI keyboard: the Continuator learns them and answers on the
'answer' layer; program changes 0..3 switch scenes on the next bar, CC 74 / CC 71 turn
intensity / tension (the preset's [midi_map]). Without a MIDI system the scenes change
by themselves every --scene-seconds.

Offline, a scripted player plays a phrase into the engine and the Continuator runs on
the engine's own sample clock (its poll() is called between blocks), so the whole set,
answers included, is rendered deterministically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.control.params import MidiMap, read_preset_file
from rtgen.game import MusicController, state_from_preset
from rtgen.rt.layout import LAYER_ANSWER, LAYER_PLAYER, O_NOTE_ON

HERE = Path(__file__).resolve().parent
PHRASE = [(69, 0.4), (72, 0.4), (76, 0.4), (74, 0.8), (72, 0.4), (71, 0.4), (69, 1.2)]   # (note, seconds)


def build(path: Path, seed: int) -> tuple[Engine, MusicController, MidiMap]:
    loaded = read_preset_file(path)           # one read: preset, MIDI map, music tables
    preset, midi_map, tables = loaded.preset, loaded.midi_map, loaded.music
    eng = Engine(EngineSpec(seed=seed, bpm=preset.tempo))
    music = MusicController(eng, params=tables.get("params"), states=tables.get("states"),
                            stingers=tables.get("stingers"))
    music.states[preset.name] = state_from_preset(preset.name, preset)
    music.states[preset.name].quantum = "bar"
    music.set_state(preset.name, "immediate")
    return eng, music, MidiMap(music, midi_map)


def continuator(eng: Engine, clock: object = None) -> object | None:
    try:
        from rtgen.control.continuator_live import Continuator
        from rtgen.gen.continuator import ContinuatorConfig
    except ImportError as e:
        print(f"the Continuator is disabled (not available in this build: {e}); generators only")
        return None
    kw = {} if clock is None else {"clock": clock}
    return Continuator(eng, ContinuatorConfig(), seed=int(eng.spec.seed), **kw)


def offline(a: argparse.Namespace) -> int:
    from rtgen.backends.offline import write_wav

    eng, music, _ = build(Path(a.preset), a.seed)
    sr = eng.sample_rate
    cont = continuator(eng, clock=lambda: float(eng.state.st[0]) / sr)
    scenes = [s for s in music.states if s != music.state] + [music.state]
    n = int(a.seconds * sr)
    out = np.zeros((n, 2), np.float32)
    block = 512
    t_phrase = 1.0                                    # the player starts after a second
    notes = []
    t = t_phrase
    for note, dur in PHRASE:
        notes.append((t, note, dur))
        t += dur
    pos, next_scene, k = 0, a.scene_seconds, 0
    while pos < n:
        now = pos / sr
        while notes and notes[0][0] <= now:
            t0, note, dur = notes.pop(0)
            eng.note_on(note, 96, layer="player", time=round(t0 * sr))
            eng.note_off(note, layer="player", time=round((t0 + dur * 0.9) * sr))
            if cont is not None:
                cont.note_on(note, 96, t0)
                cont.note_off(note, t0 + dur * 0.9)
        if now >= next_scene:
            tr = music.set_state(scenes[k % len(scenes)], "bar")
            print(f"t={now:5.2f}s scene {tr.target} at sample {tr.sample}")
            k += 1
            next_scene += a.scene_seconds
        music.set_param("intensity", 0.5 + 0.5 * np.sin(now / 3.0))
        m = min(block, n - pos)
        eng.render(out[pos:pos + m])
        pos += m
        if cont is not None:
            cont.poll(pos / sr)
        music.poll()
    ev_on = eng.stats()["notes"]
    write_wav(a.offline, out, sr)
    answers = cont.stats.answer_notes if cont is not None else 0
    print(f"wrote {a.offline}: {a.seconds:g} s, {ev_on} notes, continuator answer notes {answers}")
    return 0


def live(a: argparse.Namespace) -> int:
    from rtgen.control.jam import ClockThread, EventTap
    from rtgen.control.midi import MidiInput

    eng, music, mmap = build(Path(a.preset), a.seed)
    try:
        from rtgen.backends.live import LiveStream
        audio = LiveStream(eng).start()
        print(f"audio: {audio.device_name}")
    except Exception as e:                            # no sound card: keep the clock running
        print(f"no audio output ({e}); running the engine clock without sound")
        audio = ClockThread(eng).start()
    cont = continuator(eng)
    listeners = [mmap] + ([cont.midi_listener] if cont is not None else [])
    mi = None
    try:
        mi = MidiInput(eng, a.midi_in, client_name="rtgen-in", listeners=listeners).start()
        print(f"play into MIDI port '{mi.port_name}'; program 0..3 = scenes, CC74 intensity, CC71 tension")
    except Exception as e:
        print(f"no MIDI input ({e}); the scenes change every {a.scene_seconds:g} s by themselves")
    if cont is not None:
        cont.start()
    answers = [0]

    def count(rows: np.ndarray) -> None:
        on = rows[rows[:, 0] == O_NOTE_ON]
        answers[0] += int(np.count_nonzero(on[:, 4] == LAYER_ANSWER))

    music.drain_events = False                        # the tap drains the events and hands them on
    tap = EventTap(eng, [music.poll, count]).start()
    scenes = list(music.states)
    t0 = time.monotonic()
    k = 0
    try:
        while a.seconds is None or time.monotonic() - t0 < a.seconds:
            time.sleep(0.1)
            if mi is None and time.monotonic() - t0 >= (k + 1) * a.scene_seconds:
                k += 1
                music.set_state(scenes[k % len(scenes)], "bar")
    except KeyboardInterrupt:
        pass
    if mi is not None:
        mi.stop()
    if cont is not None:
        cont.stop()
    tap.stop()
    audio.stop()
    print(f"played {time.monotonic() - t0:.1f} s: {eng.stats()['notes']} notes, player layer "
          f"{LAYER_PLAYER}, answer notes {answers[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default=str(HERE / "live_set.toml"))
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--scene-seconds", type=float, default=16.0)
    ap.add_argument("--offline", metavar="OUT.wav", default=None)
    ap.add_argument("--midi-in", default=None, help="MIDI input port (default: a virtual port rtgen-in:in)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.offline:
        a.seconds = a.seconds or 60.0
        return offline(a)
    return live(a)


if __name__ == "__main__":
    sys.exit(main())
