"""Record a session: a WAV of the output and a Standard MIDI File with one track per layer.

Both files are valid at every moment, so Ctrl-C, a crash or a SIGKILL leaves them readable:

* the WAV is written by a writer thread through soundfile with libsndfile's
  *update header after every write* mode, so the RIFF sizes always cover the frames
  written so far; a ``flush()`` every ``flush_s`` pushes them to the file;
* the MIDI file is rewritten (a temporary file, then an atomic rename) every
  ``flush_s`` while notes arrive, with provisional note-offs for notes still sounding.

Where the audio comes from:

* offline / embedded: whoever calls ``engine.render`` hands the blocks to
  :meth:`SessionRecorder.feed_audio`;
* live: the compiled callback cannot call Python, so :class:`RecordingTap` switches on
  the engine's effects send ring with zero added latency (``FXI_LATENCY = 0``: the
  callback plays the block it just wrote, dry, so the output is unchanged) and a
  thread copies the ring into the WAV writer. ``FXI_LATE`` then counts every block
  (there is no wet return to wait for). **Limitation:** the effects worker uses the
  same ring; while effects are on, the tap refuses to start (record the effects
  output with a JACK recorder instead).

Events (notes of every layer) come from ``engine.events()`` rows; feed them with
:meth:`SessionRecorder.feed_events` (e.g. as a :class:`rtgen.game.MusicController`
event sink).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .protocol import EngineLike
from .rt.layout import FX_CAP, FXI_ENABLED, FXI_LATENCY, FXI_SEND_HEAD, LAYER_NAMES, N_LAYERS, O_NOTE_OFF, O_NOTE_ON

log = logging.getLogger("rtgen.record")

SFC_SET_UPDATE_HEADER_AUTO = 0x1061      # libsndfile: rewrite the header after every write


class WavWriter:
    """Appends float32 [n, 2] blocks to a WAV file from its own thread; the header is always valid."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int = 2,
                 subtype: str = "PCM_24", flush_s: float = 0.25) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.frames = 0
        self.flush_s = flush_s
        self._f = sf.SoundFile(str(self.path), "w", self.sample_rate, channels, subtype=subtype, format="WAV")
        try:
            from soundfile import _ffi, _snd
            _snd.sf_command(self._f._file, SFC_SET_UPDATE_HEADER_AUTO, _ffi.NULL, 1)
            self.header_auto = True
        except Exception:                     # another soundfile build: flush() still rewrites sizes
            self.header_auto = False
        self._q: queue.Queue[np.ndarray | None] = queue.Queue()
        self._t = threading.Thread(target=self._loop, name="rtgen-wav", daemon=True)
        self.error: BaseException | None = None
        self._t.start()

    def write(self, block: np.ndarray) -> None:
        """Queue a copy of ``block`` (any thread but the audio thread)."""
        if self.error is None:
            self._q.put(np.array(block, np.float32, copy=True))

    def _loop(self) -> None:
        last = time.monotonic()
        while True:
            try:
                b = self._q.get(timeout=self.flush_s)
            except queue.Empty:
                b = np.zeros((0, 2), np.float32)
            if b is None:
                break
            try:
                if len(b):
                    self._f.write(b)
                    self.frames += len(b)
                if time.monotonic() - last >= self.flush_s:
                    self._f.flush()
                    last = time.monotonic()
            except Exception as e:            # disk full, file gone: stop writing, keep what is there
                self.error = e
                log.error("recording to %s stopped: %s", self.path, e)
                break

    def close(self) -> None:
        if self._t.is_alive():
            self._q.put(None)
            self._t.join(timeout=10.0)
        if not self._f.closed:
            self._f.close()


class MidiRecorder:
    """Notes of every layer into a type-1 SMF (one named track per layer, tempo in the first track)."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, bpm: float, ticks_per_beat: int = 480,
                 flush_s: float = 1.0, drum_instrument: int = -1) -> None:
        self.path = Path(path)
        self.drum_instrument = int(drum_instrument)    # notes of this instrument go to channel 10
        self.drums: set[tuple[int, int]] = set()         # (layer, tick) of drum notes
        self.programs: dict[int, int] = {}               # layer -> its first note's instrument
        self.sr = float(sample_rate)
        self.tpb = int(ticks_per_beat)
        self.flush_s = flush_s
        self.tempos: list[tuple[int, float]] = [(0, float(bpm))]     # (tick, bpm)
        self._anchor = (0.0, 0.0, float(bpm))                       # (sample, tick, bpm)
        self.notes: list[list[tuple[int, bool, int, int]]] = [[] for _ in range(N_LAYERS)]  # (tick, on, note, vel)
        self.sounding: dict[tuple[int, int], int] = {}
        self.last_tick = 0
        self._dirty = True
        self._last_flush = 0.0
        self._lock = threading.Lock()
        self.flush(force=True)

    def _tick(self, sample: float) -> int:
        s0, k0, bpm = self._anchor
        return max(0, int(round(k0 + (sample - s0) / self.sr * bpm / 60.0 * self.tpb)))

    def set_tempo(self, sample: float, bpm: float) -> None:
        with self._lock:
            if abs(bpm - self._anchor[2]) < 1e-9:
                return
            tick = self._tick(sample)
            self._anchor = (float(sample), float(tick), float(bpm))
            self.tempos.append((tick, float(bpm)))

    def feed(self, rows: np.ndarray) -> None:
        with self._lock:
            for r in rows:
                kind = int(r[0])
                if kind not in (O_NOTE_ON, O_NOTE_OFF):
                    continue
                lay = int(r[4])
                if not 0 <= lay < N_LAYERS:
                    continue
                note = max(0, min(127, int(round(float(r[2])))))
                tick = self._tick(float(r[1]))
                key = (lay, note)
                instr = int(r[6])
                if instr == self.drum_instrument and instr >= 0:
                    key = (lay, note + 1000)                  # drum keys: their own sounding table
                if kind == O_NOTE_ON:
                    self.programs.setdefault(lay, instr)
                    vel = max(1, min(127, int(round(float(r[3])))))
                    self.sounding[key] = self.sounding.get(key, 0) + 1
                    self.notes[lay].append((tick, True, key[1], vel))
                else:
                    c = self.sounding.get(key, 0)
                    if c <= 0:
                        continue
                    if c == 1:
                        del self.sounding[key]
                    else:
                        self.sounding[key] = c - 1
                    self.notes[lay].append((tick, False, key[1], 0))
                self.last_tick = max(self.last_tick, tick)
                self._dirty = True
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Rewrite the file (atomically) if notes arrived and ``flush_s`` has passed."""
        import mido

        with self._lock:
            now = time.monotonic()
            if not force and (not self._dirty or now - self._last_flush < self.flush_s):
                return
            mf = mido.MidiFile(type=1, ticks_per_beat=self.tpb)
            t0 = mido.MidiTrack()
            t0.append(mido.MetaMessage("track_name", name="rtgen", time=0))
            prev = 0
            for tick, bpm in self.tempos:
                t0.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick - prev))
                prev = tick
            t0.append(mido.MetaMessage("end_of_track", time=0))
            mf.tracks.append(t0)
            for lay in range(N_LAYERS):
                tr = mido.MidiTrack()
                tr.append(mido.MetaMessage("track_name", name=LAYER_NAMES[lay], time=0))
                ch = lay if lay < 9 else lay + 1          # keep off channel 10 (drums)
                prog = _gm_program(self.programs.get(lay, -1))
                if prog >= 0:
                    tr.append(mido.Message("program_change", channel=ch, program=prog, time=0))
                evs = sorted(self.notes[lay], key=lambda e: (e[0], e[1]))      # offs before ons at a tick
                still = [(self.last_tick, False, n, 0) for (ll, n), c in self.sounding.items() if ll == lay
                         for _ in range(c)]
                prev = 0
                for tick, on, note, vel in evs + still:
                    kind = "note_on" if on else "note_off"
                    # drum keys (stored + 1000) play on channel 10, the GM percussion channel
                    c, n = (9, note - 1000) if note >= 1000 else (ch, note)
                    tr.append(mido.Message(kind, channel=c, note=n, velocity=vel, time=tick - prev))
                    prev = tick
                tr.append(mido.MetaMessage("end_of_track", time=0))
                mf.tracks.append(tr)
            tmp = self.path.with_name(f".{self.path.name}.part")
            mf.save(str(tmp))
            os.replace(tmp, self.path)
            self._dirty = False
            self._last_flush = now

    def close(self) -> None:
        self.flush(force=True)


def _gm_program(instr: int) -> int:
    """The GM program of an engine instrument index (-1: unknown or the drum kit)."""
    from .timbre.base import INSTRUMENTS

    if 0 <= instr < len(INSTRUMENTS):
        return int(INSTRUMENTS[instr][1]) if INSTRUMENTS[instr][0] != "drums" else -1
    return -1


def drum_index() -> int:
    """The engine index of the drum kit, -1 while the instrument set has none."""
    from .timbre.base import INSTRUMENTS

    names = [n for n, _ in INSTRUMENTS]
    return names.index("drums") if "drums" in names else -1


def write_midi(path: str | os.PathLike[str], rows: np.ndarray, sample_rate: int, bpm: float) -> Path:
    """The notes of ``rows`` (``engine.events()``) as a type-1 SMF: a track per layer, drums on channel 10."""
    m = MidiRecorder(path, sample_rate, bpm, drum_instrument=drum_index())
    m.feed(rows)
    m.close()
    return m.path


#: samples the master stage delays the output (its lookahead, rt/master.py)
def _master_delay() -> int:
    from .rt.layout import M_LOOK

    return M_LOOK + 4


def render_stems(make_engine: Any, seconds: float, block: int = 4096) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The mix and one stem per sounding layer, such that the stems sum to the mix.

    ``make_engine()`` builds the same engine (preset, seed) afresh. The mix is rendered once;
    each layer is rendered again alone (the others muted, voices still allocated as in the mix),
    before the master stage. The master stage is not linear (a loudness gain and a limiter), so
    a stem is defined as its layer's pre-master signal times the gain the master applied to the
    whole mix at that sample (estimated per sample from the mix and the sum of the layers):
    the stems then add up to the mix to within float rounding, and each sounds as it does in the mix.
    """
    from .backends.offline import render_array
    from .rt.layout import LF_GAIN_SMOOTH, LF_MUTE, N_LAYERS, P_LIMIT_CEIL, P_M_ON

    eng = make_engine()
    mix = render_array(eng, seconds, block=block)
    rows = eng.events()
    used = sorted({int(r[4]) for r in rows if int(r[0]) == O_NOTE_ON})
    mastered = eng.state.p[P_M_ON] > 0.5
    pre: dict[int, np.ndarray] = {}
    for lay in used:
        e = make_engine()
        e.state.p[P_M_ON] = 0.0
        e.state.p[P_LIMIT_CEIL] = 1.0
        for other in range(N_LAYERS):
            if other != lay:
                e.state.lf[other, LF_MUTE] = 1.0
                e.state.lf[other, LF_GAIN_SMOOTH] = 0.0
        pre[lay] = render_array(e, seconds, block=block).astype(np.float64)
    if not pre:
        return mix, {}
    total = np.sum(np.stack(list(pre.values())), axis=0)
    d = _master_delay() if mastered else 0
    shifted = {k: np.concatenate([np.zeros((d, 2)), v[:len(v) - d]]) for k, v in pre.items()} if d else pre
    tot = np.concatenate([np.zeros((d, 2)), total[:len(total) - d]]) if d else total
    m64 = mix.astype(np.float64)
    energy = (tot ** 2).sum(axis=1)
    gain = np.where(energy > 1e-12, (m64 * tot).sum(axis=1) / np.maximum(energy, 1e-30), np.nan)
    idx = np.flatnonzero(np.isfinite(gain))
    if len(idx):
        gain = np.interp(np.arange(len(gain)), idx, gain[idx])
    else:
        gain = np.ones(len(gain))
    stems = {LAYER_NAMES[k]: (v * gain[:, None]).astype(np.float32) for k, v in shifted.items()}
    return mix, stems


class RecordingTap:
    """Copies the live output from the engine's effects send ring into a :class:`WavWriter`."""

    def __init__(self, engine: EngineLike, writer: WavWriter, poll_s: float = 0.01) -> None:
        self.engine = engine
        self.writer = writer
        self.poll_s = poll_s
        self.lost_frames = 0
        self.frames = 0
        self._pos = -1
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def start(self) -> RecordingTap:
        fxi = self.engine.state.fxi
        if int(fxi[FXI_ENABLED]) != 0:
            raise ConfigError("the effects worker is using the send ring: live recording with effects on is "
                              "not supported (record the JACK output instead)")
        fxi[FXI_LATENCY] = 0
        self._pos = int(fxi[FXI_SEND_HEAD]) if int(fxi[FXI_SEND_HEAD]) > 0 else -1
        fxi[FXI_ENABLED] = 1
        self._stop.clear()
        self._t = threading.Thread(target=self._loop, name="rtgen-record-tap", daemon=True)
        self._t.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.pump()
            self._stop.wait(self.poll_s)
        self.pump()

    def pump(self) -> int:
        """Copy what the callback has written since the last call; returns frames copied."""
        st = self.engine.state
        head = int(st.fxi[FXI_SEND_HEAD])
        if self._pos < 0:
            if head <= 0:
                return 0
            # the first block the callback wrote after enabling: start from it
            self._pos = head - min(head, int(self.engine.spec.block_size))
        pos = self._pos
        if head <= pos:
            return 0
        margin = 2 * int(self.engine.spec.block_size)
        if head - pos > FX_CAP - margin:              # we fell behind: the oldest frames are gone
            lost = head - pos - (FX_CAP - margin)
            self._write_silence(lost)
            pos += lost
        idx = np.arange(pos, head) % FX_CAP
        block = st.fxs[idx].copy()
        head2 = int(st.fxi[FXI_SEND_HEAD])
        over = head2 - FX_CAP - pos                   # frames overwritten while we copied
        if over > 0:
            block[:over] = 0.0
            self.lost_frames += int(over)
        self.writer.write(block)
        self.frames += len(block)
        self._pos = head
        return len(block)

    def _write_silence(self, n: int) -> None:
        self.lost_frames += int(n)
        self.writer.write(np.zeros((int(n), 2), np.float32))
        self.frames += int(n)

    def stop(self) -> None:
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=2.0)
            self._t = None
        self.engine.state.fxi[FXI_ENABLED] = 0


class SessionRecorder:
    """``DIR/session.wav`` and ``DIR/session.mid`` (names get a number when they exist)."""

    def __init__(self, directory: str | os.PathLike[str], sample_rate: int, bpm: float = 120.0,
                 engine: EngineLike | None = None, name: str = "session", flush_s: float = 0.25) -> None:
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--record {d}: cannot create the directory: {e.strerror or e}") from None
        stem = name
        k = 1
        while (d / f"{stem}.wav").exists() or (d / f"{stem}.mid").exists():
            k += 1
            stem = f"{name}-{k}"
        self.wav_path = d / f"{stem}.wav"
        self.midi_path = d / f"{stem}.mid"
        self.engine = engine
        self.wav = WavWriter(self.wav_path, sample_rate, flush_s=flush_s)
        self.midi = MidiRecorder(self.midi_path, sample_rate, bpm, flush_s=max(flush_s, 0.5))
        self.tap: RecordingTap | None = None
        self._bpm = float(bpm)

    @classmethod
    def for_engine(cls, engine: EngineLike, directory: str | os.PathLike[str], **kw: Any) -> SessionRecorder:
        from .rt.layout import P_BPM

        return cls(directory, engine.sample_rate, float(engine.state.p[P_BPM]), engine=engine, **kw)

    def start_live(self) -> SessionRecorder:
        if self.engine is None:
            raise ConfigError("live recording needs the engine")
        self.tap = RecordingTap(self.engine, self.wav).start()
        return self

    def feed_audio(self, block: np.ndarray) -> None:
        self.wav.write(block)

    def feed_events(self, rows: np.ndarray) -> None:
        if self.engine is not None and len(rows):
            from .rt.layout import P_BPM

            bpm = float(self.engine.state.p[P_BPM])
            if bpm != self._bpm:
                self._bpm = bpm
                self.midi.set_tempo(float(rows[0, 1]), bpm)
        self.midi.feed(rows)

    def stop(self) -> dict[str, Any]:
        if self.tap is not None:
            self.tap.stop()
        self.wav.close()
        self.midi.close()
        return {"wav": str(self.wav_path), "midi": str(self.midi_path), "frames": self.wav.frames,
                "seconds": self.wav.frames / self.wav.sample_rate,
                "lost_frames": self.tap.lost_frames if self.tap else 0}


__all__ = ["MidiRecorder", "RecordingTap", "SessionRecorder", "WavWriter"]
