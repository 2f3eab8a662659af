"""AdditiveTimbre: the always-available fallback (no model, no onnxruntime).

Each instrument is a harmonic spectrum, an ADSR, a brightness lowpass that opens with
velocity and a noise profile over the fixed noise bands. The original eight instruments are
hand-designed (a function of the harmonic number and, for formant-like instruments, of the
harmonic's frequency); the instruments added with the band are fitted from their SoundFont
recordings by ``models/fit_additive.py`` (``additive_fit``: spectra at reference pitches
interpolated in pitch, envelope, noise; the kit: a spectrum per key played at the key's
nominal frequency). It is the baseline the neural timbre is measured against.

Envelope semantics (as the engine's kernel plays them; the offline renderer follows them):
attack rises linearly 0 → 1 in ``IP_ATTACK`` s, then falls exponentially towards
``IP_SUSTAIN`` (the gap shrinks by 60 dB in ``IP_DECAY`` s); with ``IP_DECAY_TIME`` > 0 the
held level also falls by 60 dB every ``IP_DECAY_TIME`` s (struck and plucked instruments).
After the note-off the level reached falls by 60 dB every ``IP_RELEASE`` s; the voice ends
at -80 dB. Noise falls by 60 dB in ``IP_NOISE_DECAY`` s when that is > 0, else follows the
envelope. Velocity gain and brightness cutoff: :func:`velocity_gain`, :func:`brightness_cutoff`.
"""

from __future__ import annotations

import numpy as np

from ..rt.layout import (
    IP_ATTACK,
    IP_BRIGHT,
    IP_DECAY,
    IP_DECAY_TIME,
    IP_GAIN,
    IP_NOISE,
    IP_NOISE_BAND,
    IP_NOISE_DECAY,
    IP_RELEASE,
    IP_SUSTAIN,
    N_HARM,
    N_NOISE_BANDS,
    NIP,
    TS,
)
from . import additive_fit
from .base import (
    DRUMS,
    INSTRUMENTS,
    Controls,
    Timbre,
    VoiceFeatures,
    brightness_cutoff,
    engine_plays_note_hz,
    harmonic_mask,
    midi_to_hz,
    nearest_kit_key,
    note_frequencies,
    table_mask,
    tables_from_harmonics,
    velocity_gain,
)

_K = np.arange(1, N_HARM + 1, dtype=np.float64)


def _formant(freq: np.ndarray, centres: tuple[float, ...], widths: tuple[float, ...],
             gains: tuple[float, ...]) -> np.ndarray:
    env = np.full_like(freq, 0.02)
    for c, w, g in zip(centres, widths, gains, strict=True):
        env = env + g / (1.0 + ((freq - c) / w) ** 2)
    return env


_DRUM_KEYS = np.array(sorted(additive_fit.DRUM_SPECTRA), dtype=np.int64)
_DRUM_HZ = np.asarray(additive_fit.DRUM_HZ, dtype=np.float64)


def _fitted_spectrum(name: str, f0: np.ndarray) -> np.ndarray:
    """Fitted harmonic amplitudes ``[V, N_HARM]``: the dB rows at the reference pitches,
    interpolated linearly in dB along the pitch of ``f0``."""
    rows = np.asarray(additive_fit.SPECTRA[name], dtype=np.float64)          # [R, N_HARM]
    ref = np.asarray(additive_fit.REF_PITCHES, dtype=np.float64)
    pitch = 69.0 + 12.0 * np.log2(np.maximum(np.asarray(f0, dtype=np.float64).reshape(-1), 1e-3) / 440.0)
    x = np.clip(pitch, ref[0], ref[-1])
    j = np.clip(np.searchsorted(ref, x) - 1, 0, len(ref) - 2)
    w = ((x - ref[j]) / (ref[j + 1] - ref[j]))[:, None]
    db = (1.0 - w) * rows[j] + w * rows[j + 1]
    return np.power(10.0, db / 20.0) * (db > -89.5)


def drum_key_of(f0: np.ndarray) -> np.ndarray:
    """The kit key whose nominal frequency is nearest each ``f0`` (the fallback's drum voices are
    identified by the frequency the engine plays them at)."""
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    hz = _DRUM_HZ[_DRUM_KEYS]
    d = np.abs(np.log2(np.maximum(f0[:, None], 1e-3) / np.maximum(hz[None, :], 1e-3)))
    return _DRUM_KEYS[np.argmin(d, axis=1)]


def _drum_spectrum(keys: np.ndarray) -> np.ndarray:
    out = np.zeros((len(keys), N_HARM))
    has = np.zeros(128, dtype=bool)
    has[_DRUM_KEYS] = True
    for j, k in enumerate(np.asarray(keys, dtype=np.int64)):
        row = additive_fit.DRUM_SPECTRA.get(nearest_kit_key(int(k), has))
        if row is not None:
            db = np.asarray(row, dtype=np.float64)
            out[j] = np.power(10.0, db / 20.0) * (db > -89.5)
    return out


def _spectrum(instr: int, f0: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
    """Harmonic amplitudes ``[..., N_HARM]`` (before brightness and masking); ``keys``: the MIDI
    keys (the kit's spectra are per key; without them the key is found from ``f0``)."""
    f0 = np.asarray(f0, dtype=np.float64)[..., None]
    k = _K
    freq = f0 * k
    name = INSTRUMENTS[instr % len(INSTRUMENTS)][0]
    if instr % len(INSTRUMENTS) == DRUMS:
        kk = drum_key_of(f0[..., 0]) if keys is None else np.asarray(keys).reshape(-1)
        return _drum_spectrum(kk).reshape(f0.shape[:-1] + (N_HARM,))
    if name in additive_fit.SPECTRA:
        return _fitted_spectrum(name, f0[..., 0]).reshape(f0.shape[:-1] + (N_HARM,))
    if name == "piano":
        # hammer struck near 1/8 of the string: a soft notch around every 8th partial
        amps = k ** -1.5 * (0.35 + 0.65 * np.abs(np.sin(np.pi * k / 8.0)))
        amps = amps * np.exp(-freq / 6000.0)
    elif name == "vibraphone":
        # aluminium bar tuned so the strong overtone sits near the 4th harmonic
        amps = np.where(k == 1, 1.0, 0.0) + np.where(k == 4, 0.25, 0.0) + np.where(k == 10, 0.04, 0.0)
        amps = amps + 0.01 * k ** -2.0
    elif name == "nylon_guitar":
        beta = 0.18   # plucking point as a fraction of the string
        amps = np.abs(np.sin(np.pi * k * beta)) / (k ** 1.3)
        amps = amps * np.exp(-freq / 3500.0)
    elif name == "strings":
        body = _formant(freq, (500.0, 1500.0, 3000.0), (300.0, 700.0, 1200.0), (1.0, 0.6, 0.3))
        amps = k ** -1.0 * np.exp(-freq / 5000.0) * body
    elif name == "choir":
        # an "ah" vowel: formants near 730, 1090 and 2440 Hz
        amps = k ** -0.6 * _formant(freq, (730.0, 1090.0, 2440.0), (90.0, 110.0, 160.0), (1.0, 0.5, 0.25))
    elif name == "trumpet":
        bell = _formant(freq, (1200.0, 2500.0), (600.0, 900.0), (1.0, 0.5))
        amps = k ** -0.7 * bell * np.exp(-freq / 7000.0)
    elif name == "clarinet":
        odd = (k % 2) == 1
        # cylindrical bore: odd harmonics dominate below ~1.8 kHz, even ones come back above
        even_gain = np.clip(freq / 1800.0, 0.05, 1.0)
        amps = np.where(odd, 1.0, even_gain) * k ** -1.1 * np.exp(-freq / 5000.0)
    elif name == "flute":
        amps = np.where(k == 1, 1.0, 0.0) + np.where(k == 2, 0.3, 0.0) + np.where(k == 3, 0.12, 0.0)
        amps = amps + 0.05 * k ** -2.5 * (k > 3)
    else:  # pragma: no cover - INSTRUMENTS is closed
        amps = 1.0 / k
    return np.broadcast_to(amps, f0.shape[:-1] + (N_HARM,)).astype(np.float64)


# Per-instrument parameters: attack (s, linear), decay (s to -60 dB), sustain, release (s to
# -60 dB), gain, brightness (× f0), noise amount, noise decay (s to -60 dB), noise band
# gains (8), percussive decay (s to -60 dB while held).
_Row = tuple[float, float, float, float, float, float, float, float, tuple[float, ...], float]
_PARAMS: dict[str, _Row] = {
    "piano": (0.004, 0.6, 0.6, 0.5, 0.45, 14.0, 0.06, 0.15,
              (0.6, 1.0, 0.8, 0.5, 0.3, 0.15, 0.05, 0.02), 6.0),
    "vibraphone": (0.003, 0.2, 1.0, 0.8, 0.40, 12.0, 0.02, 0.08,
              (0.1, 0.2, 0.4, 0.8, 1.0, 0.6, 0.3, 0.1), 6.0),
    "nylon_guitar": (0.003, 0.5, 0.5, 0.3, 0.45, 10.0, 0.04, 0.1,
              (0.3, 0.6, 1.0, 0.8, 0.5, 0.3, 0.1, 0.03), 4.0),
    "strings": (0.12, 0.4, 0.9, 0.35, 0.30, 30.0, 0.05, 0.0,
              (0.1, 0.3, 0.6, 1.0, 0.9, 0.6, 0.3, 0.1), 0.0),
    "choir": (0.15, 0.3, 0.9, 0.6, 0.30, 24.0, 0.06, 0.0,
              (0.1, 0.3, 0.5, 0.8, 1.0, 0.7, 0.4, 0.15), 0.0),
    "trumpet": (0.03, 0.3, 0.8, 0.2, 0.35, 30.0, 0.03, 0.0,
              (0.05, 0.2, 0.5, 1.0, 0.8, 0.5, 0.2, 0.05), 0.0),
    "clarinet": (0.04, 0.3, 0.9, 0.2, 0.35, 24.0, 0.03, 0.0,
              (0.05, 0.15, 0.4, 0.8, 1.0, 0.6, 0.2, 0.05), 0.0),
    "flute": (0.06, 0.3, 0.85, 0.2, 0.35, 10.0, 0.10, 0.0,
              (0.02, 0.05, 0.15, 0.4, 0.8, 1.0, 0.6, 0.2), 0.0),
}
_PARAMS.update({k: v for k, v in additive_fit.PARAMS.items() if k not in _PARAMS})


def instrument_params(instr: int) -> np.ndarray:
    """``[NIP]`` float64 parameter row (IP_* columns) of instrument ``instr`` (cyclic)."""
    name = INSTRUMENTS[instr % len(INSTRUMENTS)][0]
    a, d, s, r, g, b, nz, nd, bands, dt = _PARAMS[name]
    row = np.zeros(NIP, dtype=np.float64)
    row[IP_ATTACK] = a
    row[IP_DECAY] = d
    row[IP_SUSTAIN] = s
    row[IP_RELEASE] = r
    row[IP_GAIN] = g
    row[IP_BRIGHT] = b
    row[IP_NOISE] = nz
    row[IP_NOISE_DECAY] = nd
    row[IP_NOISE_BAND:IP_NOISE_BAND + N_NOISE_BANDS] = bands
    row[IP_DECAY_TIME] = dt
    return row


LN1000 = 6.907755278982137      # ln(1000): -60 dB


def adsr_level(ip: np.ndarray, t_on: np.ndarray, released: np.ndarray, t_rel: np.ndarray) -> np.ndarray:
    """Envelope level (0..1) per voice; ``ip`` is ``[V, NIP]``, times in seconds (see module doc)."""
    a = np.maximum(ip[:, IP_ATTACK], 1e-4)
    d = np.maximum(ip[:, IP_DECAY], 1e-4)
    s = ip[:, IP_SUSTAIN]
    r = np.maximum(ip[:, IP_RELEASE], 1e-4)
    t60 = ip[:, IP_DECAY_TIME]

    def held(t: np.ndarray) -> np.ndarray:
        after = np.maximum(t - a, 0.0)
        lev = np.where(t < a, t / a, s + (1.0 - s) * np.exp(-LN1000 * after / d))
        return np.where(t60 > 0, lev * np.exp(-LN1000 * after / np.where(t60 > 0, t60, 1.0)), lev)

    t_on = np.maximum(np.asarray(t_on, dtype=np.float64), 0.0)
    t_rel = np.maximum(np.asarray(t_rel, dtype=np.float64), 0.0)
    rel = np.asarray(released, dtype=np.float64) > 0.5
    at_release = held(np.maximum(t_on - t_rel, 0.0))
    out = np.where(rel, at_release * np.exp(-LN1000 * t_rel / r), held(t_on))
    return np.where(out < 1e-4, 0.0, out)


def release_seconds(instr: int) -> float:
    """How long a released note of ``instr`` sounds at most (to -80 dB from full level)."""
    return float(instrument_params(instr)[IP_RELEASE]) * 80.0 / 60.0


class AdditiveTimbre(Timbre):
    """Hand-designed harmonic spectra + noise + ADSR per instrument (the fallback)."""

    name = "additive"

    def instruments(self) -> list[tuple[str, int]]:
        return list(INSTRUMENTS)

    def note_frequencies(self, n_instr: int | None = None) -> np.ndarray:
        return note_frequencies(_DRUM_HZ, n_instr)

    def fill_tables(self, itab: np.ndarray, iparam: np.ndarray, sr: float) -> None:
        n_instr = itab.shape[0]
        n_notes = itab.shape[1]
        if itab.shape[2] != TS + 1 or iparam.shape[0] != n_instr or iparam.shape[1] < NIP:
            raise ValueError(f"itab must be [N_INSTR, 128, {TS + 1}] and iparam [N_INSTR, {NIP}], "
                             f"got {itab.shape} and {iparam.shape}")
        self.sample_rate = int(sr)            # get_controls works at the engine's rate (brightness clamp)
        notes = np.arange(n_notes)
        hz = note_frequencies(_DRUM_HZ, n_instr) if engine_plays_note_hz() else np.zeros((n_instr, n_notes))
        for i in range(n_instr):
            f0 = np.where(hz[i, :n_notes] > 0, hz[i, :n_notes], midi_to_hz(notes))
            pitch = 69.0 + 12.0 * np.log2(np.maximum(f0, 1e-3) / 440.0)
            masks = np.stack([table_mask(float(q), sr) for q in pitch])          # [128, N_HARM]
            amps = _spectrum(i, f0, notes) * masks
            tables_from_harmonics(amps, out=itab[i])
            iparam[i, :] = 0.0
            iparam[i, :NIP] = instrument_params(i)

    def get_controls(self, features: VoiceFeatures, state: np.ndarray | None = None) -> Controls:
        f0 = np.asarray(features.f0_hz, dtype=np.float64)
        n = f0.shape[0]
        instr = np.rint(np.asarray(features.instrument, dtype=np.float64)).astype(np.int64) % len(INSTRUMENTS)
        ip = np.stack([instrument_params(int(i)) for i in instr]) if n else np.zeros((0, NIP))
        vel = np.asarray(features.velocity, dtype=np.float64)
        env = adsr_level(ip, features.t_on, features.released, features.t_rel)
        amp = ip[:, IP_GAIN] * velocity_gain(vel) * env
        harm = np.zeros((n, N_HARM), dtype=np.float64)
        for i in np.unique(instr):
            sel = instr == i
            harm[sel] = _spectrum(int(i), f0[sel])
        harm *= harmonic_mask(f0, self.sample_rate)
        # the table is peak-normalised, then the brightness one-pole lowpass acts on it
        peak = np.max(np.abs(harm @ _basis_coarse()), axis=-1)
        harm /= np.where(peak > 1e-12, peak, 1.0)[:, None]
        fc = (np.stack([brightness_cutoff(ip[j, IP_BRIGHT], f0[j], vel[j], self.sample_rate) for j in range(n)])
              if n else f0)
        harm *= 1.0 / np.sqrt(1.0 + (f0[:, None] * _K[None, :] / fc[:, None]) ** 2)
        harm *= amp[:, None]
        t_on = np.asarray(features.t_on, dtype=np.float64)
        nd = ip[:, IP_NOISE_DECAY]
        nenv = np.where(nd > 0, np.exp(-LN1000 * t_on / np.where(nd > 0, nd, 1.0)) * env, env)
        noise = (ip[:, IP_NOISE] * ip[:, IP_GAIN] * velocity_gain(vel) * nenv)[:, None] \
            * ip[:, IP_NOISE_BAND:IP_NOISE_BAND + N_NOISE_BANDS]
        return Controls(amplitude=harm.sum(-1), harmonics=harm, noise=noise,
                        state=np.zeros((n, 0), dtype=np.float32))


_COARSE: list[np.ndarray] = []


def _basis_coarse() -> np.ndarray:
    """A 256-point sine basis: enough to find a table's peak for normalisation."""
    if not _COARSE:
        n = np.arange(256, dtype=np.float64)
        _COARSE.append(np.sin(2.0 * np.pi * _K[:, None] * n[None, :] / 256.0))
    return _COARSE[0]
