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

# Evaluation split: pitches AND velocities never seen in training.
TRAIN_PITCHES = tuple(range(36, 97, 3))
TRAIN_VELOCITIES = (40, 70, 100, 127)
TRAIN_DURATIONS = (0.25, 0.6, 1.5)
HELDOUT_PITCHES = (50, 62, 74, 86)
HELDOUT_VELOCITIES = (55, 85, 115)
HELDOUT_DURATION = 0.8
TAIL_SECONDS = 0.8


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
def soundfont_path() -> str:
    """The General MIDI SoundFont shipped inside pretty_midi (TimGM6mb.sf2)."""
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


class SoundFontRenderer:
    """Renders isolated notes of a GM program with tinysoundfont, mono float32."""

    def __init__(self, sr: int = SAMPLE_RATE, path: str | None = None) -> None:
        import tinysoundfont

        self.sr = int(sr)
        self.synth = tinysoundfont.Synth(samplerate=self.sr)
        self.sfid = self.synth.sfload(path or soundfont_path())
        self.program = -1

    def note(self, program: int, pitch: int, vel: int, dur: float, tail: float = TAIL_SECONDS) -> np.ndarray:
        """Note-on at sample 0, note-off after ``dur`` s, ``tail`` s of release; mono float32."""
        s = self.synth
        if program != self.program:
            s.program_select(0, self.sfid, 0, int(program))
            self.program = program
        s.sounds_off()
        s.generate(2048)                         # flush anything left from the previous note
        n_on = int(round(dur * self.sr))
        n_tail = int(round(tail * self.sr))
        s.noteon(0, int(pitch), int(vel))
        a = np.frombuffer(s.generate(n_on), dtype=np.float32).reshape(-1, 2)
        s.noteoff(0, int(pitch))
        b = np.frombuffer(s.generate(n_tail), dtype=np.float32).reshape(-1, 2)
        return np.concatenate([a, b]).mean(axis=1).astype(np.float32)


# ------------------------------------------------------------------ analysis
def _window_size(f0: float, sr: int) -> int:
    n = 1024
    while n < 4096 and n < 6.0 * sr / f0:
        n *= 2
    return n


def analyse_note(x: np.ndarray, pitch: float, sr: int = SAMPLE_RATE, hop: int = HOP,
                 n_harm: int = N_HARM) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop harmonic amplitudes ``[J, n_harm]`` and noise band RMS ``[J, N_NOISE_BANDS]`` (float32).

    ``J = len(x) // hop``; harmonics at or above Nyquist are 0.
    """
    x = np.asarray(x, dtype=np.float64)
    f0 = float(midi_to_hz(pitch))
    n = _window_size(f0, sr)
    n_frames = len(x) // hop
    pad = np.concatenate([np.zeros(n), x, np.zeros(n)])
    centres = (np.arange(n_frames) + 0.5) * hop + n
    starts = (centres - n // 2).astype(np.int64)
    idx = starts[:, None] + np.arange(n)[None, :]
    w = np.hanning(n + 1)[:n]
    spec = np.fft.rfft(pad[idx] * w[None, :], axis=-1)
    pw = spec.real ** 2 + spec.imag ** 2                       # [J, n/2+1]
    nb = pw.shape[1]
    lobe_gain = _lobe_gain(n)
    harm = np.zeros((n_frames, n_harm), dtype=np.float64)
    removed = np.zeros((n_frames, nb), dtype=bool)
    bins = np.arange(nb)
    for k in range(1, n_harm + 1):
        fk = k * f0
        if fk >= 0.5 * sr:
            break
        b = fk * n / sr
        half = min(1.5 + 0.005 * b, 0.4 * f0 * n / sr)
        lo, hi = int(max(1, np.floor(b - half))), int(min(nb - 1, np.ceil(b + half)))
        peak = lo + np.argmax(pw[:, lo:hi + 1], axis=1)                      # [J]
        core = np.clip(peak[:, None] + np.arange(-1, 2)[None, :], 0, nb - 1)  # [J, 3]
        p = np.take_along_axis(pw, core, axis=1).sum(axis=1)
        harm[:, k - 1] = np.sqrt(p / lobe_gain)
        lob = np.clip(peak[:, None] + np.arange(-2, 3)[None, :], 0, nb - 1)   # [J, 5]: main lobe
        np.put_along_axis(removed, lob, True, axis=1)
    # harmonics beyond n_harm stay in the residual: their energy becomes noise
    noise = np.zeros((n_frames, N_NOISE_BANDS), dtype=np.float64)
    sw2 = float(np.sum(w * w))
    freqs = bins * sr / n
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
    return harm.astype(np.float32), noise.astype(np.float32)


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
