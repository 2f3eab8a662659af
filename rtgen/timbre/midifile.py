"""Offline rendering of a Standard MIDI File (or a note list) through a timbre's per-hop controls.

Every note is a voice whose controls come from ``timbre.get_controls`` once per hop
(voices are batched per hop; the neural timbre carries each voice's recurrent state from
hop to hop, exactly as the real-time worker does). Each hop's harmonic amplitudes become a
peak-normalised single-cycle table and a gain (``controls_to_tables``); the voice reads its
table with linear interpolation, crossfading from the previous hop's table and ramping the
gain across the hop. Noise: the band RMS of all voices add in power on a global hop grid
and scale 8 band-limited white noises. The output is mono duplicated to stereo.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

from ..errors import ConfigError, RtgenError
from ..rt.layout import N_NOISE_BANDS, NIP, TS
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
def _gm_to_instrument(program: int, timbre: Timbre) -> int:
    """Nearest built-in instrument for a GM program, by GM family."""
    fam = {0: "piano", 1: "vibraphone", 2: "clarinet", 3: "nylon_guitar", 4: "nylon_guitar", 5: "strings",
           6: "strings", 7: "trumpet", 8: "clarinet", 9: "flute"}.get(program // 8, "strings")
    if 52 <= program <= 54:
        fam = "choir"
    return timbre.instrument_index(fam)


def read_midi_notes(path: str) -> list[tuple[float, float, int, int, int, int]]:
    """``[(start_s, dur_s, pitch, velocity, channel, program), ...]`` of a Standard MIDI File.

    Tempo changes are honoured (mido), the sustain pedal (CC 64) holds notes, channel 10
    (GM percussion) is skipped. Raises RtgenError for a missing or unreadable file.
    """
    import mido

    if not os.path.isfile(path):
        raise RtgenError(f"{path}: MIDI file not found")
    try:
        mid = mido.MidiFile(path)
        msgs = list(mid)
    except Exception as e:
        raise RtgenError(f"{path}: not a readable Standard MIDI File ({type(e).__name__}: {e})") from e
    t = 0.0
    program = [0] * 16
    pedal = [False] * 16
    held: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    sustained: list[tuple[int, int, float, int, int]] = []
    notes: list[tuple[float, float, int, int, int, int]] = []

    def close(ch: int, note: int, when: float) -> None:
        stack = held.get((ch, note))
        if stack:
            t0, vel, prog = stack.pop(0)
            notes.append((t0, max(when - t0, 0.005), note, vel, ch, prog))

    for msg in msgs:
        t += float(msg.time)
        if msg.is_meta or not hasattr(msg, "channel"):
            continue
        ch = msg.channel
        if msg.type == "program_change":
            program[ch] = int(msg.program)
        elif msg.type == "control_change" and msg.control == 64:
            down = msg.value >= 64
            if pedal[ch] and not down:
                for c2, n2, _, _, _ in [s for s in sustained if s[0] == ch]:
                    close(c2, n2, t)
                sustained[:] = [s for s in sustained if s[0] != ch]
            pedal[ch] = down
        elif ch == 9:
            continue
        elif msg.type == "note_on" and msg.velocity > 0:
            held.setdefault((ch, msg.note), []).append((t, int(msg.velocity), program[ch]))
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            if pedal[ch]:
                sustained.append((ch, msg.note, t, 0, 0))
            else:
                close(ch, msg.note, t)
    for (ch, note), stack in list(held.items()):
        while stack:
            close(ch, note, t)
    notes.sort()
    return notes


def render_midi_file(path_in: str, path_out: str, instrument: str | int | None = "auto",
                     timbre: str | Timbre = "neural", sr: int = 48000, seed: int = 0) -> dict:
    """Render a Standard MIDI File to a WAV file (stereo, 16-bit) through ``timbre``.

    ``instrument``: an instrument name or GM program for every note, or ``"auto"`` / None to
    map each channel's GM program to the nearest built-in instrument. ``timbre``:
    ``"neural"`` (falls back to additive with a warning if the model cannot load),
    ``"additive"``, or a Timbre. Returns a summary dict (notes, seconds, peak, timbre).
    """
    import soundfile as sf

    from . import load_timbre

    if sr <= 0 or sr > 384000:
        raise ConfigError(f"unsupported sample rate {sr}")
    tb = load_timbre(timbre) if isinstance(timbre, str) else timbre
    notes = read_midi_notes(path_in)
    if not notes:
        raise RtgenError(f"{path_in}: the file holds no (non-percussion) notes")
    fixed = None if instrument is None or instrument == "auto" else tb.instrument_index(instrument)
    rows = [(t0, d, float(p), float(v), float(fixed if fixed is not None else _gm_to_instrument(prog, tb)))
            for t0, d, p, v, _ch, prog in notes]
    mono = render_notes(tb, rows, sr=sr, seed=seed)
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > 0.98:
        mono = mono * (0.98 / peak)
    try:
        sf.write(path_out, np.stack([mono, mono], axis=1), sr, subtype="PCM_16")
    except Exception as e:
        raise RtgenError(f"{path_out}: cannot write the WAV file ({e})") from e
    return dict(notes=len(rows), seconds=len(mono) / sr, peak=peak, timbre=tb.name, path=path_out)


__all__ = ["read_midi_notes", "render_midi_file", "render_notes", "NIP"]
