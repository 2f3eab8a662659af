"""Jam with a MIDI controller: MIDI learn for a knob, and the Continuator answering your phrases.

    python examples/midi_jam.py --seconds 120               # then connect your keyboard to rtgen-in:in
    python examples/midi_jam.py --save-map my_set.toml      # keep what you learned in a preset file

At start the first knob (CC) you move is bound to 'intensity' (automata layer and density),
and the first pad/key you hit with --learn-note to a toggle of the rules layer. Play a
phrase and stop: the Continuator answers in your style on the 'answer' layer. The last
line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.control.jam import start_jam
from rtgen.control.params import MidiMap, save_midi_map
from rtgen.game import MusicController

PARAMS = {"intensity": {"default": 0.5, "map": [
    {"target": "layer:automata", "curve": "scurve", "lo": 0.0, "hi": 1.2},
    {"target": "gen:ca1d.density", "lo": 0.1, "hi": 1.0}]}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--preset", default="ensemble")
    ap.add_argument("--midi-in", default=None, help="input port (default: a virtual port rtgen-in:in)")
    ap.add_argument("--api", default="auto", choices=("auto", "jack", "alsa"))
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--learn-note", action="store_true", help="also learn a note as a toggle of the rules layer")
    ap.add_argument("--save-map", metavar="PRESET.toml", default=None)
    a = ap.parse_args(argv)

    from rtgen.gen.presets import apply_to_engine, load_preset

    preset = load_preset(a.preset)
    eng = Engine(EngineSpec(seed=1, bpm=preset.tempo))
    apply_to_engine(preset, eng)
    music = MusicController(eng, params=PARAMS)
    music._slots = sorted(eng.generators())         # the preset's generators are the current state
    mmap = MidiMap(music)
    try:
        jam = start_jam(a.midi_in, None, engine=eng, api=a.api, audio=not a.no_audio)
    except RuntimeError as e:                        # no JACK server and no ALSA sequencer
        print(f"cannot open MIDI: {e}", file=sys.stderr)
        return 3
    jam.midi_in.listeners.append(mmap)
    mmap.learn("param:intensity")
    print(f"ready: play into MIDI port '{jam.midi_in.port_name}'; move a knob to bind it to intensity", flush=True)
    learned = []
    t0 = time.monotonic()
    try:
        while a.seconds is None or time.monotonic() - t0 < a.seconds:
            b = mmap.wait_learned(0.1)
            if b is not None and b not in learned:
                learned.append(b)
                print(f"learned: {b.source} {b.number} (channel {b.channel}) -> {b.target}", flush=True)
                if a.learn_note and len(learned) == 1:
                    mmap.learn("layer:rules", mode="toggle", lo=0.0, hi=0.8)
            music.poll(rows=np.zeros((0, 8)))          # ramps only: the jam's tap drains the events
    except KeyboardInterrupt:
        pass
    summary = jam.stop()
    if a.save_map:
        save_midi_map(a.save_map, mmap.spec)
        print(f"saved the MIDI map to {a.save_map}")
    print(summary.text())
    print(json.dumps({"learned": [[b.source, b.number, b.target] for b in learned],
                      "intensity": music.values["intensity"], "notes_in": summary.notes_in,
                      "phrases": summary.phrases, "answer_notes": summary.answer_notes,
                      "applied": mmap.applied}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
