"""Render checksums: every shipped preset at two seeds, a game session, MIDI input, MIDI clock, neural.

A refactor that must not change the sound is checked by rendering the same scenarios before
and after it and comparing SHA-256 hashes of the float32 output (bit-identical or not).

    python -m tests.golden            # print each scenario's hash and whether it matches
    python -m tests.golden --update   # (re)write tests/golden_renders.json

``tests/test_golden_renders.py`` compares against ``tests/golden_renders.json``. A change that
alters the sound on purpose (a new voice model, a retuned preset) makes it fail; the file is
then regenerated with ``--update`` once the change is merged, and the commit says why.

Scenarios go through the paths users take: presets through ``load_preset`` and the engine's
render (as ``rtgen render``); the game through ``MusicController`` (states, parameters, stingers,
notes); MIDI through ``MidiInput.dispatch`` with a ``Follower`` listening; MIDI clock through
``ClockFollower.message``. MIDI input turns arrival times into samples with ``time.monotonic()``;
those scenarios run on a stepped clock (the rendered samples' time) so they are repeatable.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("golden_renders.json")
SR = 48000
SEEDS = (1, 2)
PRESET_SECONDS = 3.0


def digest(audio: np.ndarray) -> str:
    a = np.ascontiguousarray(audio, dtype=np.float32)
    return hashlib.sha256(a.tobytes()).hexdigest()[:32]


@contextmanager
def stepped_clock(start: float = 1000.0) -> Iterator[list[float]]:
    """``time.monotonic()`` answers ``box[0]`` while inside (the scenario advances it)."""
    box = [start]
    real = time.monotonic
    time.monotonic = lambda: box[0]                      # type: ignore[assignment]
    try:
        yield box
    finally:
        time.monotonic = real                            # type: ignore[assignment]


def _engine(seed: int, bpm: float | None = None, timbre: str = "additive"):  # type: ignore[no-untyped-def]
    from rtgen import Engine, EngineSpec

    return Engine(EngineSpec(sample_rate=SR, seed=seed, bpm=bpm or 110.0), timbre=timbre)


def render_preset(name: str, seed: int, seconds: float = PRESET_SECONDS, timbre: str = "additive") -> np.ndarray:
    from rtgen.backends.offline import render_array
    from rtgen.gen.presets import apply_to_engine, load_preset

    preset = load_preset(name)
    eng = _engine(seed, getattr(preset, "bpm", None), timbre)
    apply_to_engine(preset, eng)
    return render_array(eng, seconds)


GAME_PARAMS = {
    "intensity": {"default": 0.2, "map": [
        {"target": "layer:automata", "curve": "scurve", "lo": 0.1, "hi": 1.0},
        {"target": "gen:ca1d.density", "curve": "linear", "lo": 0.2, "hi": 1.0},
        {"target": "density", "curve": "linear"}]},
    "danger": {"default": 0.0, "map": [
        {"target": "tension", "curve": "exp", "k": 3.0},
        {"target": "layer:grammar", "curve": "stepped", "steps": 3, "lo": 1.0, "hi": 0.4}]},
    "drive": {"default": 0.5, "map": [
        {"target": "master", "curve": "linear", "lo": 0.3, "hi": 0.6},
        {"target": "swing", "curve": "linear", "lo": 0.0, "hi": 0.3}]},
}
GAME_STINGERS = {
    "alarm": {"notes": [[0, 74, 118, 0.5], [0.5, 73, 118, 0.5], [1, 74, 120, 1.5]]},
    "hit": {"notes": [[0, 50, 124, 0.25], [0, 57, 110, 0.25]], "relative": True},
}
GAME_STATES = {
    "explore": {"preset": "ensemble", "quantum": "bar"},
    "combat": {"preset": "ca1d", "tempo": 138, "key": "D minor", "stinger": "alarm", "quantum": "bar",
               "layers": {"automata": 0.9}},
    "victory": {"preset": "chorale", "tempo": 100, "key": "D", "quantum": "beat",
                "burst": {"beats": 4, "generator": {"type": "euclid", "layer": "aux2",
                                                    "tracks": [{"pulses": 5, "steps": 8, "note": 38}]}}},
}


def render_game(seed: int = 1, seconds: float = 8.0) -> np.ndarray:
    """A scripted game session: states on bars and beats, parameters, stingers, one-shot notes."""
    from rtgen.backends.offline import render_array
    from rtgen.game import MusicController

    eng = _engine(seed)
    music = MusicController(eng, params=GAME_PARAMS, states=GAME_STATES, stingers=GAME_STINGERS)
    frame = 800
    script: dict[int, Callable[[], object]] = {
        0: lambda: music.set_state("explore", "immediate"),
        6: lambda: music.set_param("intensity", 0.7),
        12: lambda: music.set_param("danger", 0.5),
        18: lambda: music.set_param("drive", 0.9),
        60: lambda: music.set_state("combat", "bar"),
        130: lambda: music.stinger("hit", "beat"),
        160: lambda: music.note(67, 100, "stinger", 0.3, "beat"),
        200: lambda: music.set_target("tempo", 124.0),
        260: lambda: music.set_state("victory"),
        300: lambda: music.set_layer_gain("rules", 0.5),
        400: lambda: music.set_state("explore", "beat"),
    }

    def on_block(pos: int) -> None:
        k = pos // frame
        if pos % frame == 0 and k in script:
            script[k]()
        music.poll()

    return render_array(eng, seconds, block=frame, on_block=on_block)


def render_midi(seed: int = 1, seconds: float = 5.0) -> np.ndarray:
    """A player through MIDI input (notes, sustain, bend, program, all-off), a follower listening."""
    from rtgen.backends.offline import render_array
    from rtgen.control.follow import Follower
    from rtgen.control.midi import MidiInput, decode_message
    from rtgen.gen.presets import apply_to_engine, load_preset

    eng = _engine(seed, 100.0)
    apply_to_engine(load_preset("chorale"), eng)
    block = 256
    with stepped_clock() as clock:
        t0 = clock[0]
        fol = Follower(eng, follow_tempo=True, accompaniment=True, intensity_gain=True, interval_s=0.2)
        mi = MidiInput(eng, api="dummy", listeners=[fol])
        rng = np.random.default_rng(seed)
        msgs: list[tuple[int, list[int]]] = []
        t = 0
        notes = [57, 60, 64, 62, 65, 69, 67, 64, 60, 59, 62, 67]
        for i in range(40):
            n = int(notes[i % len(notes)] + 12 * rng.integers(0, 2))
            msgs.append((t, [0x90, n, int(rng.integers(50, 120))]))
            if i % 3 == 0:
                msgs.append((t + 50, [0x90, n + 4, 80]))
                msgs.append((t + 2000, [0x80, n + 4, 0]))
            msgs.append((t + int(rng.integers(2000, 9000)), [0x80, n, 0]))
            t += int(rng.integers(2500, 7000))
        msgs += [(30000, [0xB0, 64, 127]), (60000, [0xB0, 64, 0]), (70000, [0xE0, 0, 80]),
                 (90000, [0xE0, 0, 64]), (100000, [0xC0, 6, 0]), (150000, [0xB0, 123, 0])]
        msgs.sort(key=lambda m: m[0])
        queue = list(msgs)

        def on_block(pos: int) -> None:
            clock[0] = t0 + pos / SR
            while queue and queue[0][0] < pos + block:
                at, raw = queue.pop(0)
                ev = decode_message(raw)
                if ev is not None:
                    mi.dispatch(ev, t0 + at / SR)

        return render_array(eng, seconds, block=block, on_block=on_block)


def render_clock(seed: int = 1, seconds: float = 4.0) -> np.ndarray:
    """An external MIDI clock at 132 bpm: Start, ticks, a Stop and a Continue."""
    from rtgen.backends.offline import render_array
    from rtgen.control.clock_sync import ClockFollower
    from rtgen.gen.presets import apply_to_engine, load_preset

    eng = _engine(seed, 110.0)
    apply_to_engine(load_preset("ensemble"), eng)
    block = 128
    with stepped_clock() as clock:
        t0 = clock[0]
        cf = ClockFollower(eng, clock=lambda: clock[0])
        tick = 60.0 / 132.0 / 24.0
        times = [0.1 + k * tick for k in range(int((seconds - 0.2) / tick))]
        msgs = [(0.1 - 1e-4, 0xFA)] + [(x, 0xF8) for x in times]
        msgs += [(2.0, 0xFC), (2.5, 0xFB)]
        msgs.sort(key=lambda m: m[0])
        queue = [m for m in msgs if not (2.0 < m[0] < 2.5 and m[1] == 0xF8)]

        def on_block(pos: int) -> None:
            clock[0] = t0 + pos / SR
            while queue and queue[0][0] * SR < pos + block:
                at, byte = queue.pop(0)
                cf.message([byte], t0 + at)

        return render_array(eng, seconds, block=block, on_block=on_block)


def scenarios(neural: bool = True) -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    from rtgen.gen.presets import list_presets

    for name in list_presets():
        for seed in SEEDS:
            yield f"preset/{name}/seed{seed}", lambda n=name, s=seed: render_preset(n, s)
    yield "game/seed1", render_game
    yield "midi/seed1", render_midi
    yield "clock/seed1", render_clock
    if neural:
        yield "neural/chorale/seed1", lambda: render_preset("chorale", 1, 2.0, "neural")


def compute(neural: bool = True) -> dict[str, str]:
    return {name: digest(fn()) for name, fn in scenarios(neural)}


def load() -> dict[str, str]:
    return dict(json.loads(GOLDEN.read_text("utf-8"))["renders"])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    got = compute()
    if "--update" in args:
        doc = {"note": "SHA-256 (first 32 hex digits) of float32 renders; regenerate with "
                       "`python -m tests.golden --update` after a deliberate change of sound",
               "renders": got}
        GOLDEN.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")
        print(f"wrote {len(got)} hashes to {GOLDEN}")
        return 0
    want = load() if GOLDEN.exists() else {}
    bad = 0
    for k, v in got.items():
        ok = want.get(k) == v
        bad += not ok
        print(f"{'same   ' if ok else 'CHANGED'} {k} {v}")
    for k in sorted(set(want) - set(got)):
        print(f"MISSING {k}")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
