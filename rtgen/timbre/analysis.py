"""Reference recordings, harmonic-plus-noise analysis, model features and the spectral distance.

Shared by the dataset builder (``models/build_dataset.py``), the training script, the
benchmark and the tests, so every one of them analyses, featurises and measures a note the
same way. Rendering a SoundFont needs ``tinysoundfont`` (imported lazily; it is a training /
evaluation extra, never needed to play).

Analysis of one note (f0 known from the MIDI pitch), per hop ``j`` on a Hann window centred
on sample ``(j + 0.5) * HOP`` after the note-on, window length >= 6 periods (1024..4096):

* harmonic k amplitude: sqrt of the power in the 3 bins around the strongest bin near k·f0
  (±(1.5 + 0.5 %) bins, at most 0.4 harmonic spacings), calibrated so a sine of amplitude a
  reads a (for a Hann window this 3-bin power hardly depends on where the sine falls);
* noise band b: RMS of what is left once the main lobes of the harmonics are removed, the
  removed bins' share made up from the remaining ones.
"""

from __future__ import annotations

import os

import numpy as np

from ..rt.layout import N_HARM, N_NOISE_BANDS
from .base import HOP, NOISE_BAND_EDGES_HZ, SAMPLE_RATE, midi_to_hz

N_FEATURES = 5
FEATURE_NAMES = (
    "pitch_norm: (MIDI pitch - 66) / 18, i.e. normalised log-f0",
    "velocity: MIDI velocity / 127",
    "t_on: log1p(seconds since note-on / 0.02) / log1p(200), clipped to 1.5",
    "released: 1 after the note-off, else 0",
    "t_rel: log1p(seconds since note-off / 0.02) / log1p(200), clipped to 1.5 (0 while held)",
)
_TLOG = float(np.log1p(4.0 / 0.02))

# Note grid. Which keys are trained and which are held out is decided per instrument from the
# SoundFont's zones (``note_split``): held-out notes play samples no training note plays.
TRAIN_VELOCITIES = (40, 70, 100, 127)
TRAIN_DURATIONS = (0.25, 0.7, 1.8)
HELDOUT_VELOCITIES = (55, 85, 115)
HELDOUT_DURATION = 0.8
TAIL_SECONDS = 0.8
DRUM_SECONDS = 2.0           # a drum hit is recorded for this long, never released (one-shot)
TRAIN_KEY_STEP = 2           # every 2nd training key of the playing range

# Playing range (lowest, highest MIDI note) per instrument name, where the model is trained.
PLAYING_RANGE: dict[str, tuple[int, int]] = {
    "piano": (28, 103), "vibraphone": (53, 89), "nylon_guitar": (40, 84), "strings": (36, 96),
    "choir": (45, 81), "trumpet": (54, 88), "clarinet": (50, 91), "flute": (60, 96),
    "electric_piano": (33, 96), "organ": (36, 96), "steel_guitar": (40, 84), "electric_guitar": (40, 86),
    "acoustic_bass": (28, 62), "finger_bass": (28, 64), "synth_bass": (28, 67), "violin": (55, 100),
    "cello": (36, 76), "pizzicato": (36, 91), "trombone": (40, 77), "horns": (41, 84), "sax": (49, 84),
    "marimba": (45, 96), "synth_lead": (48, 96), "synth_pad": (36, 96), "drums": (35, 81),
}

def neural_features(pitch: np.ndarray, vel: np.ndarray, t_on: np.ndarray, released: np.ndarray,
                    t_rel: np.ndarray) -> np.ndarray:
    """``[V, N_FEATURES]`` float32 model inputs (see FEATURE_NAMES); times in seconds."""
    pitch = np.asarray(pitch, dtype=np.float64)
    out = np.empty(pitch.shape + (N_FEATURES,), dtype=np.float32)
    out[..., 0] = (pitch - 66.0) / 18.0
    out[..., 1] = np.asarray(vel, dtype=np.float64) / 127.0
    out[..., 2] = np.minimum(np.log1p(np.maximum(t_on, 0.0) / 0.02) / _TLOG, 1.5)
    rel = (np.asarray(released, dtype=np.float64) > 0.5).astype(np.float64)
    out[..., 3] = rel
    out[..., 4] = rel * np.minimum(np.log1p(np.maximum(t_rel, 0.0) / 0.02) / _TLOG, 1.5)
    return out


# ------------------------------------------------------------------ SoundFont reference
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",        # Debian / Ubuntu fluid-soundfont-gm (MIT)
    "/usr/share/soundfonts/FluidR3_GM.sf2",        # Fedora, Arch
    "/usr/share/sounds/sf2/default-GM.sf2",
)
SOUNDFONT_NAME = "FluidR3_GM.sf2 (Frank Wen, MIT licence; Debian package fluid-soundfont-gm)"


def soundfont_path() -> str:
    """The General MIDI SoundFont the model learns from: ``$RTGEN_SOUNDFONT`` or FluidR3_GM.sf2.

    Raises ``FileNotFoundError`` naming the places looked at when there is none.
    """
    env = os.environ.get("RTGEN_SOUNDFONT")
    if env:
        if not os.path.isfile(env):
            raise FileNotFoundError(f"RTGEN_SOUNDFONT={env}: no such file")
        return env
    for c in SOUNDFONT_CANDIDATES:
        if os.path.isfile(c):
            return c
    raise FileNotFoundError("FluidR3_GM.sf2 not found (install the fluid-soundfont-gm package or set "
                            f"RTGEN_SOUNDFONT); looked at {', '.join(SOUNDFONT_CANDIDATES)}")


def bank_program(gm_program: int) -> tuple[int, int]:
    """SoundFont (bank, preset) of an instrument's GM program (the kit is bank 128, preset 0)."""
    from .base import DRUM_PROGRAM

    return (128, 0) if gm_program == DRUM_PROGRAM else (0, int(gm_program))


class SoundFontRenderer:
    """Renders isolated notes of a GM program with tinysoundfont, mono float32."""

    def __init__(self, sr: int = SAMPLE_RATE, path: str | None = None) -> None:
        import tinysoundfont

        self.sr = int(sr)
        self.path = path or soundfont_path()
        self.synth = tinysoundfont.Synth(samplerate=self.sr)
        self.sfid = self.synth.sfload(self.path)
        self.program = -1

    def note(self, program: int, pitch: int, vel: int, dur: float, tail: float = TAIL_SECONDS) -> np.ndarray:
        """Note-on at sample 0, note-off after ``dur`` s, ``tail`` s of release; mono float32.

        ``program`` is the instrument's GM program (``DRUM_PROGRAM`` for the kit: channel 10 mode).
        """
        s = self.synth
        if program != self.program:
            bank, preset = bank_program(program)
            s.program_select(0, self.sfid, bank, preset, is_drums=bank == 128)
            self.program = program
        s.sounds_off()
        s.generate(4096)                         # flush anything left from the previous note
        n_on = int(round(dur * self.sr))
        n_tail = int(round(tail * self.sr))
        s.noteon(0, int(pitch), int(vel))
        a = np.frombuffer(s.generate(n_on), dtype=np.float32).reshape(-1, 2)
        s.noteoff(0, int(pitch))
        parts = [a]
        if n_tail > 0:
            parts.append(np.frombuffer(s.generate(n_tail), dtype=np.float32).reshape(-1, 2))
        return np.concatenate(parts).mean(axis=1).astype(np.float32)


def note_split(instr: int, path: str | None = None) -> tuple[list[int], list[int]]:
    """``(train_keys, heldout_keys)`` of instrument ``instr`` from the SoundFont's zones.

    Pitched instruments: two whole key zones inside the playing range (those holding the keys
    at 40 % and 75 % of it) are held out; training keys play none of their samples
    (:func:`rtgen.timbre.sf2zones.heldout_split`), taken every ``TRAIN_KEY_STEP`` keys. Where one
    zone spans the whole keyboard (organ: velocity layers; pad) no key is free of held-out
    samples; the held-out keys are then the anchors and training uses the other keys (the
    split is by pitch only, and :func:`split_is_by_sample` says so). The kit: every key trains
    (each key is its own sound); held out are its velocities.
    """
    from .base import DRUM_PROGRAM, INSTRUMENTS
    from .sf2zones import heldout_split

    name, prog = INSTRUMENTS[instr]
    lo, hi = PLAYING_RANGE[name]
    zones = _zones(path)
    bank, preset = bank_program(prog)
    keys = list(range(lo, hi + 1))
    if prog == DRUM_PROGRAM:
        present = [k for k in keys if zones.key_samples(bank, preset, k)]
        return present, present
    # key zones of the range: runs of keys playing the same samples; held out are interior ones
    runs: list[list[int]] = []
    prev = None
    for k in keys:
        ks = zones.key_samples(bank, preset, k)
        if runs and ks == prev:
            runs[-1].append(k)
        else:
            runs.append([k])
        prev = ks
    interior = [r for r in runs if r[0] != lo and r[-1] != hi]
    chosen: list[list[int]] = []
    for pos in (0.4, 0.75):
        target = lo + pos * (hi - lo)
        for r in sorted(interior, key=lambda r: abs(0.5 * (r[0] + r[-1]) - target)):
            if r in chosen or any(abs(r[0] - c[-1]) <= 1 or abs(c[0] - r[-1]) <= 1 for c in chosen):
                continue
            if sum(len(c) for c in chosen) + len(r) <= 0.35 * len(keys):
                chosen.append(r)
            break
    if chosen:
        train, held = heldout_split(zones, bank, preset, keys, tuple(c[len(c) // 2] for c in chosen))
    if not chosen or not train:                  # one zone over the whole keyboard
        anchors = (lo + round(0.4 * (hi - lo)), lo + round(0.75 * (hi - lo)))
        held = list(anchors)
        train = [k for k in keys if all(abs(k - a) > 2 for a in anchors)]
    return train[::TRAIN_KEY_STEP], held


def split_is_by_sample(instr: int, path: str | None = None) -> bool:
    """True when the held-out notes of ``instr`` play no sample any training note plays."""
    from .base import INSTRUMENTS

    train, held = note_split(instr, path)
    zones = _zones(path)
    bank, preset = bank_program(INSTRUMENTS[instr][1])
    seen: set[int] = set()
    for k in train:
        seen |= zones.key_samples(bank, preset, k)
    return all(not (zones.key_samples(bank, preset, k) & seen) for k in held)


def heldout_notes(instr: int, path: str | None = None, per_zone: int = 2) -> list[tuple[int, int]]:
    """``[(key, velocity), ...]`` held-out notes of ``instr``: up to ``per_zone`` keys of each
    held-out zone (its middle and an edge) × ``HELDOUT_VELOCITIES``; the kit: every key at each."""
    from .base import DRUM_PROGRAM, INSTRUMENTS

    _, held = note_split(instr, path)
    if INSTRUMENTS[instr][1] == DRUM_PROGRAM:
        return [(k, v) for k in held for v in HELDOUT_VELOCITIES]
    groups: list[list[int]] = []
    for k in held:
        if groups and k == groups[-1][-1] + 1:
            groups[-1].append(k)
        else:
            groups.append([k])
    keys: list[int] = []
    for g in groups:
        pick = [g[len(g) // 2], g[-1]][:per_zone]
        keys.extend(dict.fromkeys(pick))
    return [(k, v) for k in keys for v in HELDOUT_VELOCITIES]


_ZONES: dict[str, object] = {}


def _zones(path: str | None):  # type: ignore[no-untyped-def]
    from .sf2zones import read_zones

    p = path or soundfont_path()
    z = _ZONES.get(p)
    if z is None:
        z = read_zones(p)
        _ZONES[p] = z
    return z


# ------------------------------------------------------------------ analysis
def _window_size(f0: float, sr: int) -> int:
    n = 1024
    while n < 4096 and n < 6.0 * sr / f0:
        n *= 2
    return n


def _frames_power(x: np.ndarray, n: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed power spectra ``[J, n/2+1]`` centred on ``(j + 0.5) * hop`` and the window."""
    n_frames = len(x) // hop
    pad = np.concatenate([np.zeros(n), x, np.zeros(n)])
    centres = (np.arange(n_frames) + 0.5) * hop + n
    starts = (centres - n // 2).astype(np.int64)
    idx = starts[:, None] + np.arange(n)[None, :]
    w = np.hanning(n + 1)[:n]
    spec = np.fft.rfft(pad[idx] * w[None, :], axis=-1)
    return spec.real ** 2 + spec.imag ** 2, w


def f0_deviation_cents(pw: np.ndarray, f0: float, sr: int, n: int, max_cents: float = 100.0) -> np.ndarray:
    """Per-frame deviation (cents) of the played pitch from ``f0``, ``[J]``.

    Each of the first harmonics (k <= 8, below 3 kHz) is located as the strongest bin within
    ±(max_cents + 15 %) of k·f0 and refined by a parabola through the log power of its bin and
    neighbours; the harmonics' deviations are averaged weighted by amplitude × k (a higher
    harmonic resolves the pitch k times finer). Harmonics more than 40 dB under the frame's
    strongest do not count; frames 70 dB under the note's loudest give 0.
    """
    nb = pw.shape[1]
    lp = np.log(pw + 1e-30)
    num = np.zeros(pw.shape[0])
    den = np.zeros(pw.shape[0])
    amps = []
    devs = []
    ks = []
    for k in range(1, 9):
        fk = k * f0
        if fk > min(3000.0, 0.45 * sr):
            break
        b = fk * n / sr
        span = min(b * (2.0 ** ((max_cents * 1.15) / 1200.0) - 1.0) + 1.0, 0.45 * f0 * n / sr)
        lo, hi = int(max(1, np.floor(b - span))), int(min(nb - 2, np.ceil(b + span)))
        if hi <= lo:
            continue
        pk = lo + np.argmax(pw[:, lo:hi + 1], axis=1)
        r = np.arange(pw.shape[0])
        y0, y1, y2 = lp[r, pk - 1], lp[r, pk], lp[r, pk + 1]
        den_p = y0 - 2.0 * y1 + y2
        off = np.where(np.abs(den_p) > 1e-12, 0.5 * (y0 - y2) / np.where(np.abs(den_p) > 1e-12, den_p, 1.0), 0.0)
        f_est = (pk + np.clip(off, -0.5, 0.5)) * sr / n
        devs.append(1200.0 * np.log2(np.maximum(f_est, 1e-6) / fk))
        amps.append(np.sqrt(pw[r, pk]))
        ks.append(k)
    if not devs:
        return np.zeros(pw.shape[0], np.float32)
    am = np.stack(amps, 1)
    dv = np.stack(devs, 1)
    top = am.max(axis=1, keepdims=True)
    wgt = am * np.asarray(ks, dtype=np.float64)[None, :] * (am > 0.01 * top)
    num = (wgt * dv).sum(1)
    den = wgt.sum(1)
    cents = np.where(den > 0, num / np.maximum(den, 1e-30), 0.0)
    loud = top[:, 0]
    cents = np.where(loud > 10 ** (-70 / 20) * max(float(loud.max()), 1e-30), cents, 0.0)
    return np.clip(cents, -max_cents, max_cents).astype(np.float32)


def analyse_note(x: np.ndarray, pitch: float, sr: int = SAMPLE_RATE, hop: int = HOP,
                 n_harm: int = N_HARM, f0_hz: float | None = None, track_pitch: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-hop harmonic amplitudes ``[J, n_harm]``, noise band RMS ``[J, N_NOISE_BANDS]`` and pitch
    deviation in cents ``[J]`` (float32).

    ``J = len(x) // hop``; harmonics at or above Nyquist are 0. ``f0_hz`` overrides the
    equal-tempered frequency of ``pitch`` (drum keys' nominal frequencies). With
    ``track_pitch`` the played pitch is measured per frame (:func:`f0_deviation_cents`) and the
    harmonics are looked for around multiples of it (vibrato moves the upper harmonics by
    more than a bin); else the deviation is 0 and the harmonics are sought around k·f0.
    """
    x = np.asarray(x, dtype=np.float64)
    f0 = float(midi_to_hz(pitch)) if f0_hz is None else float(f0_hz)
    n = _window_size(f0, sr)
    pw, w = _frames_power(x, n, hop)
    n_frames = pw.shape[0]
    cents = f0_deviation_cents(pw, f0, sr, n) if track_pitch else np.zeros(n_frames, np.float32)
    f0_t = f0 * 2.0 ** (cents.astype(np.float64) / 1200.0)                  # [J]
    nb = pw.shape[1]
    lobe_gain = _lobe_gain(n)
    harm = np.zeros((n_frames, n_harm), dtype=np.float64)
    removed = np.zeros((n_frames, nb), dtype=bool)
    rows = np.arange(n_frames)
    for k in range(1, n_harm + 1):
        if k * f0 >= 0.5 * sr:
            break
        b = k * f0_t * n / sr                                                # [J]
        half = np.minimum(1.5 + 0.005 * b, 0.4 * f0_t * n / sr)
        lo = np.clip(np.floor(b - half), 1, nb - 1).astype(np.int64)
        hi = np.clip(np.ceil(b + half), 1, nb - 1).astype(np.int64)
        width = int((hi - lo).max()) + 1
        cand = lo[:, None] + np.arange(width)[None, :]
        ok = cand <= hi[:, None]
        cand = np.minimum(cand, nb - 1)
        vals = np.where(ok, pw[rows[:, None], cand], -1.0)
        peak = cand[rows, np.argmax(vals, axis=1)]                          # [J]
        valid = k * f0_t < 0.5 * sr
        core = np.clip(peak[:, None] + np.arange(-1, 2)[None, :], 0, nb - 1)  # [J, 3]
        p = np.take_along_axis(pw, core, axis=1).sum(axis=1)
        harm[:, k - 1] = np.where(valid, np.sqrt(p / lobe_gain), 0.0)
        lob = np.clip(peak[:, None] + np.arange(-2, 3)[None, :], 0, nb - 1)   # [J, 5]: main lobe
        np.put_along_axis(removed, lob, True, axis=1)
    # harmonics beyond n_harm stay in the residual: their energy becomes noise
    noise = np.zeros((n_frames, N_NOISE_BANDS), dtype=np.float64)
    sw2 = float(np.sum(w * w))
    freqs = np.arange(nb) * sr / n
    keep = ~removed
    for bnd in range(N_NOISE_BANDS):
        sel = (freqs >= NOISE_BAND_EDGES_HZ[bnd]) & (freqs < NOISE_BAND_EDGES_HZ[bnd + 1])
        if bnd == N_NOISE_BANDS - 1:
            sel |= freqs >= NOISE_BAND_EDGES_HZ[bnd + 1]
        sel[0] = False
        n_sel = int(sel.sum())
        if n_sel == 0:
            continue
        kept = keep[:, sel]
        n_kept = kept.sum(axis=1)
        pk = (pw[:, sel] * kept).sum(axis=1)
        scale = np.where(n_kept > 0, n_sel / np.maximum(n_kept, 1), 0.0)
        noise[:, bnd] = np.sqrt(2.0 * pk * scale / (n * sw2))
    return harm.astype(np.float32), noise.astype(np.float32), cents


def drum_key_hz(x: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Nominal frequency (Hz) of a drum hit: the strongest spectral peak between 30 and 1500 Hz
    of its first 150 ms (the body of a kick or tom, the ring of a cowbell; for cymbals and
    shakers an arbitrary partial whose harmonics the model shapes, their noise bands doing most)."""
    seg = np.asarray(x[:int(0.15 * sr)], dtype=np.float64)
    n = 1 << int(np.ceil(np.log2(max(len(seg), 2048))))
    w = np.hanning(len(seg))
    mag = np.abs(np.fft.rfft(seg * w, n))
    f = np.arange(len(mag)) * sr / n
    sel = (f >= 30.0) & (f <= 1500.0)
    return float(f[sel][np.argmax(mag[sel])])


_LOBE: dict[int, float] = {}


def _lobe_gain(n: int) -> float:
    """Power in the 3 bins around the peak a unit-amplitude sine produces (nearly offset-independent)."""
    g = _LOBE.get(n)
    if g is None:
        w = np.hanning(n + 1)[:n]
        t = np.arange(n)
        vals = []
        for off in (0.0, 0.25, 0.5):
            b = 40.0 + off
            pw = np.abs(np.fft.rfft(np.sin(2 * np.pi * b * t / n) * w)) ** 2
            pk = int(np.argmax(pw))
            vals.append(pw[pk - 1:pk + 2].sum())
        g = float(np.mean(vals))
        _LOBE[n] = g
    return g


# ------------------------------------------------------------------ spectral distance
MSD_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
MSD_EPS = 1e-4


def _stft_mag(x: np.ndarray, n: int) -> np.ndarray:
    hop = n // 4
    if len(x) < n:
        x = np.concatenate([x, np.zeros(n - len(x))])
    n_frames = 1 + (len(x) - n) // hop
    idx = np.arange(n_frames)[:, None] * hop + np.arange(n)[None, :]
    w = np.hanning(n + 1)[:n]
    return np.abs(np.fft.rfft(x[idx] * w, axis=-1)) * (2.0 / w.sum())


def multiscale_spectral_distance(ref: np.ndarray, x: np.ndarray) -> float:
    """Multi-scale spectral distance: mean over FFT sizes 2048..64 (hop n/4, Hann) of
    mean |S_ref - S_x| + mean |log(S_ref + eps) - log(S_x + eps)|.

    Magnitudes are amplitude-calibrated (a full-scale sine peaks at 1); eps = 1e-4 (-80 dB).
    The signals are compared over the length of ``ref`` (``x`` is cut or zero-padded).
    """
    ref = np.asarray(ref, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if len(x) < len(ref):
        x = np.concatenate([x, np.zeros(len(ref) - len(x))])
    x = x[:len(ref)]
    total = 0.0
    for n in MSD_FFT_SIZES:
        a = _stft_mag(ref, n)
        b = _stft_mag(x, n)
        total += float(np.mean(np.abs(a - b)) + np.mean(np.abs(np.log(a + MSD_EPS) - np.log(b + MSD_EPS))))
    return total / len(MSD_FFT_SIZES)


# ------------------------------------------------------------------ rendering through the engine
def engine_render(timbre: object, notes: list[tuple[float, float, float, float, int]], seconds: float,
                  sr: int = SAMPLE_RATE, block: int = 4096) -> np.ndarray:
    """Render ``notes`` through the engine's kernel and voices (the path presets and live play take),
    offline, and return the mono signal at the voices' own level (float64).

    ``notes``: ``(onset s, duration s, MIDI note, velocity, instrument index)``; a duration <= 0
    sends no note-off (one-shot). ``timbre``: a loaded :class:`~rtgen.timbre.base.Timbre`. The
    mix is made neutral so the output is the voices' sum: master and layer gain 1, layer pan
    centre, and the centre pan law's cos(π/4) per channel undone (mono = (L + R) / √2).
    """
    from ..config import EngineSpec
    from ..engine import Engine

    eng = Engine(EngineSpec(sample_rate=sr, voices=64, seed=1, master_gain=1.0, limiter_ceiling=1.0),
                 timbre=timbre)  # type: ignore[arg-type]
    eng.set_layer("player", gain=1.0, pan=0.0)
    for t0, dur, pitch, vel, instr in sorted(notes):
        s0 = round(t0 * sr)
        if not eng.note_on(pitch, vel, layer="player", instrument=int(instr), time=float(s0)):
            raise RuntimeError("command ring full: render fewer notes at once")
        if dur > 0 and not eng.note_off(pitch, layer="player", time=float(s0 + round(dur * sr))):
            raise RuntimeError("command ring full: render fewer notes at once")
    n = int(round(seconds * sr))
    out = np.zeros((n, 2), np.float32)
    for k in range(0, n, block):
        eng.render(out[k:k + block])
    return (out[:, 0].astype(np.float64) + out[:, 1]) / np.sqrt(2.0)
