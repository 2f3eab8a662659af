"""OnnxTimbre: the neural timbre run by onnxruntime, and the worker that feeds the engine.

The model (``rtgen/models/timbre.onnx``, built by ``models/``) is one hop of a small
recurrent network: per voice, features + instrument embedding + GRU state → amplitude,
harmonic distribution and noise band gains (the DDSP split, Engel et al., ICLR 2020: the
network predicts synthesiser controls, fixed code here scales them and removes harmonics
above Nyquist). onnxruntime runs it for all sounding voices at once, on one thread with
spinning off, through IOBindings bound once per batch-size bucket to preallocated buffers.

Real-time hand-off (``TimbreWorker``): a thread that runs ahead of the engine. For hop ``h``
(absolute sample // hop) it writes, per sounding voice, into slot ``s = h % D`` of
:class:`NeuralSlots`: the peak-normalised next table ``tab[s, v]``, its gain ``amp[s, v]``,
the noise band RMS ``noise[s, v]``, the note id ``note_id[s, v]`` and, last,
``hop[s, v] = h``. See :class:`NeuralSlots` for how the kernel consumes a frame.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from ..errors import ModelError
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
    P_HOP,
    P_MORPH,
    P_MORPH_TO,
    P_SR,
    S_SAMPLE,
    TS,
    VF_AGE,
    VF_BEND,
    VF_INC,
    VF_INSTR,
    VF_NOTE,
    VF_NOTE_ID,
    VF_ONESHOT,
    VF_REL_AGE,
    VF_STATE,
    VF_VEL,
    VS_FREE,
    VS_RELEASED,
)
from .analysis import N_FEATURES, neural_features
from .base import (
    BEND_HEADROOM_SEMITONES,
    SAMPLE_RATE,
    Controls,
    Timbre,
    VoiceFeatures,
    controls_to_tables,
    engine_plays_note_hz,
    harmonic_mask,
    midi_to_hz,
    quarter_basis,
    sine_series_table,
    table_mask,
    tables_from_harmonics,
    velocity_gain,
)

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(_PKG, "models", "timbre.onnx")
FORMAT_VERSION = "1"
_INPUTS = ("features", "embedding", "state")
_OUTPUTS = ("amplitude", "harmonics", "noise", "state_out")
_OPTIONAL_OUTPUTS = {"f0_cents": 1}    # pitch deviation of the hop in cents (absent: 0)
_REQUIRED_META = ("rtgen_timbre_format", "sample_rate", "hop", "n_harm", "n_noise", "n_features",
                  "state_size", "embedding_dim", "instruments", "embedding_table")


def _bucket(n: int) -> int:
    b = 1
    while b < n:
        b *= 2
    return b


class _BoundRunner:
    """Preallocated input/output buffers and one IOBinding per batch-size bucket (not thread-safe:
    one runner per thread)."""

    def __init__(self, sess: Any, n_feat: int, emb: int, hidden: int, n_harm: int, n_noise: int,
                 max_voices: int) -> None:
        self.sess = sess
        cap = _bucket(max(1, max_voices))
        self.cap = cap
        self.x = np.zeros((cap, n_feat), np.float32)
        self.e = np.zeros((cap, emb), np.float32)
        self.s = np.zeros((cap, hidden), np.float32)
        self.amp = np.zeros((cap, 1), np.float32)
        self.harm = np.zeros((cap, n_harm), np.float32)
        self.noise = np.zeros((cap, n_noise), np.float32)
        self.s_out = np.zeros((cap, hidden), np.float32)
        self.cents = np.zeros((cap, 1), np.float32)     # stays 0 when the model has no f0_cents
        self.has_cents = any(o.name == "f0_cents" for o in sess.get_outputs())
        self._bindings: dict[int, Any] = {}

    def _binding(self, b: int) -> Any:
        bd = self._bindings.get(b)
        if bd is None:
            bd = self.sess.io_binding()
            for name, arr in zip(_INPUTS, (self.x, self.e, self.s), strict=True):
                bd.bind_input(name, "cpu", 0, np.float32, [b, arr.shape[1]], arr.ctypes.data)
            for name, arr in zip(_OUTPUTS, (self.amp, self.harm, self.noise, self.s_out), strict=True):
                bd.bind_output(name, "cpu", 0, np.float32, [b, arr.shape[1]], arr.ctypes.data)
            if self.has_cents:
                bd.bind_output("f0_cents", "cpu", 0, np.float32, [b, 1], self.cents.ctypes.data)
            self._bindings[b] = bd
        return bd

    def run(self, n: int) -> None:
        """Run rows ``[0, n)`` of the input buffers (the rest of the bucket is computed and ignored)."""
        if n > self.cap:
            raise ValueError(f"{n} voices exceed this runner's capacity {self.cap}")
        b = _bucket(max(1, n))
        self.sess.run_with_iobinding(self._binding(b))


class OnnxTimbre(Timbre):
    """The neural timbre. ``path`` defaults to the packaged ``rtgen/models/timbre.onnx``.

    Raises :class:`rtgen.errors.ModelError` naming the file when it is missing, not a valid
    ONNX model, or not a model of this format (inputs, outputs, shapes, metadata).
    """

    name = "neural"
    _shared: dict[tuple[str, int, int], OnnxTimbre] = {}

    @classmethod
    def shared(cls, path: str | None = None) -> OnnxTimbre:
        """One loaded model per file (and its version on disk) for the whole process: every engine
        gets its own worker, runner and recurrent state; the session and the tables filled at
        load are shared (an engine's load is then a copy)."""
        p = os.path.abspath(path or DEFAULT_MODEL)
        try:
            stt = os.stat(p)
            key = (p, int(stt.st_mtime_ns), int(stt.st_size))
        except OSError:
            return cls(p)                       # raises the clear ModelError
        tb = cls._shared.get(key)
        if tb is None:
            tb = cls(p)
            cls._shared[key] = tb
        return tb

    def __init__(self, path: str | None = None, max_voices: int = 256) -> None:
        self.path = os.path.abspath(path or DEFAULT_MODEL)
        try:
            import onnxruntime as ort
        except ImportError as e:   # pragma: no cover - onnxruntime is a dependency
            raise ModelError(f"{self.path}: onnxruntime is not installed ({e})") from e
        if not os.path.isfile(self.path):
            raise ModelError(f"{self.path}: timbre model file not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(self.path, sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"{self.path}: not a loadable ONNX model ({type(e).__name__}: "
                             f"{str(e).strip()[:300]})") from e
        self._check_and_read_meta()
        self.max_voices = int(max_voices)
        self._runner = self.runner(self.max_voices)
        self._lock = threading.Lock()
        self._probe()

    def _probe(self) -> None:
        """Run the model once for every instrument over the range of pitches and velocities: a file
        whose weights are damaged can load and still answer NaN or Inf (it would play silence)."""
        n_i = len(self._instruments)
        notes = np.tile(np.array([24.0, 60.0, 96.0]), 2 * n_i)
        v = notes.shape[0]
        vel = np.repeat(np.array([20.0, 127.0]), 3 * n_i)
        instr = np.tile(np.repeat(np.arange(n_i, dtype=np.float64), 3), 2)
        ones = np.ones(v)
        try:
            state = self.initial_state(v)
            for t in (0.01, 0.5):
                c = self.get_controls(VoiceFeatures(midi_to_hz(notes), vel, t * ones, 0 * ones, 0 * ones, instr),
                                      state)
                state = c.state
                for name, arr in (("amplitude", c.amplitude), ("harmonics", c.harmonics), ("noise", c.noise),
                                  ("state", c.state)):
                    if not np.all(np.isfinite(arr)):
                        raise ModelError(f"{self.path}: the model's {name} output is not finite "
                                         "(damaged weights?)")
        except ModelError:
            raise
        except Exception as e:     # an inference that fails is a broken model, whatever raised
            raise ModelError(f"{self.path}: the model does not run ({type(e).__name__}: {e})") from e

    # ------------------------------------------------------------------ loading
    def _check_and_read_meta(self) -> None:
        p = self.path
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in _REQUIRED_META if k not in meta]
        if missing:
            raise ModelError(f"{p}: not an rtgen timbre model: metadata_props lacks {', '.join(missing)}")
        if meta["rtgen_timbre_format"] != FORMAT_VERSION:
            raise ModelError(f"{p}: timbre model format {meta['rtgen_timbre_format']!r}, this rtgen reads "
                             f"{FORMAT_VERSION!r}")
        try:
            self.sample_rate = int(meta["sample_rate"])
            self.hop = int(meta["hop"])
            self.n_harm = int(meta["n_harm"])
            self.n_noise = int(meta["n_noise"])
            self.n_features = int(meta["n_features"])
            self.state_size = int(meta["state_size"])
            self.embedding_dim = int(meta["embedding_dim"])
            insts = json.loads(meta["instruments"])
            self._instruments = [(str(n), int(g)) for n, g in insts]
            self.embedding_table = np.asarray(json.loads(meta["embedding_table"]), dtype=np.float32)
            self.metadata = dict(meta)
        except (ValueError, TypeError, KeyError) as e:
            raise ModelError(f"{p}: malformed metadata_props ({e})") from e
        if (self.n_harm != N_HARM or self.n_noise != N_NOISE_BANDS or self.n_features != N_FEATURES
                or self.hop <= 0 or self.sample_rate <= 0):
            raise ModelError(f"{p}: incompatible model: n_harm={self.n_harm} (need {N_HARM}), n_noise="
                             f"{self.n_noise} (need {N_NOISE_BANDS}), n_features={self.n_features} "
                             f"(need {N_FEATURES}), hop={self.hop}, sample_rate={self.sample_rate}")
        want_tab = (len(self._instruments), self.embedding_dim)
        if self.embedding_table.shape != want_tab or not self._instruments:
            raise ModelError(f"{p}: embedding_table has shape {self.embedding_table.shape}, expected "
                             f"({len(self._instruments)}, {self.embedding_dim})")
        want_in = {"features": self.n_features, "embedding": self.embedding_dim, "state": self.state_size}
        want_out = {"amplitude": 1, "harmonics": self.n_harm, "noise": self.n_noise,
                    "state_out": self.state_size}
        got_out = {g.name for g in self.session.get_outputs()}
        for name, width in _OPTIONAL_OUTPUTS.items():
            if name in got_out:
                want_out[name] = width
        for kind, got, want in (("input", self.session.get_inputs(), want_in),
                                ("output", self.session.get_outputs(), want_out)):
            names = {g.name: g for g in got}
            if set(names) != set(want):
                raise ModelError(f"{p}: model {kind}s are {sorted(names)}, expected {sorted(want)}")
            for name, width in want.items():
                shp = names[name].shape
                if len(shp) != 2 or shp[1] != width or isinstance(shp[0], int) and shp[0] != -1 \
                        and not isinstance(shp[0], str):
                    raise ModelError(f"{p}: {kind} {name!r} has shape {shp}, expected [voices, {width}] "
                                     "with a dynamic voice axis")
                if names[name].type != "tensor(float)":
                    raise ModelError(f"{p}: {kind} {name!r} is {names[name].type}, expected tensor(float)")

    def runner(self, max_voices: int) -> _BoundRunner:
        """A new set of bound buffers for up to ``max_voices`` voices (one per thread)."""
        return _BoundRunner(self.session, self.n_features, self.embedding_dim, self.state_size, self.n_harm,
                            self.n_noise, max_voices)

    # ------------------------------------------------------------------ the contract
    def instruments(self) -> list[tuple[str, int]]:
        return list(self._instruments)

    def embeddings(self, instrument: np.ndarray, morph_to: np.ndarray | None = None,
                   morph: np.ndarray | None = None) -> np.ndarray:
        """``[V, E]`` embeddings: a fractional index mixes neighbours; ``morph`` mixes in ``morph_to``."""
        tab = self.embedding_table
        n = tab.shape[0]

        def lerp_rows(idx: np.ndarray) -> np.ndarray:
            idx = np.clip(np.asarray(idx, dtype=np.float64), 0.0, n - 1.0)
            lo = np.floor(idx).astype(np.int64)
            hi = np.minimum(lo + 1, n - 1)
            f = (idx - lo)[:, None]
            return (1.0 - f) * tab[lo] + f * tab[hi]

        e = lerp_rows(np.asarray(instrument, dtype=np.float64) % n)
        if morph_to is not None and morph is not None:
            m = np.clip(np.asarray(morph, dtype=np.float64), 0.0, 1.0)[:, None]
            e = (1.0 - m) * e + m * lerp_rows(np.asarray(morph_to, dtype=np.float64) % n)
        return e.astype(np.float32)

    def _run(self, runner: _BoundRunner, feats: np.ndarray, emb: np.ndarray, state: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        v = feats.shape[0]
        out_a = np.empty((v,), np.float32)
        out_h = np.empty((v, self.n_harm), np.float32)
        out_n = np.empty((v, self.n_noise), np.float32)
        out_s = np.empty((v, self.state_size), np.float32)
        for k in range(0, v, runner.cap):
            m = min(runner.cap, v - k)
            runner.x[:m] = feats[k:k + m]
            runner.e[:m] = emb[k:k + m]
            runner.s[:m] = state[k:k + m]
            b = _bucket(m)
            runner.x[m:b] = 0.0
            runner.e[m:b] = 0.0
            runner.s[m:b] = 0.0
            runner.run(m)
            out_a[k:k + m] = runner.amp[:m, 0]
            out_h[k:k + m] = runner.harm[:m]
            out_n[k:k + m] = runner.noise[:m]
            out_s[k:k + m] = runner.s_out[:m]
        return out_a, out_h, out_n, out_s

    def get_controls(self, features: VoiceFeatures, state: np.ndarray | None = None,
                     runner: _BoundRunner | None = None) -> Controls:
        """Run one hop for ``features.n`` voices; ``state``: ``[V, state_size]`` (None: fresh notes).

        Harmonics above Nyquist (at ``self.sample_rate`` for ``f0_hz``) are zeroed and the
        distribution renormalised before scaling by the amplitude.
        """
        f0 = np.asarray(features.f0_hz, dtype=np.float64)
        v = f0.shape[0]
        pitch = 69.0 + 12.0 * np.log2(np.maximum(f0, 1e-3) / 440.0)
        feats = neural_features(pitch, features.velocity, features.t_on, features.released, features.t_rel)
        emb = self.embeddings(features.instrument, features.morph_to, features.morph)
        st = self.initial_state(v) if state is None else np.asarray(state, dtype=np.float32)
        if runner is None:
            with self._lock:
                a, h, nz, s_out = self._run(self._runner, feats, emb, st)
        else:
            a, h, nz, s_out = self._run(runner, feats, emb, st)
        harm = h.astype(np.float64) * harmonic_mask(f0, self.sample_rate, self.n_harm)
        tot = harm.sum(axis=-1, keepdims=True)
        harm = np.where(tot > 1e-12, harm / np.where(tot > 1e-12, tot, 1.0), 0.0) * a[:, None]
        return Controls(amplitude=harm.sum(-1), harmonics=harm, noise=nz.astype(np.float64), state=s_out)

    # ------------------------------------------------------------------ tables for the engine
    def attack_controls(self, sr: float, n_hops: int = 8, vel: float = 80.0
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Harmonic amplitudes ``[n_instr, 128, N_HARM]`` of each note's attack (summed over the first
        ``n_hops`` hops at velocity ``vel``, i.e. amplitude-weighted), and the amplitude trajectory
        ``[n_instr, 128, n_hops]``."""
        n_i = len(self._instruments)
        notes = np.tile(np.arange(128, dtype=np.float64), n_i)
        instr = np.repeat(np.arange(n_i, dtype=np.float64), 128)
        v = notes.shape[0]
        old_sr = self.sample_rate
        self.sample_rate = int(sr)
        try:
            state = self.initial_state(v)
            acc = np.zeros((v, self.n_harm))
            amps = np.zeros((v, n_hops))
            zeros = np.zeros(v)
            for j in range(n_hops):
                t = (j + 1) * self.hop / self.sample_rate
                c = self.get_controls(VoiceFeatures(midi_to_hz(notes), np.full(v, vel), np.full(v, t), zeros,
                                                    zeros, instr), state)
                state = c.state
                acc += c.harmonics
                amps[:, j] = c.amplitude
        finally:
            self.sample_rate = old_sr
        return acc.reshape(n_i, 128, self.n_harm), amps.reshape(n_i, 128, n_hops)

    def envelope_params(self, instr: int, sr: float) -> np.ndarray:
        """``[NIP]`` ADSR / gain / noise parameters fitted to the model's own envelope of note 60 at
        velocity 80 (held 1.5 s, then released), used for the first hop of a note and by kernels
        that ignore neural frames."""
        hop_s = self.hop / float(self.sample_rate)
        n_hold, n_rel = int(1.5 / hop_s), int(1.0 / hop_s)
        pitches = np.array([60.0])
        state = self.initial_state(1)
        amp = np.zeros(n_hold + n_rel)
        noise = np.zeros((n_hold + n_rel, self.n_noise))
        peak_tab = np.zeros(n_hold + n_rel)
        for j in range(n_hold + n_rel):
            t = (j + 1) * hop_s
            rel = 1.0 if j >= n_hold else 0.0
            t_rel = max(0.0, t - n_hold * hop_s) * rel
            c = self.get_controls(VoiceFeatures(midi_to_hz(pitches), np.array([80.0]), np.array([t]),
                                                np.array([rel]), np.array([t_rel]), np.array([float(instr)])),
                                  state)
            state = c.state
            _, g = controls_to_tables(c.harmonics)
            amp[j], peak_tab[j], noise[j] = c.amplitude[0], g[0], c.noise[0]
        row = np.zeros(NIP)
        held = peak_tab[:n_hold]
        top = max(float(held.max()), 1e-6)
        pk = int(np.argmax(held >= 0.9 * top))           # attack: first hop within 1 dB of the peak
        row[IP_ATTACK] = max(0.002, (pk + 1) * hop_s)
        late = float(held[-1]) / top
        if late < 0.5:     # decaying (struck / plucked): exponential fit from the peak to the end of the hold
            span = (n_hold - 1 - pk) * hop_s
            t60 = span * 6.907755278982137 / max(np.log(1.0 / max(late, 1e-4)), 1e-3)
            row[IP_DECAY_TIME] = float(np.clip(t60, 0.2, 30.0))
            row[IP_SUSTAIN], row[IP_DECAY] = 1.0, 0.01
        else:
            row[IP_SUSTAIN] = float(np.clip(late, 0.0, 1.0))
            row[IP_DECAY] = 0.15
        # release: seconds to -60 dB, fitted on the first -40 dB (or the 1 s observed)
        rel_part = peak_tab[n_hold:] / max(float(held[-1]), 1e-6)
        below = np.nonzero(rel_part < 0.01)[0]
        j = int(below[0]) if below.size else n_rel - 1
        drop = max(np.log(1.0 / max(float(rel_part[j]), 1e-6)), 1e-3)
        row[IP_RELEASE] = float(np.clip((j + 1) * hop_s * 6.907755278982137 / drop, 0.02, 10.0))
        row[IP_GAIN] = float(np.clip(top / float(velocity_gain(80.0)), 0.0, 4.0))
        row[IP_BRIGHT] = 60.0          # the spectra already carry the brightness; keep the lowpass open
        nz = noise[:n_hold].mean(axis=0)
        tot = float(np.sqrt((nz ** 2).sum()))
        row[IP_NOISE] = float(np.clip(tot / max(float(amp[:n_hold].mean()), 1e-6), 0.0, 1.0))
        row[IP_NOISE_DECAY] = 0.0
        row[IP_NOISE_BAND:IP_NOISE_BAND + N_NOISE_BANDS] = nz / max(float(nz.max()), 1e-9)
        return row

    def one_shot(self) -> set[str]:
        """Names of the model's one-shot instruments (metadata ``one_shot``, a JSON list; default
        the drum kit ``drums``): their voices ignore note-off, bend and vibrato."""
        raw = self.metadata.get("one_shot")
        try:
            names = json.loads(raw) if raw else ["drums"]
            return {str(n) for n in names}
        except (ValueError, TypeError):
            return {"drums"}

    def fill_tables(self, itab: np.ndarray, iparam: np.ndarray, sr: float) -> None:
        n_instr = itab.shape[0]
        if itab.shape[1:] != (128, TS + 1) or iparam.shape[0] != n_instr or iparam.shape[1] < NIP:
            raise ValueError(f"itab must be [N_INSTR, 128, {TS + 1}] and iparam [N_INSTR, {NIP}], "
                             f"got {itab.shape} and {iparam.shape}")
        cache: dict[tuple[float, tuple[int, ...], tuple[int, ...]], tuple[np.ndarray, np.ndarray]] = \
            self.__dict__.setdefault("_table_cache", {})
        key = (float(sr), tuple(itab.shape), tuple(iparam.shape))
        if key in cache:
            itab[...], iparam[...] = cache[key]
            return
        self._fill_tables(itab, iparam, sr)
        cache[key] = (itab.copy(), iparam.copy())

    def _fill_tables(self, itab: np.ndarray, iparam: np.ndarray, sr: float) -> None:
        n_instr = itab.shape[0]
        attack, _ = self.attack_controls(sr)
        masks = np.stack([table_mask(n, sr, self.n_harm) for n in range(128)])     # [128, N_HARM]
        hz = self.note_hz(n_instr) if engine_plays_note_hz() else np.zeros((n_instr, 128))
        n_i = len(self._instruments)
        rows = [self.envelope_params(i, sr) for i in range(n_i)]
        for i in range(n_instr):
            m_i = masks
            if hz[i].any():        # the engine plays this row at inote_hz: band-limit for that frequency
                f = np.where(hz[i] > 0.0, hz[i], midi_to_hz(np.arange(128.0))) * 2.0 ** (BEND_HEADROOM_SEMITONES / 12.0)
                m_i = np.stack([harmonic_mask(np.asarray(f[k]), sr, self.n_harm) for k in range(128)])
            tables_from_harmonics(attack[i % n_i] * m_i, out=itab[i])
            iparam[i, :] = 0.0
            iparam[i, :NIP] = rows[i % n_i]
        if not (np.all(np.isfinite(itab)) and np.all(np.isfinite(iparam))):
            raise ModelError(f"{self.path}: the model's attack tables or envelope are not finite (damaged weights?)")



# ---------------------------------------------------------------------- compiled worker passes
def _basis_f32() -> np.ndarray:
    return quarter_basis(N_HARM, TS)


_TLOG = float(np.log1p(4.0 / 0.02))


@njit(cache=True, nogil=True)
def _prepare(vf: np.ndarray, part: np.ndarray, now: float, target: int, hop: float, sr: float, morph: float,
             morph_to: float, table: np.ndarray, state: np.ndarray, note_of: np.ndarray, x: np.ndarray,
             e: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Model inputs for the voices ``part`` (features as ``analysis.neural_features``, embeddings as
    ``OnnxTimbre.embeddings``), states gathered (zeroed for a new note id); pads the bucket with zeros."""
    m = part.shape[0]
    n_i = table.shape[0]
    ids = np.empty(m, np.int64)
    ahead = (target + 1) * hop - now
    b = 1
    while b < m:
        b *= 2
    for j in range(m):
        v = part[j]
        nid = np.int64(vf[v, VF_NOTE_ID])
        ids[j] = nid
        if note_of[v] != nid:
            state[v, :] = 0.0
            note_of[v] = nid
        pitch = vf[v, VF_NOTE] + vf[v, VF_BEND]
        t_on = max(vf[v, VF_AGE] + ahead, 0.0) / sr
        # a one-shot voice (a drum) is never released for the model: it decays on its own
        rel = 1.0 if (vf[v, VF_STATE] == VS_RELEASED and vf[v, VF_ONESHOT] <= 0.0) else 0.0
        t_rel = rel * max(vf[v, VF_REL_AGE] + ahead, 0.0) / sr
        x[j, 0] = (pitch - 66.0) / 18.0
        x[j, 1] = vf[v, VF_VEL] / 127.0
        x[j, 2] = min(np.log1p(t_on / 0.02) / _TLOG, 1.5)
        x[j, 3] = rel
        x[j, 4] = rel * min(np.log1p(t_rel / 0.02) / _TLOG, 1.5)
        for q in range(2):
            idx = vf[v, VF_INSTR] if q == 0 else morph_to
            w = 1.0 - morph if q == 0 else morph
            if q == 1 and morph <= 0.0:
                break
            if q == 0 and morph <= 0.0:
                w = 1.0
            idx = idx % n_i
            idx = min(max(idx, 0.0), n_i - 1.0)
            lo = int(np.floor(idx))
            hi = min(lo + 1, n_i - 1)
            f = idx - lo
            for c in range(table.shape[1]):
                val = w * ((1.0 - f) * table[lo, c] + f * table[hi, c])
                if q == 0:
                    e[j, c] = val
                else:
                    e[j, c] += val
        for c in range(state.shape[1]):
            s[j, c] = state[v, c]
    for j in range(m, b):
        x[j, :] = 0.0
        e[j, :] = 0.0
        s[j, :] = 0.0
    return ids


@njit(cache=True, nogil=True, fastmath=True)
def _publish(vf: np.ndarray, part: np.ndarray, ids: np.ndarray, amp: np.ndarray, harm: np.ndarray,
             noise: np.ndarray, s_out: np.ndarray, state: np.ndarray, sr: float, qbasis: np.ndarray, target: int,
             tab: np.ndarray, amp_o: np.ndarray, noise_o: np.ndarray, id_o: np.ndarray, hop_o: np.ndarray,
             cents: np.ndarray, cents_o: np.ndarray) -> int:
    """Mask harmonics above Nyquist, renormalise, scale, synthesise the table (``sine_series_table``),
    publish (hop last). The mask uses the higher of the note's f0 and the voice's sounding f0
    (a tuning override or a pitch modulation may raise it)."""
    slot = target % tab.shape[0]
    n_h = harm.shape[1]
    ts = tab.shape[2] - 1
    x = np.zeros(ts, np.float32)
    a = np.zeros(n_h, np.float32)
    done = 0
    for j in range(part.shape[0]):
        v = part[j]
        for c in range(state.shape[1]):
            state[v, c] = s_out[j, c]
        f0 = 440.0 * 2.0 ** ((vf[v, VF_NOTE] + vf[v, VF_BEND] - 69.0) / 12.0)
        f0 = max(f0, vf[v, VF_INC] * sr)
        tot = 0.0
        for k in range(n_h):
            if f0 * (k + 1) < 0.5 * sr:
                tot += harm[j, k]
        scale = amp[j, 0] / tot if tot > 1e-12 else 0.0
        for k in range(n_h):
            a[k] = harm[j, k] * scale if f0 * (k + 1) < 0.5 * sr else 0.0
        peak = sine_series_table(a, qbasis, x)
        if np.int64(vf[v, VF_NOTE_ID]) != ids[j]:
            continue                    # the engine reused the voice meanwhile: not this note's frame
        inv = np.float32(1.0 / peak) if peak > 1e-12 else np.float32(0.0)
        for i in range(ts):
            tab[slot, v, i] = x[i] * inv
        tab[slot, v, ts] = tab[slot, v, 0]
        amp_o[slot, v] = peak if peak > 1e-12 else 0.0
        for c in range(noise.shape[1]):
            noise_o[slot, v, c] = noise[j, c]
        cents_o[slot, v] = cents[j, 0]
        id_o[slot, v] = ids[j]
        hop_o[slot, v] = target         # last: marks the frame complete
        done += 1
    return done


# ---------------------------------------------------------------------- real-time hand-off
@dataclass
class NeuralSlots:
    """Per-voice frames the worker publishes and the kernel consumes: a ring of ``D`` frames per voice.

    Shapes (V = engine voices, D = ``depth``; the frame for hop ``h`` lives in slot ``s = h % D``):

    * ``tab``     [D, V, TS + 1] float32: next single-cycle table, peak-normalised, guard sample
    * ``amp``     [D, V] float64: gain to apply to ``tab`` (linear amplitude at the end of the hop)
    * ``noise``   [D, V, N_NOISE_BANDS] float64: noise RMS per band (``NOISE_BAND_EDGES_HZ``)
    * ``note_id`` [D, V] int64: VF_NOTE_ID of the note the frame is for
    * ``hop``     [D, V] int64: absolute hop index the frame is for (-1: none); written LAST
    * ``cents``   [D, V] float64: the model's pitch deviation in cents (0 without ``f0_cents``)

    Kernel, at each hop boundary ``h = sample // hop`` and voice ``v``: ``s = h % D``; if
    ``hop[s, v] == h`` and ``note_id[s, v] == vf[v, VF_NOTE_ID]``, copy ``tab[s, v]`` into the
    voice's own next-table buffer and crossfade to it over the hop, ramp the voice amplitude
    to ``amp[s, v]`` and take ``noise[s, v]`` as its band gains; otherwise keep the current
    table and amplitude and count ``S_LATE_FRAMES``.

    The worker writes the frame of hop ``t`` only once ``S_SAMPLE > (t - D) * hop``, i.e.
    after the kernel has rendered past the boundary where it consumed the slot's previous
    frame (hop ``t - D``), so a slot is never rewritten before it was read. ``S_SAMPLE`` must
    therefore advance only after a chunk is rendered. D = 1 (the plain ``[V, ...]`` arrays,
    see :meth:`wrap`) works when blocks are at most one hop; with host blocks of B samples
    use D >= ceil(B / hop) + 1 so every hop inside a block has its frame ready in advance.
    """

    tab: np.ndarray
    amp: np.ndarray
    noise: np.ndarray
    note_id: np.ndarray
    hop: np.ndarray
    cents: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.cents is None:
            self.cents = np.zeros(self.amp.shape, np.float64)

    @classmethod
    def allocate(cls, n_voices: int, depth: int = 2) -> NeuralSlots:
        d = max(1, int(depth))
        return cls(tab=np.zeros((d, n_voices, TS + 1), np.float32), amp=np.zeros((d, n_voices), np.float64),
                   noise=np.zeros((d, n_voices, N_NOISE_BANDS), np.float64),
                   note_id=np.full((d, n_voices), -1, np.int64), hop=np.full((d, n_voices), -1, np.int64),
                   cents=np.zeros((d, n_voices), np.float64))

    @classmethod
    def wrap(cls, tab: np.ndarray, amp: np.ndarray, noise: np.ndarray, note_id: np.ndarray,
             hop: np.ndarray, cents: np.ndarray | None = None) -> NeuralSlots:
        """Slots over existing engine arrays: ``[V, ...]`` arrays become depth 1 (views, no copy),
        ``[D, V, ...]`` arrays keep their depth."""
        if tab.ndim == 2:
            tab, amp, noise, note_id, hop = tab[None], amp[None], noise[None], note_id[None], hop[None]
            cents = None if cents is None else cents[None]
        sl = cls(tab=tab, amp=amp, noise=noise, note_id=note_id, hop=hop, cents=cents)
        d, v = sl.tab.shape[:2]
        want = {"tab": (d, v, TS + 1), "amp": (d, v), "noise": (d, v, N_NOISE_BANDS), "note_id": (d, v),
                "hop": (d, v), "cents": (d, v)}
        for name, shp in want.items():
            arr = getattr(sl, name)
            if arr.shape != shp:
                raise ValueError(f"neural slot {name} has shape {arr.shape}, expected {shp}")
        return sl

    @property
    def n_voices(self) -> int:
        return int(self.tab.shape[1])

    @property
    def depth(self) -> int:
        return int(self.tab.shape[0])


class TimbreWorker(threading.Thread):
    """Runs the model ahead of the engine for every sounding voice.

    ``vf``: the engine's voice array [V, NVF]; ``slots``: :class:`NeuralSlots` of V voices;
    ``p``: engine parameters (reads P_SR, P_HOP (0 → the model's hop), P_MORPH, P_MORPH_TO);
    ``st``: engine counters (reads S_SAMPLE). ``start()`` runs the loop until ``stop()``;
    offline, call ``catch_up()`` before each block instead (synchronous, same frames).
    Frames are computed in hop order, each advancing the voices' recurrent state one hop.
    """

    def __init__(self, timbre: OnnxTimbre, vf: np.ndarray, slots: NeuralSlots, p: np.ndarray, st: np.ndarray,
                 *, poll_seconds: float = 0.0005) -> None:
        super().__init__(name="rtgen-timbre-worker", daemon=True)
        self.timbre = timbre
        self.vf, self.slots, self.p, self.st = vf, slots, p, st
        n_v = slots.n_voices
        if vf.shape[0] != n_v:
            raise ValueError(f"vf has {vf.shape[0]} voices, slots {n_v}")
        self.runner = timbre.runner(n_v)
        self.state = np.zeros((n_v, timbre.state_size), np.float32)
        self.note_of = np.full(n_v, -1, np.int64)      # note id whose state self.state[v] holds
        self.poll_seconds = float(poll_seconds)
        self._stop_ev = threading.Event()
        self.frames = 0            # frames published
        self.hops = 0              # hops processed
        self.skipped_hops = 0      # hops the worker could not start in time (it jumped ahead)
        self.last_hop = -1
        self.worst_seconds = 0.0
        self.error: BaseException | None = None

    def hop_size(self) -> int:
        h = int(self.p[P_HOP])
        return h if h > 0 else self.timbre.hop

    def process_hop(self, target: int) -> int:
        """Compute and publish the frames of absolute hop ``target`` for every sounding voice.

        Same math as ``get_controls`` + ``controls_to_tables``, fused into two compiled,
        GIL-free passes around the onnxruntime call (no per-voice Python, no BLAS threads).
        """
        t0 = time.perf_counter()
        vf, sl = self.vf, self.slots
        hop = self.hop_size()
        sr = float(self.p[P_SR]) or float(SAMPLE_RATE)
        now = int(self.st[S_SAMPLE])
        active = np.nonzero(vf[:, VF_STATE] != VS_FREE)[0].astype(np.int64)
        n = int(active.size)
        if n == 0:
            self._done(target, t0)
            return 0
        tb, r = self.timbre, self.runner
        morph = min(max(float(self.p[P_MORPH]), 0.0), 1.0)
        morph_to = float(self.p[P_MORPH_TO])
        self._warm_new_voices(active, now, int(target), hop, sr, morph, morph_to)
        published = 0
        for k in range(0, n, r.cap):
            part = active[k:k + r.cap]
            m = int(part.size)
            ids = _prepare(vf, part, float(now), int(target), float(hop), sr, morph, morph_to,
                           tb.embedding_table, self.state, self.note_of, r.x, r.e, r.s)
            r.run(m)
            assert sl.cents is not None          # (allocated by NeuralSlots.__post_init__)
            published += _publish(vf, part, ids, r.amp, r.harm, r.noise, r.s_out, self.state, sr,
                                   _basis_f32(), int(target), sl.tab, sl.amp, sl.noise, sl.note_id, sl.hop,
                                   r.cents, sl.cents)
        self.frames += published
        self._done(target, t0)
        return published

    def _warm_new_voices(self, active: np.ndarray, now: int, target: int, hop: int, sr: float, morph: float,
                         morph_to: float) -> None:
        """Run the model over the hops a new note already sounded before its first frame.

        A note's first frame comes a few hops after its note-on (the cached attack plays until
        then). Starting the recurrent state from zero at that point is something the model
        never saw in training (its sequences start at the note-on) and gives a dip in the
        attack; so the state is first advanced through the missed hops (state only: nothing
        is published for them).
        """
        vf, tb, r = self.vf, self.timbre, self.runner
        nid = vf[active, VF_NOTE_ID].astype(np.int64)
        new = active[self.note_of[active] != nid]
        if new.size == 0:
            return
        age0 = vf[new, VF_AGE] + target * hop - now          # samples sounded before hop ``target``
        k_max = min(int(np.ceil(float(age0.max()) / hop)), 16)
        for j in range(target - k_max, target):
            t_on = vf[new, VF_AGE] + (j + 1) * hop - now
            part = new[t_on > 0]
            for k in range(0, int(part.size), r.cap):
                sub = part[k:k + r.cap]
                m = int(sub.size)
                _prepare(vf, sub, float(now), j, float(hop), sr, morph, morph_to, tb.embedding_table,
                         self.state, self.note_of, r.x, r.e, r.s)
                r.run(m)
                self.state[sub] = r.s_out[:m]

    def warm(self) -> None:
        """Load (or compile) the compiled passes and bind the model once, on a private voice, so
        the first real frames do not wait for them (loading them from numba's cache alone took
        0.5-0.8 s of a live start, every note of it falling back)."""
        vf = np.zeros((1, self.vf.shape[1]), np.float64)
        vf[0, VF_STATE] = 1.0
        vf[0, VF_NOTE], vf[0, VF_VEL], vf[0, VF_NOTE_ID] = 60.0, 64.0, 0.0
        vf[0, VF_INC] = 261.63 / float(self.p[P_SR] or SAMPLE_RATE)
        st = np.zeros_like(self.st)
        w = TimbreWorker(self.timbre, vf, NeuralSlots.allocate(1, self.slots.depth), self.p.copy(), st)
        w.process_hop(0)

    def _done(self, target: int, t0: float) -> None:
        self.hops += 1
        self.last_hop = target
        self.worst_seconds = max(self.worst_seconds, time.perf_counter() - t0)

    def due(self) -> tuple[int, int]:
        """``(first, last)`` hops whose frames may be written now (see :class:`NeuralSlots`)."""
        hop = self.hop_size()
        now = int(self.st[S_SAMPLE])
        first = -(-now // hop)                                   # the next boundary the kernel meets
        last = (now - 1) // hop + self.slots.depth               # its slot was consumed already
        return max(first, self.last_hop + 1), last

    def catch_up(self) -> int:
        """Compute every frame that is due now, in hop order; returns how many hops were processed."""
        first, last = self.due()
        if self.last_hop >= 0 and first > self.last_hop + 1:
            self.skipped_hops += first - self.last_hop - 1
        n = 0
        for t in range(first, last + 1):
            self.process_hop(t)
            n += 1
        return n

    def run(self) -> None:
        try:
            while not self._stop_ev.is_set():
                if self.catch_up() == 0:
                    self._stop_ev.wait(self.poll_seconds)
        except BaseException as e:  # noqa: BLE001 - reported to the owner through .error
            self.error = e

    def stop(self, timeout: float = 2.0) -> None:
        self._stop_ev.set()
        if self.is_alive():
            self.join(timeout)
