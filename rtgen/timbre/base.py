"""The Timbre contract: how a timbre turns per-voice controls into synthesis parameters.

A timbre describes *what a voice sounds like*; the engine (or the offline renderer in
:mod:`rtgen.timbre.midifile`) does the synthesis. The split follows DDSP (Engel et al.,
"DDSP: Differentiable Digital Signal Processing", ICLR 2020): a model predicts controls of
a harmonic-plus-noise synthesiser, and fixed code scales them and removes harmonics that
would alias (above Nyquist).

Two ways a timbre feeds the engine:

* ``fill_tables(itab, iparam, sr)`` at load: one band-limited single-cycle wavetable per
  (instrument, MIDI note) plus per-instrument ADSR / gain / brightness / noise parameters
  (``IP_*`` in :mod:`rtgen.rt.layout`). Every table is **peak-normalised** (max |x| = 1);
  loudness lives outside the table (``IP_GAIN`` × velocity gain × envelope).
* ``get_controls(features, state)`` once per hop (``hop`` samples) for a batch of voices:
  overall amplitude, harmonic amplitudes (already masked above Nyquist) and noise band
  gains. The neural timbre's worker turns these into per-voice next-hop tables.

Noise bands are fixed absolute frequency bands (``NOISE_BAND_EDGES_HZ``); a band gain is
the RMS amplitude (linear, full scale = 1) of white noise band-passed to that band.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..rt.layout import N_HARM, N_NOISE_BANDS, TS

SAMPLE_RATE = 48000
HOP = 256
# Edges (Hz) of the N_NOISE_BANDS noise bands; the last band ends at Nyquist.
NOISE_BAND_EDGES_HZ: tuple[float, ...] = (0.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0, 9600.0, 16000.0, 24000.0)
# Semitones of pitch bend the wavetables leave room for before a harmonic could alias.
BEND_HEADROOM_SEMITONES = 2.0

# The instruments every built-in timbre provides, in engine index order: (name, GM program).
# Indices 0-7 are the original set and keep their numbers (presets use them). The drum kit
# (GM bank 128, program 0, MIDI channel 10) is listed with program DRUM_PROGRAM.
DRUM_PROGRAM = 128
INSTRUMENTS: tuple[tuple[str, int], ...] = (
    ("piano", 0),
    ("vibraphone", 11),
    ("nylon_guitar", 24),
    ("strings", 48),
    ("choir", 52),
    ("trumpet", 56),
    ("clarinet", 71),
    ("flute", 73),
    ("electric_piano", 4),
    ("organ", 16),
    ("steel_guitar", 25),
    ("electric_guitar", 27),
    ("acoustic_bass", 32),
    ("finger_bass", 33),
    ("synth_bass", 38),
    ("violin", 40),
    ("cello", 42),
    ("pizzicato", 45),
    ("trombone", 57),
    ("horns", 61),
    ("sax", 65),
    ("marimba", 12),
    ("synth_lead", 80),
    ("synth_pad", 89),
    ("drums", DRUM_PROGRAM),
)
DRUMS = len(INSTRUMENTS) - 1          # engine index of the GM drum kit
# Generation of the packaged timbre model's instrument set (metadata ``rtgen_model_generation``):
# 1 = the original eight instruments, 2 = the band of 25 with the kit.
MODEL_GENERATION = 2
# Instruments whose tables are built on a sub-multiple of the note's frequency: the drawbar
# organ sounds its 16' and 8' ranks an octave and two below the key's pitch, so its 64
# harmonics are counted from a quarter of it (``inote_hz`` = equal temperament × ratio).
NOTE_HZ_RATIO: dict[str, float] = {"organ": 0.25}
ONE_SHOT = frozenset({DRUMS})         # instruments whose note-off does not cut the note

# General MIDI family (program // 8) of each family, for the nearest-instrument mapping.
GM_FAMILIES: tuple[str, ...] = (
    "piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects",
)
# Families with none of the instruments above borrow from the one that sounds nearest.
_FAMILY_STANDIN: dict[int, str] = {
    12: "synth_pad", 15: "synth_pad",
}
_PROGRAM_STANDIN: dict[int, str] = {
    104: "nylon_guitar", 105: "steel_guitar", 106: "nylon_guitar", 107: "nylon_guitar", 108: "marimba",
    109: "clarinet", 110: "violin", 111: "sax", 112: "vibraphone", 113: "marimba", 114: "marimba",
    115: "marimba", 116: "marimba", 117: "marimba", 118: "marimba", 119: "synth_pad",
}

# The GM percussion keys of the kit (MIDI note → name), General MIDI Level 1, keys 35-81.
GM_DRUM_KEYS: dict[int, str] = {
    35: "acoustic bass drum", 36: "bass drum 1", 37: "side stick", 38: "acoustic snare", 39: "hand clap",
    40: "electric snare", 41: "low floor tom", 42: "closed hi-hat", 43: "high floor tom",
    44: "pedal hi-hat", 45: "low tom", 46: "open hi-hat", 47: "low-mid tom", 48: "hi-mid tom",
    49: "crash cymbal 1", 50: "high tom", 51: "ride cymbal 1", 52: "chinese cymbal", 53: "ride bell",
    54: "tambourine", 55: "splash cymbal", 56: "cowbell", 57: "crash cymbal 2", 58: "vibraslap",
    59: "ride cymbal 2", 60: "hi bongo", 61: "low bongo", 62: "mute hi conga", 63: "open hi conga",
    64: "low conga", 65: "high timbale", 66: "low timbale", 67: "high agogo", 68: "low agogo",
    69: "cabasa", 70: "maracas", 71: "short whistle", 72: "long whistle", 73: "short guiro",
    74: "long guiro", 75: "claves", 76: "hi wood block", 77: "low wood block", 78: "mute cuica",
    79: "open cuica", 80: "mute triangle", 81: "open triangle",
}


def note_frequencies(drum_hz: np.ndarray | list[float] | tuple[float, ...] | None = None,
                     n_instr: int | None = None) -> np.ndarray:
    """``inote_hz`` ``[n_instr, 128]`` float64: the frequency each (instrument, key) is synthesised at.

    0 means equal temperament from the key (the engine's default). The organ's rows hold a
    quarter of it (``NOTE_HZ_RATIO``); the kit's row holds each key's nominal frequency
    measured from its recording (``drum_hz``, 128 values, 0 for keys without a sound). Rows
    beyond ``len(INSTRUMENTS)`` repeat the list cyclically, as the engine's tables do.
    """
    n = len(INSTRUMENTS) if n_instr is None else int(n_instr)
    out = np.zeros((n, 128), dtype=np.float64)
    et = midi_to_hz(np.arange(128))
    for i in range(n):
        name = INSTRUMENTS[i % len(INSTRUMENTS)][0]
        if name in NOTE_HZ_RATIO:
            out[i] = et * NOTE_HZ_RATIO[name]
        elif i % len(INSTRUMENTS) == DRUMS and drum_hz is not None:
            out[i] = fill_kit_keys(np.asarray(drum_hz, dtype=np.float64)[:128])
    return out


def engine_plays_note_hz() -> bool:
    """True when the engine synthesises each (instrument, key) at ``inote_hz`` (its state holds that
    table); an engine without it plays every key at equal temperament, and tables must be built
    for that frequency instead."""
    from ..rt import state

    return "inote_hz" in state.EngineState._fields


def nearest_kit_key(key: int, has_sound: np.ndarray) -> int:
    """The key itself when the kit has a sound there, else the nearest key that has one (lower on ties)."""
    keys = np.nonzero(has_sound)[0]
    if keys.size == 0 or has_sound[key]:
        return int(key)
    return int(keys[np.argmin(np.abs(keys - key) * 2 + (keys > key))])


def fill_kit_keys(per_key: np.ndarray) -> np.ndarray:
    """``[128]`` values of the kit with the keys that have no sound (0) given the nearest key's value,
    so every MIDI key of channel 10 plays something."""
    has = per_key > 0
    return np.array([per_key[nearest_kit_key(k, has)] for k in range(128)])


def model_instruments_error(meta: dict[str, str], path: str) -> str | None:
    """The one-line reason a timbre model's metadata does not fit this rtgen's instrument set, or None.

    A model file from another version (the eight-instrument generation, or a set in another
    order) would play the wrong sounds through the engine's instrument indices, so the runtime
    refuses it with this message (``ModelError``) and uses the additive fallback instead.
    """
    import json

    want = [[n, p] for n, p in INSTRUMENTS]
    try:
        got = json.loads(meta.get("instruments", "[]"))
    except ValueError:
        return f"{path}: timbre model metadata 'instruments' is not JSON"
    gen = meta.get("rtgen_model_generation", "1")
    if gen != str(MODEL_GENERATION) or [[str(n), int(p)] for n, p in got] != want:
        return (f"{path}: timbre model of another version (generation {gen}, {len(got)} instruments), this "
                f"rtgen needs generation {MODEL_GENERATION} with {len(want)} instruments "
                f"({want[0][0]} ... {want[-1][0]}); reinstall rtgen or rebuild the model (models/README.md)")
    return None


def gm_program_instrument(program: int) -> tuple[int, bool]:
    """``(engine index, exact)`` of the instrument that plays General MIDI ``program`` (0-127).

    Exact when one of :data:`INSTRUMENTS` has that program; otherwise the instrument of the
    same GM family (program // 8) with the nearest program number (ties: the lower one), or
    for families without one (ethnic, percussive, effects) a stand-in that sounds nearest.
    ``exact`` is False then, so a caller can say once that the program was substituted.
    Raises ``ConfigError`` for a program outside 0-127.
    """
    p = int(program)
    if not 0 <= p <= 127:
        from ..errors import ConfigError

        raise ConfigError(f"General MIDI program {program!r} is outside 0-127")
    names = [n for n, _ in INSTRUMENTS]
    for i, (_, prog) in enumerate(INSTRUMENTS):
        if prog == p:
            return i, True
    if p in _PROGRAM_STANDIN:
        return names.index(_PROGRAM_STANDIN[p]), False
    fam = p // 8
    same = [(abs(prog - p), prog, i) for i, (_, prog) in enumerate(INSTRUMENTS)
            if prog != DRUM_PROGRAM and prog // 8 == fam]
    if same:
        return min(same)[2], False
    return names.index(_FAMILY_STANDIN.get(fam, "piano")), False


def midi_to_hz(note: np.ndarray | float) -> np.ndarray:
    """Equal-tempered frequency (Hz) of a MIDI note (float notes allowed), A4 = 69 = 440 Hz."""
    return 440.0 * np.power(2.0, (np.asarray(note, dtype=np.float64) - 69.0) / 12.0)


def velocity_gain(vel: np.ndarray | float) -> np.ndarray:
    """Velocity → linear gain (MIDI 1..127 → 0..1): (vel / 127) ** 1.6, as the engine's kernel."""
    v = np.clip(np.asarray(vel, dtype=np.float64), 0.0, 127.0) / 127.0
    return v ** 1.6


#: the brightness lowpass's cutoff never goes above this fraction of the sample rate (the kernel's clamp)
BRIGHT_MAX_FRACTION = 0.45


def brightness_cutoff(bright: float, f0: np.ndarray | float, vel: np.ndarray | float,
                      sr: float = SAMPLE_RATE) -> np.ndarray:
    """Cutoff (Hz) of the one-pole brightness lowpass: IP_BRIGHT × f0 × (0.25 + 0.75 vel/127), at most
    ``BRIGHT_MAX_FRACTION`` × ``sr``: the kernel's note-on formula, at the engine's sample rate."""
    v = np.clip(np.asarray(vel, dtype=np.float64), 0.0, 127.0) / 127.0
    return np.minimum(bright * np.asarray(f0, dtype=np.float64) * (0.25 + 0.75 * v), BRIGHT_MAX_FRACTION * sr)


def harmonic_mask(f0: np.ndarray, sr: float, n_harm: int = N_HARM) -> np.ndarray:
    """``[..., n_harm]`` float mask: 1 where harmonic k·f0 (k = 1..n_harm) lies below Nyquist."""
    k = np.arange(1, n_harm + 1, dtype=np.float64)
    return (np.asarray(f0, dtype=np.float64)[..., None] * k < 0.5 * sr).astype(np.float64)


def table_mask(note: float, sr: float, n_harm: int = N_HARM) -> np.ndarray:
    """Harmonics a wavetable for ``note`` may hold: below Nyquist even when bent up by the headroom."""
    return harmonic_mask(np.asarray(midi_to_hz(note + BEND_HEADROOM_SEMITONES)), sr, n_harm)


_BASIS_CACHE: dict[int, np.ndarray] = {}


def sine_basis(ts: int = TS, n_harm: int = N_HARM) -> np.ndarray:
    """``[n_harm, ts]`` float64: row k-1 holds one period of sin(2π k n / ts)."""
    key = ts * 1000 + n_harm
    b = _BASIS_CACHE.get(key)
    if b is None:
        n = np.arange(ts, dtype=np.float64)
        k = np.arange(1, n_harm + 1, dtype=np.float64)
        b = np.sin(2.0 * np.pi * k[:, None] * n[None, :] / ts)
        b.setflags(write=False)
        _BASIS_CACHE[key] = b
    return b


def tables_from_harmonics(amps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Peak-normalised single-cycle tables with a guard sample from harmonic amplitudes.

    ``amps``: ``[..., N_HARM]`` linear amplitudes (sine phase). Returns ``[..., TS + 1]`` float32,
    ``t[..., TS] == t[..., 0]``. An all-zero spectrum gives a silent table.
    """
    amps = np.asarray(amps, dtype=np.float64)
    basis = sine_basis(TS, amps.shape[-1])
    tab = amps @ basis
    peak = np.max(np.abs(tab), axis=-1, keepdims=True)
    tab = tab / np.where(peak > 1e-12, peak, 1.0)
    if out is None:
        out = np.empty(amps.shape[:-1] + (TS + 1,), dtype=np.float32)
    out[..., :TS] = tab
    out[..., TS] = out[..., 0]
    return out


def controls_to_tables(harmonics: np.ndarray, tab_out: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-voice tables from harmonic amplitudes: ``(tables [V, TS+1] float32 peak-normalised, gain [V])``.

    ``tables[v] * gain[v]`` is one period of sum_k harmonics[v, k] sin(2π (k+1) n / TS): the
    engine plays the table scaled by the gain (``nf_amp``).
    """
    h = np.ascontiguousarray(np.asarray(harmonics, dtype=np.float32).reshape(-1, np.shape(harmonics)[-1]))
    lead = np.shape(harmonics)[:-1]
    if tab_out is None:
        tab_out = np.empty(lead + (TS + 1,), dtype=np.float32)
    flat = tab_out.reshape(-1, TS + 1)
    gain = np.zeros(h.shape[0], dtype=np.float64)
    x = np.zeros(TS, dtype=np.float32)
    qb = quarter_basis(h.shape[1])
    for v in range(h.shape[0]):
        peak = sine_series_table(h[v], qb, x)
        gain[v] = peak
        inv = np.float32(1.0 / peak) if peak > 1e-12 else np.float32(0.0)
        np.multiply(x, inv, out=flat[v, :TS])
        flat[v, TS] = flat[v, 0]
    return tab_out, gain.reshape(lead)


_QBASIS: dict[int, np.ndarray] = {}


def quarter_basis(n_harm: int = N_HARM, ts: int = TS) -> np.ndarray:
    """``[n_harm, ts/4 + 1]`` float32: a quarter period of each harmonic's sine (see sine_series_table)."""
    key = ts * 1000 + n_harm
    b = _QBASIS.get(key)
    if b is None:
        b = np.ascontiguousarray(sine_basis(ts, n_harm)[:, :ts // 4 + 1], dtype=np.float32)
        _QBASIS[key] = b
    return b


@njit(cache=True, nogil=True, fastmath=True)
def sine_series_table(a: np.ndarray, qbasis: np.ndarray, x: np.ndarray) -> float:
    """x[n] = sum_k a[k] sin(2π (k+1) n / TS) for one period (TS = len(x)); returns max |x|.

    A sine series is odd about 0 and TS/2 and, per harmonic parity, even or odd about TS/4, so
    only a quarter period is summed: with o(n) / e(n) the sums over odd / even harmonics for
    n in [0, TS/4], x(n) = o + e, x(TS/2 - n) = o - e, x(TS - n) = -x(n).
    """
    q = qbasis.shape[1] - 1
    ts = 4 * q
    half = 2 * q
    o = np.zeros(q + 1, np.float32)
    ev = np.zeros(q + 1, np.float32)
    for k in range(a.shape[0]):
        ak = np.float32(a[k])
        if ak == 0.0:
            continue
        if k % 2 == 0:                   # harmonic number k + 1 is odd
            for i in range(q + 1):
                o[i] += ak * qbasis[k, i]
        else:
            for i in range(q + 1):
                ev[i] += ak * qbasis[k, i]
    peak = 0.0
    for i in range(q + 1):
        x[i] = o[i] + ev[i]
        x[half - i] = o[i] - ev[i]
    x[0] = 0.0
    x[half] = 0.0
    for i in range(1, half):
        x[ts - i] = -x[i]
    for i in range(half + 1):
        peak = max(peak, abs(x[i]))
    return peak


@dataclass
class VoiceFeatures:
    """Per-voice inputs of one hop, for a batch of V voices (all arrays shape ``[V]``).

    f0_hz: fundamental in Hz (bend included). velocity: MIDI 1..127. t_on: seconds since
    note-on. released: 1.0 once the note-off arrived (else 0.0). t_rel: seconds since the
    release began (0 while held). instrument: instrument index (float: a fractional value
    morphs between ``floor`` and ``ceil``; the additive timbre rounds it). Optional
    ``morph_to`` / ``morph`` (0..1) morph towards another instrument index (neural timbre).
    """

    f0_hz: np.ndarray
    velocity: np.ndarray
    t_on: np.ndarray
    released: np.ndarray
    t_rel: np.ndarray
    instrument: np.ndarray
    morph_to: np.ndarray | None = None
    morph: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(np.asarray(self.f0_hz).shape[0])


@dataclass
class Controls:
    """Synthesiser controls of one hop for V voices.

    amplitude: ``[V]`` overall linear amplitude (sum of the harmonic amplitudes).
    harmonics: ``[V, N_HARM]`` linear amplitude of harmonic k+1 (sine), zero above Nyquist;
    ``harmonics.sum(-1) == amplitude`` up to masking.
    noise: ``[V, N_NOISE_BANDS]`` RMS amplitude of the noise in each band of NOISE_BAND_EDGES_HZ.
    state: ``[V, H]`` recurrent state to pass to the next hop (H = 0 for stateless timbres).
    """

    amplitude: np.ndarray
    harmonics: np.ndarray
    noise: np.ndarray
    state: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


class Timbre(ABC):
    """A set of instruments the engine can play. See the module docstring for the contract."""

    name: str = "timbre"
    sample_rate: int = SAMPLE_RATE
    hop: int = HOP
    state_size: int = 0

    @abstractmethod
    def instruments(self) -> list[tuple[str, int]]:
        """``[(name, gm_program), ...]`` in engine instrument-index order."""

    @abstractmethod
    def get_controls(self, features: VoiceFeatures, state: np.ndarray | None = None) -> Controls:
        """Controls for the hop described by ``features``; ``state``: ``[V, state_size]`` or None (fresh)."""

    @abstractmethod
    def fill_tables(self, itab: np.ndarray, iparam: np.ndarray, sr: float) -> None:
        """Fill ``itab[N_INSTR, 128, TS + 1]`` float32 and ``iparam[N_INSTR, NIP]`` float64 in place.

        Instrument rows beyond ``len(instruments())`` repeat the list cyclically, so any index
        the engine may hold sounds. Tables are band-limited for their note at ``sr`` (with
        ``BEND_HEADROOM_SEMITONES`` of bend headroom), peak-normalised, finite, with the guard
        sample ``itab[..., TS] == itab[..., 0]``.
        """

    def note_frequencies(self, n_instr: int | None = None) -> np.ndarray:
        """``inote_hz`` ``[n_instr, 128]``: the frequency each (instrument, key) is synthesised at, 0 =
        equal temperament from the key (see :func:`note_frequencies`; the engine fills its
        ``inote_hz`` from this at load). The kit's keys use the nominal frequencies measured from
        its recordings."""
        from .additive_fit import DRUM_HZ

        return note_frequencies(DRUM_HZ, n_instr)

    def note_hz(self, n_instr: int) -> np.ndarray:
        """The engine's name for :meth:`note_frequencies` (it fills ``inote_hz`` from it at load)."""
        return self.note_frequencies(n_instr)

    def initial_state(self, n_voices: int) -> np.ndarray:
        """Recurrent state of fresh voices: ``[n_voices, state_size]`` float32 zeros."""
        return np.zeros((n_voices, self.state_size), dtype=np.float32)

    def instrument_index(self, name_or_program: str | int) -> int:
        """Engine index of an instrument given its name or GM program (nearest name match)."""
        insts = self.instruments()
        if isinstance(name_or_program, (int, np.integer)):
            for i, (_, prog) in enumerate(insts):
                if prog == int(name_or_program):
                    return i
            if 0 <= int(name_or_program) < len(insts):
                return int(name_or_program)
        else:
            key = str(name_or_program).strip().lower()
            for i, (nm, _) in enumerate(insts):
                if nm == key:
                    return i
            for i, (nm, _) in enumerate(insts):
                if nm.startswith(key) or key in nm:
                    return i
        from ..errors import ConfigError

        names = ", ".join(f"{n} (GM {p})" for n, p in insts)
        raise ConfigError(f"unknown instrument {name_or_program!r}; available: {names}")


__all__ = [
    "BEND_HEADROOM_SEMITONES", "BRIGHT_MAX_FRACTION", "DRUMS", "DRUM_PROGRAM", "GM_DRUM_KEYS", "GM_FAMILIES", "HOP",
    "INSTRUMENTS", "MODEL_GENERATION", "N_HARM", "N_NOISE_BANDS", "NOISE_BAND_EDGES_HZ", "NOTE_HZ_RATIO", "ONE_SHOT",
    "SAMPLE_RATE", "TS", "Controls", "Timbre", "VoiceFeatures", "brightness_cutoff", "controls_to_tables",
    "engine_plays_note_hz", "fill_kit_keys", "gm_program_instrument", "harmonic_mask", "midi_to_hz",
    "model_instruments_error", "nearest_kit_key", "note_frequencies", "quarter_basis", "sine_basis",
    "sine_series_table", "table_mask", "tables_from_harmonics", "velocity_gain",
]
