"""Standard MIDI Files through the engine, and a reference note renderer for the timbre's own tests.

``render_midi_file`` / :func:`schedule_midi` play a whole file through an :class:`rtgen.Engine`
(its kernel and voices: the same path as ``play``, ``render`` and ``jam``) as timed commands:
notes, the sustain pedal, pitch bend, the mod wheel (vibrato), channel volume and pan;
program changes choose instruments by GM program from the timbre's instrument table (the
nearest one of the program's GM family when it has no exact match, said once); channel 10
plays the drum kit instrument ``drums`` when the timbre has one (else it is skipped, said once).

:func:`render_notes` is the older standalone synthesis of a note list straight from a timbre's
per-hop controls, kept for the timbre benchmark and quality test that score the model alone:
every note is a voice whose controls come from ``timbre.get_controls`` once per hop
(voices are batched per hop; the neural timbre carries each voice's recurrent state from
hop to hop, exactly as the real-time worker does). Each hop's harmonic amplitudes become a
peak-normalised single-cycle table and a gain (``controls_to_tables``); the voice reads its
table with linear interpolation, crossfading from the previous hop's table and ramping the
gain across the hop. Noise: the band RMS of all voices add in power on a global hop grid
and scale 8 band-limited white noises. The output is mono duplicated to stereo.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from ..errors import ConfigError, RtgenError
from ..rt.layout import N_LAYERS, N_NOISE_BANDS, S_PQ_COUNT, TS
from .base import NOISE_BAND_EDGES_HZ, Timbre, VoiceFeatures, controls_to_tables, midi_to_hz

NEURAL_TAIL_SECONDS = 1.0      # how long a neural voice keeps sounding after its note-off (at most)
SILENCE = 1e-5                 # a voice stops early once its gain stays below this after the note-off


@njit(cache=True, nogil=True)
def _synth_hop(out: np.ndarray, pos: np.ndarray, tab0: np.ndarray, tab1: np.ndarray, g0: np.ndarray,
               g1: np.ndarray, phase: np.ndarray, inc: np.ndarray, hop: int) -> None:
    n_out = out.shape[0]
    for v in range(pos.shape[0]):
        ph = phase[v]
        p0 = pos[v]
        for i in range(hop):
            n = p0 + i
            w = (i + 1.0) / hop
            x = ph * TS
            k = int(x)
            fr = x - k
            a = tab0[v, k] + (tab0[v, k + 1] - tab0[v, k]) * fr
            b = tab1[v, k] + (tab1[v, k + 1] - tab1[v, k]) * fr
            if 0 <= n < n_out:
                out[n] += (g0[v] + (g1[v] - g0[v]) * w) * (a + (b - a) * w)
            ph += inc[v]
            if ph >= 1.0:
                ph -= np.floor(ph)
        phase[v] = ph


def _band_noises(n: int, sr: int, seed: int) -> np.ndarray:
    """``[N_NOISE_BANDS, n]`` unit-RMS white noise band-limited to each band."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    out = np.zeros((N_NOISE_BANDS, n), np.float32)
    for b in range(N_NOISE_BANDS):
        lo, hi = NOISE_BAND_EDGES_HZ[b], NOISE_BAND_EDGES_HZ[b + 1]
        sel = (f >= lo) & ((f < hi) | (b == N_NOISE_BANDS - 1))
        x = np.fft.irfft(np.where(sel, spec, 0.0), n)
        rms = float(np.sqrt(np.mean(x * x))) if n else 0.0
        out[b] = x / rms if rms > 0 else 0.0
    return out


def _tail_seconds(timbre: Timbre, instr: int, sr: int) -> float:
    if timbre.name == "additive":
        from .additive import release_seconds

        return release_seconds(instr) + 0.02
    return NEURAL_TAIL_SECONDS


def render_notes(timbre: Timbre, notes: list[tuple[float, float, float, float, float]], sr: int = 48000,
                 seconds: float | None = None, seed: int = 0, chunk: int = 64,
                 noise: bool = True) -> np.ndarray:
    """Render ``notes`` = ``[(start_s, dur_s, pitch, velocity, instrument_index), ...]`` to mono float32.

    ``seconds``: output length (default: until the last release ends).
    """
    hop = int(timbre.hop)
    hop_s = hop / sr
    rows = sorted(notes, key=lambda r: r[0])
    tails = [_tail_seconds(timbre, int(round(r[4])), sr) for r in rows]
    end = max((r[0] + r[1] + t for r, t in zip(rows, tails, strict=True)), default=0.0)
    n_out = int(round((seconds if seconds is not None else end + 0.05) * sr))
    out = np.zeros(n_out, np.float64)
    n_ghop = n_out // hop + 2
    noise_pow = np.zeros((n_ghop, N_NOISE_BANDS), np.float64)
    old_sr = timbre.sample_rate
    timbre.sample_rate = int(sr)
    try:
        for c0 in range(0, len(rows), chunk):
            part = rows[c0:c0 + chunk]
            v = len(part)
            start = np.array([int(round(r[0] * sr)) for r in part], np.int64)
            dur = np.array([max(r[1], 1.0 / sr) for r in part])
            pitch = np.array([r[2] for r in part], np.float64)
            vel = np.array([r[3] for r in part], np.float64)
            instr = np.array([r[4] for r in part], np.float64)
            n_hops = np.array([int(np.ceil((d + t) / hop_s)) for d, t in
                               zip(dur, tails[c0:c0 + chunk], strict=True)], np.int64)
            f0 = midi_to_hz(pitch)
            inc = f0 / sr
            phase = np.zeros(v)
            state = timbre.initial_state(v)
            tab_prev = np.zeros((v, TS + 1), np.float32)
            g_prev = np.zeros(v)
            alive = np.ones(v, bool)
            for j in range(int(n_hops.max())):
                live = alive & (j < n_hops)
                if not live.any():
                    break
                t = np.full(v, (j + 1) * hop_s)
                rel = (t >= dur).astype(np.float64)
                feats = VoiceFeatures(f0_hz=f0, velocity=vel, t_on=t, released=rel, t_rel=(t - dur) * rel,
                                      instrument=instr)
                c = timbre.get_controls(feats, state)
                state = c.state
                tabs, gain = controls_to_tables(c.harmonics)
                gain = np.where(live, gain, 0.0)
                if j == 0:
                    tab_prev[:] = tabs
                _synth_hop(out, start + j * hop, tab_prev, tabs, g_prev, gain, phase, inc, hop)
                if noise:
                    gh = (start + j * hop) // hop
                    ok = live & (gh < n_ghop)
                    np.add.at(noise_pow, gh[ok], c.noise[ok] ** 2)
                alive &= ~((rel > 0) & (gain < SILENCE) & (g_prev < SILENCE))
                tab_prev, g_prev = tabs, gain
    finally:
        timbre.sample_rate = old_sr
    if noise and n_out > 0 and noise_pow.any():
        bands = _band_noises(n_out, sr, seed)
        g = np.sqrt(noise_pow)                                   # [n_ghop, 8] RMS per global hop
        t_hop = (np.arange(n_ghop) + 1.0) * hop                  # value reached at the end of each hop
        t_smp = np.arange(n_out, dtype=np.float64)
        for b in range(N_NOISE_BANDS):
            if g[:, b].any():
                out += np.interp(t_smp, t_hop, g[:, b], left=0.0) * bands[b]
    return out.astype(np.float32)


# ---------------------------------------------------------------------- Standard MIDI Files
GM_FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
               "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive",
               "sound effects")
DRUM_CHANNEL = 9                 # MIDI channel 10
BEND_RANGE = 2.0                 # semitones at full pitch-bend (the GM default; RPN 0 changes it)
VIBRATO_MAX_CENTS = 50.0         # the mod wheel at 127
LOOKAHEAD_S = 1.0                # commands are queued this far ahead of the render position
PENDING_BUDGET = 1500               # ... but never more than this many outstanding (rings hold 4096)
TAIL_MAX_S = 10.0                # without --seconds: render until every voice has ended, at most this


@dataclass
class MidiEvent:
    """One timed event of a file: ``kind`` in note_on, note_off, sustain, bend, mod, volume, pan,
    program, bank; ``a``/``b`` its values (note and velocity, controller value, semitones...)."""

    t: float
    kind: str
    ch: int
    a: float = 0.0
    b: float = 0.0


@dataclass
class MidiSong:
    path: str
    events: list[MidiEvent]
    seconds: float
    notes: int


def read_midi_events(path: str) -> MidiSong:
    """Every event of a Standard MIDI File that the engine plays, in time order (seconds; tempo
    changes honoured by mido). Raises RtgenError for a missing or unreadable file."""
    import mido

    if not os.path.isfile(path):
        raise RtgenError(f"{path}: MIDI file not found")
    try:
        mid = mido.MidiFile(path)
        msgs = list(mid)
    except Exception as e:
        raise RtgenError(f"{path}: not a readable Standard MIDI File ({type(e).__name__}: {e})") from e
    t = 0.0
    ev: list[MidiEvent] = []
    n_notes = 0
    for msg in msgs:
        t += float(msg.time)
        if msg.is_meta or not hasattr(msg, "channel"):
            continue
        ch = int(msg.channel)
        if msg.type == "note_on" and msg.velocity > 0:
            ev.append(MidiEvent(t, "note_on", ch, float(msg.note), float(msg.velocity)))
            n_notes += 1
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            ev.append(MidiEvent(t, "note_off", ch, float(msg.note)))
        elif msg.type == "program_change":
            ev.append(MidiEvent(t, "program", ch, float(msg.program)))
        elif msg.type == "pitchwheel":
            ev.append(MidiEvent(t, "bend", ch, float(msg.pitch) / 8192.0 * BEND_RANGE))
        elif msg.type == "control_change":
            kind = {64: "sustain", 1: "mod", 7: "volume", 10: "pan", 0: "bank"}.get(int(msg.control))
            if kind is not None:
                ev.append(MidiEvent(t, kind, ch, float(msg.value)))
    return MidiSong(path, ev, t, n_notes)


def read_midi_notes(path: str) -> list[tuple[float, float, int, int, int, int]]:
    """``[(start_s, dur_s, pitch, velocity, channel, program), ...]`` of a Standard MIDI File, the
    sustain pedal holding notes, channel 10 (GM percussion) left out."""
    song = read_midi_events(path)
    program = [0] * 16
    pedal = [False] * 16
    held: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    sustained: list[tuple[int, int]] = []
    notes: list[tuple[float, float, int, int, int, int]] = []

    def close(ch: int, note: int, when: float) -> None:
        stack = held.get((ch, note))
        if stack:
            t0, vel, prog = stack.pop(0)
            notes.append((t0, max(when - t0, 0.005), note, vel, ch, prog))

    for e in song.events:
        if e.kind == "program":
            program[e.ch] = int(e.a)
        elif e.kind == "sustain":
            down = e.a >= 64
            if pedal[e.ch] and not down:
                for c2, n2 in [s for s in sustained if s[0] == e.ch]:
                    close(c2, n2, e.t)
                sustained[:] = [s for s in sustained if s[0] != e.ch]
            pedal[e.ch] = down
        elif e.ch == DRUM_CHANNEL:
            continue
        elif e.kind == "note_on":
            held.setdefault((e.ch, int(e.a)), []).append((e.t, int(e.b), program[e.ch]))
        elif e.kind == "note_off":
            if pedal[e.ch]:
                sustained.append((e.ch, int(e.a)))
            else:
                close(e.ch, int(e.a), e.t)
    for (ch, note), stack in list(held.items()):
        while stack:
            close(ch, note, song.seconds)
    notes.sort()
    return notes


def gm_instrument(program: int, instruments: list[tuple[str, int]], exclude: set[str] | frozenset[str] = frozenset()
                  ) -> tuple[int, str]:
    """Engine index for a GM program (0..127) from the instrument table ``[(name, program)]``, and
    how it was chosen: "" (exact), "family" (the nearest program of the same GM family), or
    "nearest" (no instrument of the family: the nearest program)."""
    cands = [(i, int(p)) for i, (n, p) in enumerate(instruments) if n not in exclude and 0 <= int(p) < 128]
    if not cands:
        return 0, "nearest"
    for i, p in cands:
        if p == program:
            return i, ""
    fam = [(abs(p - program), i) for i, p in cands if p // 8 == program // 8]
    if fam:
        return min(fam)[1], "family"
    return min((abs(p - program), i) for i, p in cands)[1], "nearest"


@dataclass
class _Scheduler:
    """Turns a song's events into the engine's timed commands, a window ahead of the render."""

    engine: Any
    song: MidiSong
    instrument: int | None = None         # one instrument for every (non-drum) note
    say: Callable[[str], None] = field(default=lambda m: None)
    pos: int = 0
    layer_of: dict[int, int] = field(default_factory=dict)
    program: list[int] = field(default_factory=lambda: [0] * 16)
    bank: list[int] = field(default_factory=lambda: [0] * 16)
    said: set[str] = field(default_factory=set)
    skipped: int = 0

    def __post_init__(self) -> None:
        tb = self.engine.timbre
        self.table = list(tb.instruments())
        names = [n for n, _ in self.table]
        shots = tb.one_shot() if callable(getattr(tb, "one_shot", None)) else {"drums"}
        self.exclude = frozenset(shots) | {"drums"}
        self.drums = names.index("drums") if "drums" in names else None
        self.sr = float(self.engine.sample_rate)
        # the layers of the file: one per channel in order of appearance, centred, no generators
        chans = sorted({e.ch for e in self.song.events}, key=lambda c: min(e.t for e in self.song.events
                                                                               if e.ch == c))
        if len(chans) > N_LAYERS:
            self._once("layers", f"{self.song.path}: {len(chans)} channels share the engine's {N_LAYERS} layers "
                                 "(their pedal, bend and mod wheel are shared too)")
        for k, c in enumerate(chans):
            self.layer_of[c] = k % N_LAYERS
        for lay in range(N_LAYERS):
            self.engine.set_layer(lay, pan=0.0, gain=0.8)

    def _once(self, key: str, msg: str) -> None:
        if key not in self.said:
            self.said.add(key)
            self.say(msg)

    def _instrument(self, ch: int) -> int | None:
        if ch == DRUM_CHANNEL:
            if self.drums is None:
                self._once("drums", f"{self.song.path}: channel 10 (drums) skipped: the timbre has no drum kit")
            return self.drums
        if self.instrument is not None:
            return self.instrument
        prog = self.program[ch]
        if self.bank[ch] != 0:
            self._once(f"bank{self.bank[ch]}", f"{self.song.path}: bank {self.bank[ch]} is not in the set: "
                                               "its programs play as bank 0's")
        idx, how = gm_instrument(prog, self.table, self.exclude)
        if how:
            fam = GM_FAMILIES[prog // 8]
            why = "(nearest of its family)" if how == "family" else "(no instrument of its family)"
            self._once(f"p{prog}", f"{self.song.path}: GM program {prog} ({fam}) plays as {self.table[idx][0]} {why}")
        return idx

    def push_until(self, horizon: float) -> None:
        """Queue every event before ``horizon`` (seconds) that the rings have room for."""
        from ..rt.layout import S_SAMPLE

        eng, ev = self.engine, self.song.events
        now = float(eng.state.st[S_SAMPLE])
        w = eng._writers[0]
        while self.pos < len(ev) and ev[self.pos].t < horizon:
            if w.written - w.consumed + int(eng.state.st[S_PQ_COUNT]) > PENDING_BUDGET:
                return
            e = ev[self.pos]
            self.pos += 1
            t = max(now, float(round(e.t * self.sr)))
            lay = self.layer_of.get(e.ch, 0)
            if e.kind == "program":
                self.program[e.ch] = int(e.a)
            elif e.kind == "bank":
                self.bank[e.ch] = int(e.a)
            elif e.kind in ("note_on", "note_off"):
                ins = self._instrument(e.ch)
                if ins is None:
                    self.skipped += e.kind == "note_on"
                elif e.kind == "note_on":
                    eng.note_on(e.a, e.b, layer=lay, instrument=ins, time=t)
                else:
                    eng.note_off(e.a, layer=lay, time=t)
            elif e.kind == "sustain":
                eng.sustain(e.a >= 64, lay, time=t)
            elif e.kind == "bend":
                eng.pitch_bend(e.a, lay, time=t)
            elif e.kind == "mod":
                eng.set_voice_controls(lay, vibrato=e.a / 127.0 * VIBRATO_MAX_CENTS, time=t)
            elif e.kind == "volume":
                eng.set_layer(lay, gain=0.8 * e.a / 127.0, time=t)
            elif e.kind == "pan":
                eng.set_layer(lay, pan=max(-1.0, (e.a - 64.0) / 63.0), time=t)


def schedule_midi(engine: Any, song: MidiSong, seconds: float | None = None, block: int = 4096,
                  instrument: str | int | None = None, say: Callable[[str], None] | None = None,
                  progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Render ``song`` through ``engine`` (offline) into a new float32 [n, 2] array.

    ``seconds``: the length (default: the file's length, then until every voice has ended, at
    most ``TAIL_MAX_S`` more). ``instrument``: one instrument for every note but the drums
    (default: each channel's GM program). ``say`` gets the one-line notes (mapped programs,
    skipped drums).
    """
    if seconds is not None and not (0.0 < seconds <= 24 * 3600):
        raise ConfigError(f"seconds must be in 0..86400, not {seconds}")
    if block < 1:
        raise ConfigError("block must be >= 1 frame")
    fixed = None if instrument in (None, "auto") else engine.instrument_index(instrument)  # type: ignore[arg-type]
    sch = _Scheduler(engine, song, fixed, say or (lambda m: None))
    sr = engine.sample_rate
    total = int(round((seconds if seconds is not None else song.seconds + TAIL_MAX_S) * sr))
    end_file = int(round(song.seconds * sr))
    out = np.zeros((total, 2), np.float32)
    pos = 0
    while pos < total:
        sch.push_until((pos + block) / sr + LOOKAHEAD_S)
        m = min(block, total - pos)
        engine.render(out[pos:pos + m])
        pos += m
        if progress is not None:
            progress(pos / total)
        if seconds is None and pos >= end_file and sch.pos >= len(song.events) and engine.active_voices() == 0 \
                and int(engine.state.st[S_PQ_COUNT]) == 0:
            out = out[:pos]
            break
    return out


def render_midi_file(path_in: str, path_out: str, instrument: str | int | None = "auto",
                     timbre: str | Timbre = "neural", sr: int = 48000, seed: int = 0,
                     seconds: float | None = None, block: int = 4096,
                     say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Render a Standard MIDI File through an Engine to a WAV file (stereo, 24-bit).

    ``instrument``: an instrument name or index for every note (drums keep the kit), or
    ``"auto"`` / None for each channel's GM program. ``timbre``: ``"neural"`` (the additive
    fallback, said once, when the model cannot load), ``"additive"``, or a Timbre. Returns a
    summary dict (notes, seconds, peak, timbre, late voice-hops and voice-hops).
    """
    from ..backends.offline import write_wav
    from ..config import EngineSpec
    from ..engine import Engine

    if sr <= 0 or sr > 384000:
        raise ConfigError(f"unsupported sample rate {sr}")
    song = read_midi_events(path_in)
    if song.notes == 0:
        raise RtgenError(f"{path_in}: the file holds no notes")
    eng = Engine(EngineSpec(sample_rate=sr, seed=seed), timbre=timbre)
    audio = schedule_midi(eng, song, seconds=seconds, block=block, instrument=instrument, say=say)
    try:
        write_wav(path_out, audio, sr)
    except ConfigError:
        raise
    except Exception as e:
        raise RtgenError(f"{path_out}: cannot write the WAV file ({e})") from e
    st = eng.stats()
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return dict(notes=st["notes"], file_notes=song.notes, seconds=len(audio) / sr, peak=peak,
                timbre=st["timbre"], path=path_out, late_frames=st["late_frames"], voice_hops=st["voice_hops"])


__all__ = ["GM_FAMILIES", "MidiEvent", "MidiSong", "gm_instrument", "read_midi_events", "read_midi_notes",
           "render_midi_file", "render_notes", "schedule_midi"]
