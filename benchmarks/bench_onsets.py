"""Onsets and clicks of the neural timbre inside the engine, beside the additive voice and the SoundFont.

Issue 12: notes on reused voices started with a burst near full scale. Two measurements,
every one through :class:`rtgen.Engine` (the kernel and voices of ``render`` / ``play``):

* per instrument, the reuse take of :mod:`rtgen.timbre.onsets` (a note alone, again on a reused
  voice, fast repeats, overlapping notes): the largest onset peak over the body level, minus
  the SoundFont recording's for the same note (dB; the burst read +20..+58), and the largest
  sample step over the body level as a multiple of the recording's;
* per shipped preset (60 s, seed 1), neural vs additive vs the SoundFont playing the same notes
  (the engine's note events): sample-to-sample jumps above 0.1 per second, true peak (dBTP,
  4x oversampled), integrated loudness (BS.1770, pyloudnorm) and how much it drops when the
  first 30 ms after every onset are muted (the bursts made 2.8-18 LU of it).

    python -m benchmarks.bench_onsets [--seconds 60] [--presets chorale,ensemble]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks.common import emit

SR = 48000


def true_peak_db(x: np.ndarray) -> float:
    """dBTP: the peak of the signal 4x oversampled (polyphase, as BS.1770's annex)."""
    from scipy.signal import resample_poly

    up = resample_poly(np.asarray(x, np.float64), 4, 1, axis=0)
    return 20.0 * float(np.log10(max(float(np.abs(up).max()), 1e-12)))


def loudness(x: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(SR).integrated_loudness(np.asarray(x, np.float64)))


def jumps_per_s(x: np.ndarray) -> float:
    d = np.abs(np.diff(np.asarray(x, np.float64), axis=0)).max(axis=1)
    return float(np.count_nonzero(d > 0.1)) / (len(x) / SR)


def muted_onsets(x: np.ndarray, onsets: np.ndarray, ms: float = 30.0) -> np.ndarray:
    y = np.array(x, copy=True)
    n = int(ms * SR / 1000)
    for t in onsets.astype(np.int64):
        y[max(0, t):t + n] = 0.0
    return y


def preset_take(name: str, timbre: str, seconds: float) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(audio, note rows [t, dur, note, vel, instr] in samples, engine)`` of a preset, as ``render``."""
    from rtgen import Engine, EngineSpec
    from rtgen.backends.offline import render_array
    from rtgen.gen.presets import apply_to_engine, load_preset
    from rtgen.rt.layout import O_NOTE_OFF, O_NOTE_ON

    p = load_preset(name)
    eng = Engine(EngineSpec(seed=1, bpm=float(p.bpm)), timbre=timbre)
    apply_to_engine(p, eng)
    audio = render_array(eng, seconds)
    ev = eng.events()
    ons: dict[int, np.ndarray] = {}
    rows = []
    for r in ev:
        if r[0] == O_NOTE_ON:
            ons[int(r[7])] = r
        elif r[0] == O_NOTE_OFF and int(r[7]) in ons:
            o = ons.pop(int(r[7]))
            rows.append((o[1], r[1] - o[1], o[2], o[3], o[6]))
    for o in ons.values():
        rows.append((o[1], len(audio) - o[1], o[2], o[3], o[6]))
    return audio, np.array(sorted(rows), np.float64).reshape(-1, 5), eng


def soundfont_notes(rows: np.ndarray, instruments: list[tuple[str, int]], n: int, sf2: str) -> np.ndarray:
    """The same notes from the SoundFont (one MIDI channel per instrument), stereo float32."""
    import tinysoundfont

    syn = tinysoundfont.Synth(samplerate=SR)
    sfid = syn.sfload(sf2)
    progs = sorted({int(r[4]) for r in rows})
    chan = {}
    for k, i in enumerate(progs):
        ch = k if k < 9 else k + 1
        name, prog = instruments[i % len(instruments)]
        if name == "drums":
            syn.program_select(9, sfid, 128, 0, True)
            ch = 9
        else:
            syn.program_select(ch, sfid, 0, int(prog))
        chan[i] = ch
    ev = []
    for t, d, note, vel, i in rows:
        ev.append((int(t), 1, int(round(note)), int(vel), chan[int(i)]))
        ev.append((int(t + max(d, 1)), 0, int(round(note)), 0, chan[int(i)]))
    ev.sort()
    out = np.zeros((n, 2), np.float32)
    pos = 0
    for s, on, note, vel, ch in ev + [(n, 0, -1, 0, 0)]:
        s = min(s, n)
        if s > pos:
            out[pos:s] = np.frombuffer(syn.generate(s - pos), dtype=np.float32).reshape(-1, 2)
            pos = s
        if note < 0 or pos >= n:
            break
        if on:
            syn.noteon(ch, note, vel)
        else:
            syn.noteoff(ch, note)
    return out


def bench_instruments() -> None:
    from rtgen import Engine, EngineSpec
    from rtgen.timbre import load_timbre
    from rtgen.timbre import onsets as ons

    neural = load_timbre("neural")
    sf2 = ons.reference_soundfont(neural)
    base = ons.reuse_take()
    for kind in ("neural", "additive"):
        tb = neural if kind == "neural" else load_timbre("additive")
        eng = Engine(EngineSpec(seed=1), timbre=tb)
        for name, prog in tb.instruments():
            take, drums = base, name == "drums"
            if drums:
                take = ons.Take(tuple((t, ons.DRUM_KEY + n - base.notes[0][1], v, d) for t, n, v, d in base.notes),
                                base.seconds, base.ref_onset)
            x = ons.engine_take(eng, take, name)
            r = ons.soundfont_take(take, prog, sf2, SR, drums=drums)
            m, ms = ons.measure(x, take), ons.measure(r, take)
            exc = float(np.max(np.array(m["onset_db"]) - np.array(ms["onset_db"])))
            emit(f"onsets/{kind}/{name}/onset_excess_db", exc, "dB", target="<= 15", passed=exc <= 15.0,
                 engine_first_db=round(m["onset_db"][0], 2), engine_reused_db=round(m["onset_db"][1], 2),
                 soundfont_db=round(ms["onset_db"][0], 2))
            emit(f"onsets/{kind}/{name}/jump_ratio", m["jump"] / ms["jump"], "x recording", target="<= 4",
                 passed=m["jump"] <= 4 * ms["jump"], peer="soundfont", peer_value=round(ms["jump"], 4))


def bench_presets(names: list[str], seconds: float) -> None:
    from rtgen.timbre import load_timbre
    from rtgen.timbre import onsets as ons

    sf2 = ons.reference_soundfont(load_timbre("neural"))
    for name in names:
        got: dict[str, dict[str, float]] = {}
        rows_ref: np.ndarray | None = None
        n_ref, inst = 0, []
        for kind in ("neural", "additive", "soundfont"):
            t0 = time.perf_counter()
            if kind == "soundfont":
                assert rows_ref is not None
                audio = soundfont_notes(rows_ref, inst, n_ref, sf2)
                rows = rows_ref
            else:
                audio, rows, eng = preset_take(name, kind, seconds)
                if kind == "neural":
                    rows_ref, n_ref, inst = rows, len(audio), eng.timbre.instruments()
                    st = eng.stats()
                    emit(f"onsets/preset/{name}/neural/fallback", st["late_frames"] / max(st.get("voice_hops", 0), 1),
                         "fraction of voice-hops", voice_hops=st.get("voice_hops", 0))
            onsets = rows[:, 0] if len(rows) else np.zeros(0)
            lufs = loudness(audio)
            lufs_m = loudness(muted_onsets(audio, onsets))
            got[kind] = dict(jumps=jumps_per_s(audio), tp=true_peak_db(audio), lufs=lufs, lufs_muted=lufs_m)
            g = got[kind]
            emit(f"onsets/preset/{name}/{kind}/jumps_per_s", g["jumps"], "jumps > 0.1 per s",
                 seconds=round(time.perf_counter() - t0, 2))
            emit(f"onsets/preset/{name}/{kind}/true_peak", g["tp"], "dBTP")
            emit(f"onsets/preset/{name}/{kind}/loudness", g["lufs"], "LUFS", muted_onsets=round(g["lufs_muted"], 2),
                 onset_share_lu=round(g["lufs"] - g["lufs_muted"], 2))
        n, a = got["neural"], got["additive"]
        emit(f"onsets/preset/{name}/onset_share_lu", n["lufs"] - n["lufs_muted"], "LU",
             target="within 1.5 LU of the additive voice's",
             passed=abs((n["lufs"] - n["lufs_muted"]) - (a["lufs"] - a["lufs_muted"])) <= 1.5,
             peer="additive", peer_value=round(a["lufs"] - a["lufs_muted"], 2),
             soundfont=round(got["soundfont"]["lufs"] - got["soundfont"]["lufs_muted"], 2))


def main(argv: list[str] | None = None) -> int:
    from rtgen.gen.presets import list_presets

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--presets", default=None, help="comma-separated (default: every shipped preset)")
    ap.add_argument("--skip-instruments", action="store_true")
    args = ap.parse_args(argv)
    if not args.skip_instruments:
        bench_instruments()
    names = args.presets.split(",") if args.presets else list_presets()
    bench_presets(names, args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
