"""The Engine: one object that renders live, offline, or inside a host's own mixer.

>>> import numpy as np
>>> from rtgen import Engine, EngineSpec
>>> eng = Engine(EngineSpec(sample_rate=48000, seed=1))
>>> eng.note_on(60, 100)
True
>>> out = eng.render(frames=4800)            # 0.1 s of stereo float32
>>> out.shape, out.dtype.name, bool(np.abs(out).max() > 0.01)
((4800, 2), 'float32', True)

Threads: the render call (the audio thread, or the host's mixer) owns the state. Every
other thread talks to it through command rings (:meth:`command`, :meth:`note_on`, …)
and reads what happened from the event ring (:meth:`events`). Each ring has one
producer end; the methods here take a ``ring`` argument so the MIDI thread, the
Continuator and the control thread each write to their own.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import EngineSpec
from .errors import ConfigError, DeviceError
from .rt import kernel
from .rt.clock import samples_per_beat
from .rt.commands import (
    AllNotesOff,
    Command,
    Meter,
    NoteFor,
    NoteOff,
    NoteOn,
    Panic,
    PitchBend,
    ResetClock,
    SetGenActive,
    SetGenWord,
    SetHarmony,
    SetLayer,
    SetParam,
    Sustain,
    Swing,
    Tempo,
    VoiceControl,
    harmony_commands,
)
from .rt.layout import (
    CHUNK,
    GEN_NB,
    GEN_NF,
    GEN_NI,
    GI_ACTIVE,
    H_DENSITY,
    H_TENSION,
    H_VERSION,
    IP_ONESHOT,
    LAYER_ANSWER,
    LAYER_AUTOMATA,
    LAYER_GRAMMAR,
    LAYER_NAMES,
    LAYER_PLAYER,
    LAYER_RULES,
    LAYER_STINGER,
    LF_BREATH,
    LF_BRIGHT,
    LF_GAIN,
    LF_GAIN_SMOOTH,
    LF_INSTR,
    LF_MUTE,
    LF_PAN,
    LF_VIB_DEPTH,
    LF_VIB_RATE,
    N_CMD_RINGS,
    N_GEN,
    N_INSTR,
    N_LAYERS,
    N_NOISE_BANDS,
    NF_DEPTH,
    P_ATTACK,
    P_BEAT,
    P_BEAT_INC,
    P_BEATS_PER_BAR,
    P_BPM,
    P_DECAY,
    P_HOP,
    P_LIMIT_CEIL,
    P_LIMIT_GAIN,
    P_LIMIT_RELEASE,
    P_MASTER_GAIN,
    P_MORPH,
    P_MORPH_TO,
    P_NEURAL,
    P_RELEASE,
    P_SR,
    P_SUSTAIN,
    P_SWING,
    P_VOICE_GAIN,
    RING_CONTROL,
    S_BEAT_INDEX,
    S_BLOCKS,
    S_CB_SAMPLE,
    S_CB_TIME_NS,
    S_CLIPS,
    S_CMD_BAD,
    S_EV_DROPPED,
    S_LAST_NS,
    S_LATE_FRAMES,
    S_NONFINITE,
    S_NOTES,
    S_OUT_DROPPED,
    S_RNG,
    S_SAMPLE,
    S_STEALS,
    S_UNDERFLOWS,
    S_VOICE_HOPS,
    S_WORST_NS,
    VF_BREATH,
    VF_BRIGHT,
    VF_STATE,
    VF_VIB_DEPTH,
    VF_VIB_RATE,
    VS_FREE,
)
from .rt.ring import CommandWriter, EventReader
from .rt.rng import seed_state
from .rt.state import EngineState, allocate

if TYPE_CHECKING:
    from .gen.base import Sequencer
    from .timbre.base import Timbre

# default instrument per layer (indices into the timbre's instrument list)
_LAYER_INSTR = {LAYER_RULES: 3, LAYER_GRAMMAR: 7, LAYER_AUTOMATA: 1, LAYER_PLAYER: 0,
                LAYER_ANSWER: 6, LAYER_STINGER: 5}
_LAYER_PAN = {LAYER_RULES: -0.3, LAYER_GRAMMAR: 0.3, LAYER_AUTOMATA: 0.0, LAYER_PLAYER: -0.15,
              LAYER_ANSWER: 0.15}


def noise_filter_coefficients(sr: float) -> np.ndarray:
    """Band-pass (TPT state-variable) coefficients of the per-layer noise bank, one row per band.

    Row: (a1, a2, a3, k * norm) where ``norm`` scales uniform white noise in [-1, 1] so a band
    gain is the RMS amplitude of the noise in that band (equivalent noise bandwidth of a
    two-pole resonator: pi/2 times its -3 dB bandwidth).
    """
    from .timbre.base import NOISE_BAND_EDGES_HZ

    c = np.zeros((N_NOISE_BANDS, 4), np.float64)
    nyq = 0.5 * sr
    for b in range(N_NOISE_BANDS):
        lo = max(NOISE_BAND_EDGES_HZ[b], 40.0)
        hi = min(NOISE_BAND_EDGES_HZ[b + 1], 0.49 * sr)
        if hi <= lo * 1.05:
            hi = lo * 1.05
        fc = math.sqrt(lo * hi)
        bw = hi - lo
        q = fc / bw
        g = math.tan(math.pi * min(fc, 0.45 * sr) / sr)
        k = 1.0 / q
        a1 = 1.0 / (1.0 + g * (g + k))
        a2 = g * a1
        a3 = g * a2
        norm = math.sqrt(3.0 * nyq / (0.5 * math.pi * bw))
        c[b] = (a1, a2, a3, k * norm)
    return c


def _unlink_quietly(shm: Any) -> None:
    try:
        shm.unlink()
    except (FileNotFoundError, OSError):
        pass


class Engine:
    """The real-time generative engine. See the module docstring for the threading rules."""

    def __init__(self, spec: EngineSpec | None = None, timbre: str | Timbre | None = "neural") -> None:
        self.spec = spec or EngineSpec()
        self.state: EngineState = allocate(self.spec.voices)
        self._writers = [CommandWriter(self.state.cmd, self.state.cmd_idx, r) for r in range(N_CMD_RINGS)]
        self._reader = EventReader(self.state.out, self.state.out_idx)
        self._slots: list[Sequencer | None] = [None] * N_GEN
        self._retire: dict[int, int] = {}     # slot -> ring index of its deactivation
        self._live = False
        # offline hooks called as hook(first sample, frames) before each render (Python generators)
        self.pre_render: list[Any] = []
        self._worker: Any = None
        self._wproc: Any = None
        self._shm: Any = None
        self._shm_desc = ""
        self.timbre = self._load_timbre(timbre)
        self._init_state()
        self._init_neural()

    # ------------------------------------------------------------------ setup
    def _load_timbre(self, timbre: str | Timbre | None) -> Timbre:
        """The timbre by kind (None: "neural"); a neural model that cannot load falls back to the
        additive timbre with one warning, and ``timbre_fallback`` keeps the reason."""
        import warnings

        from .timbre import load_timbre
        from .timbre.base import Timbre as _T

        self.timbre_requested = timbre.name if isinstance(timbre, _T) else str(timbre or "neural")
        self.timbre_fallback = ""
        if isinstance(timbre, _T):
            t = timbre
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                t = load_timbre(str(timbre or "neural"))
            for w in caught:
                if t.name != "neural" and self.timbre_requested in ("neural", "onnx"):
                    self.timbre_fallback = str(w.message)
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        t.fill_tables(self.state.itab, self.state.iparam, float(self.spec.sample_rate))
        # one-shot instruments (the drum kit): note-off does not cut their voices, no bend or vibrato
        one_shot = getattr(t, "one_shot", None)
        shots = one_shot() if callable(one_shot) else {"drums"}
        names = [n for n, _ in t.instruments()]
        for i in range(self.state.iparam.shape[0]):
            self.state.iparam[i, IP_ONESHOT] = 1.0 if names[i % len(names)] in shots else 0.0
        note_hz = getattr(t, "note_hz", None)       # optional: per-note tuning (the drum kit's keys)
        if callable(note_hz):
            hz = np.asarray(note_hz(self.state.inote_hz.shape[0]), np.float64)
            if hz.shape == self.state.inote_hz.shape:
                self.state.inote_hz[:] = np.where(np.isfinite(hz) & (hz > 0.0), hz, 0.0)
        return t

    def _init_neural(self) -> None:
        """With a neural timbre: its worker computes frames a hop ahead into the engine's ring."""
        from .timbre.base import Timbre as _T

        if type(self.timbre).__name__ != "OnnxTimbre" or not isinstance(self.timbre, _T):
            return
        from .timbre.onnx import NeuralSlots, TimbreWorker

        s = self.state
        slots = NeuralSlots.wrap(s.nf_tab, s.nf_amp, s.nf_noise, s.nf_id, s.nf_hop, s.nf_cents)
        self._worker = TimbreWorker(self.timbre, s.vf, slots, s.p, s.st)  # type: ignore[arg-type]
        s.p[P_NEURAL] = 1.0

    def timbre_summary(self) -> str:
        """One line: which timbre played, and how many voice-hops fell back to the additive voice."""
        st = self.stats()
        if not self.neural:
            why = f" (the neural model could not load: {self.timbre_fallback})" if self.timbre_fallback else ""
            return f"additive{why}"
        hops, late = st["voice_hops"], st["late_frames"]
        pct = f" ({100.0 * late / hops:.2f} %)" if hops else ""
        return f"neural; {late} of {hops} voice-hops fell back to the additive voice{pct}"

    @property
    def neural(self) -> bool:
        """True when voices play the neural timbre (its worker feeds frames)."""
        return self._worker is not None

    #: where the live timbre worker runs: "process" (default; its own GIL, so the host's busy
    #: Python threads cannot make it late) or "thread"
    worker_mode = "process"
    _SHARED_FOR_WORKER = ("vf", "nf_tab", "nf_amp", "nf_noise", "nf_id", "nf_hop", "nf_cents", "p", "st")

    def start_worker(self, mode: str | None = None) -> None:
        """Run the timbre worker live (the live backend does this when the stream starts)."""
        if self._worker is None or self._wproc is not None or self._worker.is_alive():
            return
        mode = mode or self.worker_mode
        if mode not in ("process", "thread"):
            raise ConfigError(f"worker mode must be process or thread, not {mode!r}")
        if mode == "process":
            try:
                self._start_worker_process()
                return
            except (OSError, RuntimeError, DeviceError) as e:
                import logging

                logging.getLogger("rtgen").warning("timbre worker process failed (%s); using a thread", e)
        w = self._fresh_worker()
        w.warm()
        w.start()

    def _fresh_worker(self) -> Any:
        """A new in-process worker on the current state arrays (a thread starts only once)."""
        from .timbre.onnx import NeuralSlots, TimbreWorker

        old, s = self._worker, self.state
        slots = NeuralSlots.wrap(s.nf_tab, s.nf_amp, s.nf_noise, s.nf_id, s.nf_hop, s.nf_cents)
        w = TimbreWorker(old.timbre, s.vf, slots, s.p, s.st)
        w.state[:] = old.state
        w.note_of[:] = old.note_of
        w.last_hop = old.last_hop
        self._worker = w
        return w

    def _start_worker_process(self) -> None:
        import subprocess
        import sys
        import weakref

        from .rt.shared import share_fields

        if self._shm is None:
            self._shm, self._shm_desc = share_fields(self, self._SHARED_FOR_WORKER)
            weakref.finalize(self, _unlink_quietly, self._shm)
            self._fresh_worker()                  # the offline worker follows the moved arrays
        proc = subprocess.Popen([sys.executable, "-m", "rtgen.timbre.workerproc", self._shm_desc,
                                 getattr(self.timbre, "path", "")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            proc.wait()
            raise DeviceError(f"the timbre worker process did not start ({line or 'no answer'})")
        self._wproc = proc

    def stop_worker(self) -> str:
        """Stop the live timbre worker; returns its report (process mode) or ''."""
        if self._wproc is not None:
            proc, self._wproc = self._wproc, None
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.close()
                report = proc.stdout.read().strip()
                proc.wait(timeout=10)
                return report
            except (OSError, ValueError):
                proc.kill()
                return ""
        if self._worker is not None and self._worker.is_alive():
            self._worker.stop()
        return ""

    def _init_state(self) -> None:
        s, sp = self.state, self.spec
        p = s.p
        p[P_SR] = sp.sample_rate
        p[P_BPM] = sp.bpm
        p[P_BEATS_PER_BAR] = sp.beats_per_bar
        p[P_SWING] = sp.swing
        p[P_MASTER_GAIN] = sp.master_gain
        p[P_LIMIT_CEIL] = sp.limiter_ceiling
        p[P_LIMIT_RELEASE] = sp.limiter_release
        p[P_LIMIT_GAIN] = 1.0
        p[P_ATTACK], p[P_DECAY], p[P_SUSTAIN], p[P_RELEASE] = 0.005, 0.2, 0.7, 0.3
        p[P_VOICE_GAIN] = 1.0
        p[P_HOP] = sp.hop
        p[P_BEAT] = 0.0
        s.st[S_RNG] = seed_state(sp.seed, 9999)
        for lay in range(N_LAYERS):
            s.lrng[lay] = seed_state(sp.seed, 10000 + lay)
        s.st[S_BEAT_INDEX] = -1
        s.nzc[:] = noise_filter_coefficients(sp.sample_rate)
        s.nf_hop[:] = -1
        s.nf_id[:] = -1
        for lay in range(N_LAYERS):
            s.lf[lay, LF_GAIN] = 0.8
            s.lf[lay, LF_GAIN_SMOOTH] = 0.8
            s.lf[lay, LF_PAN] = _LAYER_PAN.get(lay, 0.0)
            s.lf[lay, LF_INSTR] = _LAYER_INSTR.get(lay, 0) % N_INSTR
        self.set_harmony(0, (0, 2, 4, 5, 7, 9, 11), (0, 4, 7), base_octave=4, now=True)

    # ------------------------------------------------------------------ rendering
    def render(self, out: np.ndarray | None = None, frames: int | None = None) -> np.ndarray:
        """Render into ``out`` (float32, C-contiguous, shape [n, 2]) or a new array of ``frames``.

        This is the embedded backend: a host (a game's mixer) calls it from its own audio
        callback. Any length works; work happens on an internal 64-sample grid.
        """
        if out is None:
            if frames is None or int(frames) < 0:
                raise ConfigError("render() needs an output array or a frame count >= 0")
            out = np.zeros((int(frames), 2), np.float32)
        if out.dtype != np.float32 or out.ndim != 2 or out.shape[1] != 2 or not out.flags.c_contiguous:
            raise ConfigError(f"render() writes float32 C-contiguous [n, 2] arrays, got {out.dtype} "
                              f"{out.shape}")
        if self._live:
            raise ConfigError("this engine is playing live; its audio thread owns render()")
        n = out.shape[0]
        for hook in self.pre_render:
            hook(int(self.state.st[S_SAMPLE]), n)
        if self._worker is not None and not self._worker.is_alive() and self._wproc is None:
            # offline: the worker computes frames synchronously on an absolute grid of
            # (depth - 1) hops, so the frames, like the audio, do not depend on the block size
            piece = (NF_DEPTH - 1) * int(self.state.p[P_HOP])
            pos = 0
            while pos < n:
                t = int(self.state.st[S_SAMPLE])
                if t % piece == 0:
                    self._worker.catch_up()
                m = min(piece - t % piece, n - pos)
                kernel.render(self.state, out[pos:pos + m], m)
                pos += m
        elif n:
            kernel.render(self.state, out, n)
        return out

    # ------------------------------------------------------------------ commands
    def send(self, cmd: Command, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Queue a typed command (:mod:`rtgen.rt.commands`) on ``ring`` at ``time`` (absolute
        sample, or -1: as soon as possible). Returns False when the ring is full (the command is
        dropped and counted). The typed setters below are the usual way in."""
        return self._writers[ring].push(*cmd.row(), time)

    def command(self, kind: int, a: float = 0.0, b: float = 0.0, c: float = 0.0, d: float = 0.0,
                e: float = 0.0, f: float = 0.0, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Queue a raw row (``C_*`` kind and its columns): for tests that feed the kernel bad rows.
        Everything else uses :meth:`send` or a typed setter."""
        return self._writers[ring].push(kind, a, b, c, d, e, f, time)

    def note_on(self, note: float, velocity: float = 100, layer: int | str = LAYER_PLAYER,
                instrument: int | str = -1, time: float = -1.0, ring: int = RING_CONTROL, pan: float = 0.0) -> bool:
        """Start a note (MIDI note, velocity 1..127) on a layer (index or name), with the layer's
        instrument or a given one (index or name); velocity 0 is a note-off."""
        if isinstance(layer, str):
            layer = self.layer_index(layer)
        if isinstance(instrument, str):
            instrument = self.instrument_index(instrument)
        if velocity <= 0:
            return self.note_off(note, layer, time=time, ring=ring)
        return self.send(NoteOn(note, min(velocity, 127), layer, instrument, -1, pan), time, ring)

    def note_off(self, note: float, layer: int | str = LAYER_PLAYER, time: float = -1.0,
                 ring: int = RING_CONTROL) -> bool:
        if isinstance(layer, str):
            layer = self.layer_index(layer)
        return self.send(NoteOff(note, layer), time, ring)

    def play_note(self, note: float, velocity: float, seconds: float, layer: int | str = LAYER_STINGER,
                  instrument: int | str = -1, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """A one-shot note that ends by itself after ``seconds`` (stingers, previews); layer and
        instrument by index or name, as for :meth:`note_on`."""
        if isinstance(layer, str):
            layer = self.layer_index(layer)
        if isinstance(instrument, str):
            instrument = self.instrument_index(instrument)
        dur = max(1.0, seconds * self.spec.sample_rate)
        return self.send(NoteFor(note, velocity, layer, instrument, dur), time, ring)

    def sustain(self, down: bool, layer: int = LAYER_PLAYER, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        return self.send(Sustain(bool(down), layer), time, ring)

    def pitch_bend(self, semitones: float, layer: int = LAYER_PLAYER, time: float = -1.0,
                   ring: int = RING_CONTROL) -> bool:
        return self.send(PitchBend(semitones, layer), time, ring)

    def program_change(self, program: int, layer: int = LAYER_PLAYER, time: float = -1.0,
                       ring: int = RING_CONTROL) -> bool:
        """A MIDI program change: the layer's instrument becomes the one that plays General MIDI
        ``program`` (0-127; exact, else the nearest of its family: ``gm_program_instrument``)."""
        from .timbre.base import gm_program_instrument

        return self.send(SetLayer(layer, LF_INSTR, gm_program_instrument(int(program) % 128)[0]), time, ring)

    def set_param(self, index: int, value: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        return self.send(SetParam(index, value), time, ring)

    def set_tempo(self, bpm: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        if not 20.0 <= bpm <= 400.0:
            raise ConfigError(f"tempo must be 20..400 bpm, not {bpm}")
        return self.send(Tempo(bpm), time, ring)

    def set_swing(self, swing: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        if not 0.0 <= swing <= 0.75:
            raise ConfigError(f"swing must be 0..0.75, not {swing}")
        return self.send(Swing(swing), time, ring)

    def set_meter(self, beats_per_bar: int, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        return self.send(Meter(beats_per_bar), time, ring)

    def set_master_gain(self, gain: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        return self.set_param(P_MASTER_GAIN, max(0.0, float(gain)), time, ring)

    def set_layer(self, layer: int | str, *, gain: float | None = None, pan: float | None = None,
                  mute: bool | None = None, instrument: int | str | None = None,
                  time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Change a mixer layer (by index or name: rules, grammar, automata, player, answer…).

        Returns False when a command was dropped (the ring was full)."""
        lay = self.layer_index(layer)
        ok = True
        if gain is not None:
            ok &= self.send(SetLayer(lay, LF_GAIN, max(0.0, float(gain))), time, ring)
        if pan is not None:
            ok &= self.send(SetLayer(lay, LF_PAN, min(1.0, max(-1.0, float(pan)))), time, ring)
        if mute is not None:
            ok &= self.send(SetLayer(lay, LF_MUTE, 1.0 if mute else 0.0), time, ring)
        if instrument is not None:
            ok &= self.send(SetLayer(lay, LF_INSTR, self.instrument_index(instrument)), time, ring)
        return ok

    def set_morph(self, to_instrument: int | str | None, amount: float, time: float = -1.0,
                  ring: int = RING_CONTROL) -> bool:
        """Neural timbre morphing: move every voice's instrument embedding ``amount`` (0..1) of the
        way towards ``to_instrument`` (None: the one set before; the worker interpolates the learnt
        embeddings each hop). The additive fallback has no embeddings and ignores it."""
        if not 0.0 <= float(amount) <= 1.0:
            raise ConfigError(f"morph amount must be 0..1, not {amount}")
        ok = True
        if to_instrument is not None:
            ok = self.send(SetParam(P_MORPH_TO, float(self.instrument_index(to_instrument))), time, ring)
        return self.send(SetParam(P_MORPH, float(amount)), time, ring) and ok

    # ------------------------------------------------------------------ per-voice controls
    #: control name -> (layer column, voice column, lowest, highest); see rt.layout LF_VIB_DEPTH...
    VOICE_CONTROLS = {"vibrato": (LF_VIB_DEPTH, VF_VIB_DEPTH, 0.0, 200.0),        # depth, cents
                      "vibrato_rate": (LF_VIB_RATE, VF_VIB_RATE, 0.0, 20.0),    # Hz (0: 5.5 Hz)
                      "brightness": (LF_BRIGHT, VF_BRIGHT, -1.0, 1.0),          # 0: the timbre's own
                      "breath": (LF_BREATH, VF_BREATH, -60.0, 24.0)}            # noise level change, dB

    def _control_rows(self, values: dict[str, float | None]) -> list[tuple[int, int, float]]:
        rows = []
        for name, v in values.items():
            if v is None:
                continue
            lc, vc, lo, hi = self.VOICE_CONTROLS[name]
            x = float(v)
            if not lo <= x <= hi:
                raise ConfigError(f"{name} must be in {lo:g}..{hi:g}, not {v}")
            rows.append((lc, vc, x))
        return rows

    def set_voice_controls(self, layer: int | str = LAYER_PLAYER, *, vibrato: float | None = None,
                           vibrato_rate: float | None = None, brightness: float | None = None,
                           breath: float | None = None, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Live controls of a layer's voices, sounding and new (in the spirit of Sketch2Sound):
        ``vibrato`` depth in cents (0..200; the mod wheel drives it), ``vibrato_rate`` in Hz,
        ``brightness`` -1 (dark) .. 0 (the timbre's own) .. +1 (bright), ``breath`` the breath /
        bow / brass noise level change in dB. A one-shot voice (drums) ignores vibrato."""
        lay = self.layer_index(layer)
        ok = True
        for lc, _, x in self._control_rows({"vibrato": vibrato, "vibrato_rate": vibrato_rate,
                                            "brightness": brightness, "breath": breath}):
            ok = self.send(SetLayer(lay, lc, x), time, ring) and ok
        return ok

    def set_note_controls(self, note: float, layer: int | str = LAYER_PLAYER, *, vibrato: float | None = None,
                          vibrato_rate: float | None = None, brightness: float | None = None,
                          breath: float | None = None, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """The same controls for one sounding note (every voice playing ``note`` on ``layer``)."""
        lay = self.layer_index(layer)
        ok = True
        for _, vc, x in self._control_rows({"vibrato": vibrato, "vibrato_rate": vibrato_rate,
                                            "brightness": brightness, "breath": breath}):
            ok = self.send(VoiceControl(-1.0, vc, x, float(note), lay), time, ring) and ok
        return ok

    def all_notes_off(self, layer: int = -1, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        return self.send(AllNotesOff(layer), time, ring)

    def panic(self, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Silence everything at once and forget pending notes."""
        return self.send(Panic(), time, ring)

    def reset_clock(self, beat: float = 0.0, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Move the beat clock to ``beat`` at ``time`` (a transport start, a Link phase)."""
        return self.send(ResetClock(beat), time, ring)

    def set_density(self, value: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """The density hint (0..1) generators read from the harmonic context."""
        return self.send(SetHarmony(H_DENSITY, value), time, ring)

    def set_tension(self, value: float, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """The tension hint (0..1) generators read from the harmonic context."""
        return self.send(SetHarmony(H_TENSION, value), time, ring)

    def set_harmony(self, root: int | None, scale: tuple[int, ...] | list[int] | None = None,
                    chord: tuple[int, ...] | list[int] | None = None, base_octave: int | None = None,
                    now: bool = False, ring: int = RING_CONTROL, *, time: float = -1.0,
                    version: float | None = None) -> bool:
        """Set the shared harmonic context (tonic pitch class, scale offsets, chord pitch classes).

        Parts left None keep their value (``chord=()`` clears the chord). ``version`` defaults to
        the current one plus one; ``now`` writes the state directly (before the engine runs)."""
        root_pc = None if root is None else float(int(root) % 12)
        sc = None
        if scale is not None:
            sc = [int(x) for x in scale]
            if not 1 <= len(sc) <= 12 or any(not 0 <= x < 12 for x in sc):
                raise ConfigError(f"a scale is 1..12 semitone offsets in 0..11, not {scale}")
        ch = None if chord is None else [int(x) % 12 for x in chord][:6]
        ver = float(self.state.harm[H_VERSION] + 1) if version is None else float(version)
        cmds = harmony_commands(ver, root_pc, sc, ch, None if base_octave is None else float(base_octave))
        if now:
            for c in cmds:
                self.state.harm[c.word] = c.value
            return True
        ok = True
        for c in cmds:
            ok &= self.send(c, time, ring)
        return ok

    # ------------------------------------------------------------------ generators
    def add_generator(self, seq: Sequencer, slot: int | None = None, active: bool = True,
                      time: float = -1.0) -> int:
        """Pack a Sequencer into a free slot and start it (at ``time``, or the next chunk)."""
        if slot is None:
            free = [i for i in range(N_GEN) if self.slot_free(i)]
            if not free:
                raise ConfigError(f"all {N_GEN} generator slots are in use")
            slot = free[0]
        if not 0 <= slot < N_GEN or not self.slot_free(slot):
            raise ConfigError(f"generator slot {slot} is in use or out of range 0..{N_GEN - 1}")
        gi = np.zeros(GEN_NI, np.int64)
        gf = np.zeros(GEN_NF, np.float64)
        gbuf = np.zeros(GEN_NB, np.int32)
        seq.pack(gi, gf, gbuf, self.spec.seed, slot)
        gi[GI_ACTIVE] = 0
        s = self.state
        # the slot is inactive: the audio thread does not read it until the command below
        s.gbuf[slot] = gbuf
        s.gf[slot] = gf
        s.gi[slot] = gi
        self._slots[slot] = seq
        if active:
            if self._live:
                self.set_generator_active(slot, True, time=time)
            else:
                s.gi[slot, GI_ACTIVE] = 1
        return slot

    def remove_generator(self, slot: int, time: float = -1.0) -> None:
        """Stop a generator (its sounding notes are released) and free its slot."""
        if not 0 <= slot < N_GEN:
            raise ConfigError(f"generator slot {slot} out of range")
        self.set_generator_active(slot, False, time=time)
        self._slots[slot] = None
        self._retire[slot] = self._writers[RING_CONTROL].written

    def slot_free(self, slot: int) -> bool:
        """True when generator slot ``slot`` holds no generator (a retired one counts once the
        audio thread has consumed its deactivation)."""
        if self._slots[slot] is not None:
            return False
        mark = self._retire.get(slot)
        # a slot being retired is free once the audio thread has consumed the deactivation
        return mark is None or self._writers[RING_CONTROL].consumed >= mark

    def generators(self) -> dict[int, Sequencer]:
        return {i: s for i, s in enumerate(self._slots) if s is not None}

    def set_generator_active(self, slot: int, on: bool, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Switch generator slot ``slot`` on or off at ``time`` (off releases the notes it started)."""
        return self.send(SetGenActive(slot, bool(on)), time, ring)

    def stop_generator_steps(self, slot: int, time: float = -1.0, ring: int = RING_CONTROL) -> bool:
        """Stop generator slot ``slot`` stepping from ``time`` on, leaving its sounding notes to end
        (a transition stops the old generators a chunk before it releases their voices)."""
        return self.send(SetGenWord(slot, GI_ACTIVE, 0.0), time, ring)

    def set_generator_param(self, slot: int, name: str, value: float, time: float = -1.0,
                            ring: int = RING_CONTROL) -> bool:
        """Change a generator's live parameter by name (see ``Sequencer.params()``)."""
        seq = self._slots[slot] if 0 <= slot < N_GEN else None
        if seq is None:
            raise ConfigError(f"no generator in slot {slot}")
        for prm in seq.params():
            if prm.name == name:
                v = float(value)
                if not (prm.lo <= v <= prm.hi):
                    raise ConfigError(f"{seq.name}.{name} must be in {prm.lo}..{prm.hi}, not {value}")
                return self.send(SetGenWord(slot, prm.index, v, floats=prm.array != "i"), time, ring)
        names = ", ".join(p.name for p in seq.params())
        raise ConfigError(f"{seq.name} has no parameter {name!r}; it has: {names}")

    # ------------------------------------------------------------------ reading back
    def events(self) -> np.ndarray:
        """Drain the output events: rows [kind, time, a, b, c, d, e, f] (see ``O_*`` in rt.layout)."""
        return self._reader.drain()

    def now_sample(self) -> float:
        """The engine's sample position for *now*: live, extrapolated from the last callback."""
        st = self.state.st
        if not self._live:
            return float(st[S_SAMPLE])
        for _ in range(4):
            s0 = int(st[S_CB_SAMPLE])
            t0 = int(st[S_CB_TIME_NS])
            if int(st[S_CB_SAMPLE]) == s0:
                break
        if t0 == 0:
            return float(st[S_SAMPLE])
        return s0 + (time.monotonic_ns() - t0) * 1e-9 * self.spec.sample_rate

    def beat_anchor(self, wait_callback: bool | None = None) -> tuple[float, float]:
        """(chunk start sample, beat position there) of the engine's beat clock, read consistently.

        ``P_BEAT`` is the beat at the start of the last chunk the engine began; when the sample
        counter sits exactly on a chunk boundary, that chunk has not begun yet and its beat is
        ``P_BEAT + P_BEAT_INC`` (what the engine will compute there). Live (or with
        ``wait_callback``), the read first waits until the audio callback is not in the middle
        of a block (at most 10 ms), since the callback moves the two apart while it runs.
        """
        st, p = self.state.st, self.state.p
        if self._live if wait_callback is None else wait_callback:
            t_end = time.monotonic() + 0.01
            while time.monotonic() < t_end:
                since = time.monotonic_ns() - int(st[S_CB_TIME_NS])
                if since > max(3 * int(st[S_LAST_NS]), 300_000):
                    break
                time.sleep(0.0002)
        s0, pb, inc = 0, 0.0, 0.0
        for _ in range(8):
            s0 = int(st[S_SAMPLE])
            pb, inc = float(p[P_BEAT]), float(p[P_BEAT_INC])
            if int(st[S_SAMPLE]) == s0:
                break
        if s0 > 0 and s0 % CHUNK == 0:
            return float(s0), pb + inc
        return float((s0 // CHUNK) * CHUNK), pb

    def beat_at(self, sample: float) -> float:
        """Beat position at an absolute sample, at the current tempo."""
        t0, b0 = self.beat_anchor()
        return b0 + (sample - t0) / self.samples_per_beat()

    def sample_at_beat(self, beat: float) -> float:
        """Absolute sample of a beat position, assuming the tempo stays as it is."""
        t0, b0 = self.beat_anchor()
        return t0 + (beat - b0) * self.samples_per_beat()

    def samples_per_beat(self) -> float:
        """Samples per beat at the current tempo (the one formula; the kernel's twin is
        :func:`rtgen.rt.clock.samples_per_beat`)."""
        return samples_per_beat(self.state.p)

    def next_boundary(self, quantum: str = "beat", after: float | None = None) -> float:
        """The sample of the next beat or bar (``quantum`` = "immediate", "beat" or "bar").

        Commands sent with this as their ``time`` take effect exactly on it, which is how
        state transitions and stingers are quantised.
        """
        now = self.now_sample() if after is None else float(after)
        if quantum == "immediate":
            return -1.0
        b = self.beat_at(now)
        if quantum == "beat":
            nb = math.floor(b + 1e-9) + 1.0
        elif quantum == "bar":
            bpb = max(1, int(self.state.p[P_BEATS_PER_BAR]))
            nb = (math.floor(b / bpb + 1e-9) + 1.0) * bpb
        else:
            raise ConfigError(f"quantum must be immediate, beat or bar, not {quantum!r}")
        return math.floor(self.sample_at_beat(nb) + 0.5)

    @property
    def sample_rate(self) -> int:
        """The engine's sample rate in Hz (fixed when it is built; read it here)."""
        return self.spec.sample_rate

    @property
    def is_live(self) -> bool:
        """True while a live backend's audio thread owns the engine (it renders; others send)."""
        return self._live

    def active_voices(self) -> int:
        return int(np.count_nonzero(self.state.vf[:, VF_STATE] != VS_FREE))

    def stats(self) -> dict[str, Any]:
        st = self.state.st
        return {
            "samples": int(st[S_SAMPLE]),
            "blocks": int(st[S_BLOCKS]),
            "underflows": int(st[S_UNDERFLOWS]),
            "worst_block_us": st[S_WORST_NS] / 1000.0,
            "notes": int(st[S_NOTES]),
            "steals": int(st[S_STEALS]),
            "commands_dropped": sum(w.dropped for w in self._writers),
            "commands_rejected": int(st[S_CMD_BAD]),
            "events_dropped": int(st[S_EV_DROPPED]),
            "out_events_dropped": int(st[S_OUT_DROPPED]),
            "nonfinite_caught": int(st[S_NONFINITE]),
            "clips": int(st[S_CLIPS]),
            "late_frames": int(st[S_LATE_FRAMES]),
            "voice_hops": int(st[S_VOICE_HOPS]),
            "timbre": "neural" if self.neural else "additive",
            "active_voices": self.active_voices(),
        }

    # ------------------------------------------------------------------ names
    @staticmethod
    def layer_index(layer: int | str) -> int:
        if isinstance(layer, str):
            if layer not in LAYER_NAMES:
                raise ConfigError(f"unknown layer {layer!r}; layers: {', '.join(LAYER_NAMES)}")
            return LAYER_NAMES.index(layer)
        if not 0 <= int(layer) < N_LAYERS:
            raise ConfigError(f"layer {layer} out of range 0..{N_LAYERS - 1}")
        return int(layer)

    def instrument_index(self, instrument: int | str) -> int:
        names = [n for n, _ in self.timbre.instruments()]
        if isinstance(instrument, str):
            if instrument not in names:
                raise ConfigError(f"unknown instrument {instrument!r}; instruments: {', '.join(names)}")
            return names.index(instrument)
        if not 0 <= int(instrument) < len(names):
            raise ConfigError(f"instrument {instrument} out of range 0..{len(names) - 1}")
        return int(instrument)


__all__ = ["Engine", "EngineSpec"]
