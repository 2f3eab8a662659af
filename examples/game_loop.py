"""A game loop that owns its audio: it drives music states, parameters and stingers from game
events and renders the engine itself, block by block, into a WAV file (the embedded way).

    python examples/game_loop.py --seconds 40 --out game.wav

The "game" is scripted: the player explores, danger rises (intensity), a fight starts
(combat, quantised to the next bar, with a stinger), an enemy is hit (stingers on the
beat), the fight is won (victory), and exploring resumes. Beat and bar callbacks come
back from the engine through ``MusicController.poll()``, called once per game frame.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from rtgen import Engine, EngineSpec
from rtgen.backends.offline import write_wav
from rtgen.game import Beat, MusicController, Transition

PARAMS = {
    # 0 = calm, 1 = everything is on fire
    "intensity": {"default": 0.2, "map": [
        {"target": "layer:automata", "curve": "scurve", "lo": 0.1, "hi": 1.0},
        {"target": "gen:ca1d.density", "curve": "linear", "lo": 0.2, "hi": 1.0},
        {"target": "density", "curve": "linear"}]},
    "danger": {"default": 0.0, "map": [
        {"target": "tension", "curve": "exp", "k": 3.0},
        {"target": "layer:grammar", "curve": "stepped", "steps": 3, "lo": 1.0, "hi": 0.4}]},
}
STINGERS = {
    "alarm": {"notes": [[0, 74, 118, 0.5], [0.5, 73, 118, 0.5], [1, 74, 120, 1.5]]},
    "hit": {"notes": [[0, 50, 124, 0.25], [0, 57, 110, 0.25]], "relative": True},
    "fanfare": {"notes": [[0, 72, 112, 0.5], [0.5, 76, 112, 0.5], [1, 79, 116, 0.5], [1.5, 84, 124, 2.0]],
                "relative": True},
}
STATES = {
    "explore": {"preset": "ensemble", "quantum": "bar"},
    "combat": {"preset": "ca1d", "tempo": 138, "key": "D minor", "stinger": "alarm", "quantum": "bar",
               "layers": {"automata": 0.9}},
    "victory": {"preset": "chorale", "tempo": 100, "key": "D", "stinger": "fanfare", "quantum": "beat",
                "burst": {"beats": 4, "generator": {"type": "euclid", "layer": "aux2",
                                                    "tracks": [{"pulses": 5, "steps": 8, "note": 38}]}}},
}

FRAME = 800                  # one game frame at 60 fps and 48 kHz


def script(t: float, length: float) -> list[tuple[str, object]]:
    """What the game does at time ``t`` (seconds), scaled to a session of ``length`` seconds."""
    f = t / length
    actions: list[tuple[str, object]] = []
    if f < 0.25:
        actions.append(("intensity", 0.2 + f * 1.6))
        actions.append(("danger", f * 2.0))
    return actions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--out", default="game.wav")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)

    eng = Engine(EngineSpec(sample_rate=48000, seed=a.seed, bpm=100))
    music = MusicController(eng, params=PARAMS, states=STATES, stingers=STINGERS)
    bars: list[int] = []
    music.on_bar(lambda b: bars.append(b.bar))
    landed: list[str] = []

    def on_state(tr: Transition) -> None:
        landed.append(f"{tr.target}@{tr.sample}")
        print(f"  music: now {tr.target} (from sample {tr.sample})")

    music.on_state(on_state)
    hits = {"n": 0}

    def on_beat(b: Beat) -> None:       # the game reacts to the music: enemies attack on the beat
        if music.state == "combat" and b.beat % 2 == 1 and hits["n"] < 6:
            music.stinger("hit", "beat")
            hits["n"] += 1

    music.on_beat(on_beat)
    music.set_state("explore", "immediate")

    n = int(a.seconds * eng.sample_rate)
    out = np.zeros((n, 2), np.float32)
    events = [(0.30, "state", "combat"), (0.35, "param", ("intensity", 1.0)), (0.35, "param", ("danger", 1.0)),
              (0.62, "state", "victory"), (0.66, "param", ("intensity", 0.3)), (0.66, "param", ("danger", 0.0)),
              (0.82, "state", "explore")]
    pos = 0
    while pos < n:
        t = pos / eng.sample_rate
        for name, v in script(t, a.seconds):
            music.set_param(name, float(v))           # type: ignore[arg-type]
        while events and t >= events[0][0] * a.seconds:
            _, kind, what = events.pop(0)
            if kind == "state":
                tr = music.set_state(str(what))
                print(f"t={t:5.2f}s game: {what} requested; lands at sample {tr.sample} ({tr.quantum})")
            else:
                pname, val = what                       # type: ignore[misc]
                music.set_param(pname, val, ramp=1.0)
        m = min(FRAME, n - pos)
        eng.render(out[pos:pos + m])                    # the game's mixer pulls audio
        music.poll()                                    # beats, bars, state callbacks
        pos += m
    write_wav(a.out, out, eng.sample_rate)
    st = eng.stats()
    print(f"wrote {a.out}: {a.seconds:g} s, {st['notes']} notes, {len(bars)} bars, states {landed}, "
          f"peak {float(np.abs(out).max()):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
