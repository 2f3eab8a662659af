"""Live audio through PortAudio, with a compiled callback that never needs the GIL.

sounddevice's own callbacks run Python in the audio thread: any busy Python thread in
the same process (a game loop, a UI) then delays the callback by a whole GIL switch
interval and the audio underflows. rtgen opens the PortAudio stream through
sounddevice's cffi bindings instead, with a Numba ``@cfunc`` as the raw
``PaStreamCallback``. The callback rebuilds the engine state from a table of array
addresses and runs the same compiled kernel as the offline renderer: no Python
object is touched in the audio thread, so no lock (the GIL included) is ever taken.

The callback also keeps the figures a performer needs: callbacks, underflows reported
by PortAudio, the worst and total compute time per block (CLOCK_MONOTONIC through
libc), and the sample/time pair used for constant-latency MIDI scheduling.
"""

from __future__ import annotations

import ctypes
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import carray, cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..errors import ConfigError, DeviceError
from ..rt import kernel
from ..rt.layout import (
    FXI_ENABLED,
    MAX_BLOCK,
    P_SR,
    S_BLOCKS,
    S_CB_OVER_DEADLINE,
    S_CB_OVER_DEADLINE_CPU,
    S_CB_SAMPLE,
    S_CB_TIME_NS,
    S_INPUT_OVERFLOWS,
    S_LAST_NS,
    S_SAMPLE,
    S_TOTAL_NS,
    S_UNDERFLOWS,
    S_WORST_CPU_NS,
    S_WORST_NS,
)
from ..rt.state import FIELDS, TABLE_WORDS, EngineState, address_table

if TYPE_CHECKING:
    from ..engine import Engine

JACK_CLIENT_NAME = "rtgen"
PA_OUTPUT_UNDERFLOW = 0x4
PA_OUTPUT_OVERFLOW = 0x8
PA_CONTINUE = 0

# ------------------------------------------------------------------ compiled callback
# Everything the callback calls is cached on disk (``cache=True``), so a warm start loads
# machine code instead of compiling for seconds. numba refuses to cache code holding a run-time
# address (a ctypes function pointer is one), so libc's clock_gettime is declared by its
# symbol name, which the loader resolves in the process; the engine's arrays reach the
# callback through PortAudio's ``userData`` pointer (the address table), never as globals.
_clock_gettime = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.voidptr))
_CLOCK_MONOTONIC = 1
_CLOCK_THREAD_CPUTIME_ID = 3


@njit(cache=True)
def _clock_ns(tb, clock):
    """clock_gettime(clock) in nanoseconds: _CLOCK_MONOTONIC for wall time, or
    _CLOCK_THREAD_CPUTIME_ID for the calling thread's CPU time (which leaves out what other
    threads of the machine took)."""
    _clock_gettime(clock, tb.ctypes)
    return tb[0] * 1000000000 + tb[1]


@intrinsic
def _ptr(typingctx, addr):
    """Reinterpret an int64 address as a void pointer (for ``numba.carray``)."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


# Field order is fixed by rt.state.FIELDS; each line rebuilds one array view. A unit test
# checks this list against FIELDS so the two cannot drift apart.
_W = TABLE_WORDS
_TBL_LEN = len(FIELDS) * TABLE_WORDS


@njit(cache=True)
def _state_from_table(tbl):
    def a1(i, dt):
        return carray(_ptr(tbl[i * _W]), (tbl[i * _W + 1],), dt)

    def a2(i, dt):
        return carray(_ptr(tbl[i * _W]), (tbl[i * _W + 1], tbl[i * _W + 2]), dt)

    def a3(i, dt):
        return carray(_ptr(tbl[i * _W]), (tbl[i * _W + 1], tbl[i * _W + 2], tbl[i * _W + 3]), dt)

    return EngineState(
        a1(0, np.float64),   # p
        a1(1, np.int64),     # st
        a1(2, np.float64),   # harm
        a3(3, np.float64),   # cmd
        a2(4, np.int64),     # cmd_idx
        a2(5, np.float64),   # out
        a1(6, np.int64),     # out_idx
        a2(7, np.float64),   # vf
        a3(8, np.float32),   # vtab
        a2(9, np.float64),   # lf
        a2(10, np.int64),    # gi
        a2(11, np.float64),  # gf
        a2(12, np.int32),    # gbuf
        a2(13, np.float64),  # ev
        a2(14, np.float64),  # pq
        a3(15, np.float32),  # itab
        a2(16, np.float64),  # iparam
        a3(17, np.float32),  # nf_tab
        a2(18, np.float64),  # nf_amp
        a3(19, np.float64),  # nf_noise
        a2(20, np.int64),    # nf_id
        a2(21, np.int64),    # nf_hop
        a2(22, np.float64),  # vnb
        a3(23, np.float64),  # nz
        a2(24, np.float64),  # nzc
        a3(25, np.float64),  # lbuf
        a1(26, np.int64),    # tb
        a2(27, np.float32),  # fxs
        a2(28, np.float32),  # fxr
        a1(29, np.int64),    # fxi
        a3(30, np.float32),  # fxa
        a2(31, np.float64),  # fxl
        a2(32, np.float64),  # mbuf
        a1(33, np.int64),    # lrng
        a2(34, np.float32),  # vscr
        a2(35, np.float64),  # inote_hz
        a2(36, np.float64),  # nf_cents
    )


_SIG = types.int32(types.voidptr, types.voidptr, types.uint64, types.voidptr, types.uint64, types.voidptr)


def _pa_callback(inp, outp, frames, time_info, status, user):
    tbl = carray(user, (_TBL_LEN,), np.int64)
    S = _state_from_table(tbl)
    st = S.st
    t0 = _clock_ns(S.tb, _CLOCK_MONOTONIC)
    c0 = _clock_ns(S.tb, _CLOCK_THREAD_CPUTIME_ID)
    st[S_CB_SAMPLE] = st[S_SAMPLE]
    st[S_CB_TIME_NS] = t0
    if status & PA_OUTPUT_UNDERFLOW:
        st[S_UNDERFLOWS] += 1
    if status & PA_OUTPUT_OVERFLOW:
        st[S_INPUT_OVERFLOWS] += 1
    n = np.int64(frames)
    out = carray(outp, (n, 2), np.float32)
    kernel.render(S, out, n)
    if S.fxi[FXI_ENABLED] != 0:
        kernel.fx_return(S, out, n)
    dc = _clock_ns(S.tb, _CLOCK_THREAD_CPUTIME_ID) - c0
    dt = _clock_ns(S.tb, _CLOCK_MONOTONIC) - t0
    if dc > st[S_WORST_CPU_NS]:
        st[S_WORST_CPU_NS] = dc
    if dc * S.p[P_SR] > n * 1e9:
        st[S_CB_OVER_DEADLINE_CPU] += 1
    st[S_LAST_NS] = dt
    st[S_TOTAL_NS] += dt
    if dt > st[S_WORST_NS]:
        st[S_WORST_NS] = dt
    if dt * S.p[P_SR] > n * 1e9:
        st[S_CB_OVER_DEADLINE] += 1
    return PA_CONTINUE


_compiled: list[Any] = []


def callback_address() -> int:
    """Address of the compiled ``PaStreamCallback`` (loaded from numba's disk cache, or compiled
    and cached on first use, never at import)."""
    if not _compiled:
        _compiled.append(cfunc(_SIG, cache=True)(_pa_callback))
    return int(_compiled[0].address)


LIVE_MIN_BLOCK = 16


def check_live_block(block: int) -> None:
    """Refuse live block sizes no device keeps up with; warn about ones that are not a power of two."""
    if block < LIVE_MIN_BLOCK:
        raise ConfigError(f"--blocksize {block} is too small to play live: a block under {LIVE_MIN_BLOCK} "
                          "frames gives underflows on every device (use 64 or 128; render accepts any size)")
    if block & (block - 1):
        _say(f"rtgen: warning: --blocksize {block} is not a power of two; sound cards and JACK run in "
             "powers of two and PortAudio adapts by buffering, which may give underflows (try 64, 128, 256)",
             sys.stderr)


def _say(text: str, stream: Any) -> None:
    from ..signals import say

    say(text, stream)


# ------------------------------------------------------------------ PortAudio access
def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as e:   # sounddevice raises OSError when the PortAudio library is missing
        raise DeviceError(
            "PortAudio is not installed, so rtgen cannot reach a sound card. Install it "
            "(Debian/Ubuntu: apt-get install libportaudio2; macOS: brew install portaudio), "
            "or render to a file instead: rtgen render out.wav --seconds 30") from e
    except ImportError as e:
        raise DeviceError("the sounddevice package is missing: pip install sounddevice") from e
    return sd


_client_name_set = False


def set_jack_client_name(name: str = JACK_CLIENT_NAME) -> None:
    """Name PortAudio's JACK client (must happen before PortAudio initialises its JACK host API)."""
    global _client_name_set
    if _client_name_set:
        return
    sd = _sounddevice()
    try:
        lib = ctypes.CDLL(sd._libname)
        fn = lib.PaJack_SetClientName
    except (OSError, AttributeError):
        _client_name_set = True     # a PortAudio without JACK support: nothing to name
        return
    fn.argtypes = [ctypes.c_char_p]
    fn.restype = ctypes.c_int
    sd._terminate()
    # the string must outlive PortAudio's use of it: keep it in a module global
    globals()["_client_name_buf"] = ctypes.create_string_buffer(name.encode()[:63])
    fn(globals()["_client_name_buf"])
    sd._initialize()
    _client_name_set = True


def reinitialize() -> None:
    """Re-scan host APIs and devices (after a JACK server started)."""
    if _portaudio_lost:
        raise DeviceError("the sound server went away earlier in this process; restart rtgen to play again")
    sd = _sounddevice()
    sd._terminate()
    sd._initialize()


# Set when a stream's sound server vanished under it. PortAudio's JACK host API then blocks
# forever in every call that would talk to the server (Pa_AbortStream, Pa_CloseStream, even
# Pa_Terminate), so this process must not call PortAudio again.
_portaudio_lost = False


def portaudio_lost() -> bool:
    return _portaudio_lost


def _abandon_portaudio() -> None:
    """Stop sounddevice's exit handler from calling Pa_Terminate (it would hang)."""
    global _portaudio_lost
    _portaudio_lost = True
    sd = _sounddevice()
    sd._initialized = 0
    sd._last_callback = None


def terminate_portaudio() -> None:
    """Close PortAudio (and its JACK connection): do this before a JACK server stops."""
    sd = _sounddevice()
    if sd._initialized and not _portaudio_lost:
        sd._terminate()


def initialize_portaudio() -> None:
    sd = _sounddevice()
    if not sd._initialized and not _portaudio_lost:
        sd._initialize()


def list_devices() -> list[dict[str, Any]]:
    sd = _sounddevice()
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        out.append({"index": i, "name": d["name"], "hostapi": apis[d["hostapi"]]["name"],
                    "outputs": d["max_output_channels"], "inputs": d["max_input_channels"],
                    "default_samplerate": d["default_samplerate"],
                    "low_output_latency": d["default_low_output_latency"]})
    return out


def list_hostapis() -> list[dict[str, Any]]:
    sd = _sounddevice()
    return [{"index": i, "name": h["name"], "devices": list(h["devices"]),
             "default_output": h["default_output_device"]} for i, h in enumerate(sd.query_hostapis())]


def resolve_device(device: int | str | None) -> int:
    """A PortAudio output device index from an index, a name substring, or None (the default)."""
    sd = _sounddevice()
    devs = sd.query_devices()
    outs = [i for i, d in enumerate(devs) if d["max_output_channels"] >= 2]
    if not outs:
        raise DeviceError("no audio output device with 2 channels was found. Start a sound server "
                          "(e.g. a JACK server), play into a private silent one (rtgen play --jack-dummy), "
                          "or render to a file: rtgen render out.wav --seconds 30")
    if device is None or device == "":
        # prefer JACK's default, then PortAudio's default output
        for h in sd.query_hostapis():
            if "JACK" in h["name"] and h["default_output_device"] >= 0:
                return int(h["default_output_device"])
        d = sd.default.device[1]
        if d is not None and int(d) >= 0:
            return int(d)
        return outs[0]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        i = int(device)
        if i not in outs:
            raise DeviceError(f"device {i} is not a stereo output; outputs: "
                              + ", ".join(f"{j} ({devs[j]['name']})" for j in outs))
        return i
    matches = [i for i in outs if str(device).lower() in devs[i]["name"].lower()]
    if not matches:
        raise DeviceError(f"no output device matches {device!r}; outputs: "
                          + ", ".join(f"{j} ({devs[j]['name']})" for j in outs))
    return matches[0]


@dataclass
class LiveStats:
    seconds: float
    callbacks: int
    underflows: int
    worst_block_us: float
    mean_block_us: float
    deadline_us: float
    over_deadline: int
    block_size: int
    sample_rate: int
    worst_cpu_us: float = 0.0      # the callback's thread CPU time (no preemption by other threads)
    over_deadline_cpu: int = 0     # callbacks whose thread CPU time exceeded the deadline

    def verdict(self) -> str:
        """One line for a performer: OK, or how many blocks came late and what to try."""
        late = max(int(self.underflows), int(self.over_deadline_cpu))
        if self.callbacks == 0:
            return "no audio was played (the stream never ran)"
        if late == 0:
            return "OK: every block was on time"
        tips = []
        if self.block_size < 128:
            tips.append(f"a larger block (-b {min(MAX_BLOCK, self.block_size * 2)})")
        if self.over_deadline_cpu:
            tips.append("fewer voices (--voices) or the additive timbre")
        tips.append("closing other programs, or a real-time JACK setup (jackd -R, the audio group)")
        return (f"{late} late block{'s' if late != 1 else ''} ({100 * late / self.callbacks:.2f} % of "
                f"{self.callbacks}): you may have heard clicks; try " + ", ".join(tips))


class LiveStream:
    """A running PortAudio output stream driven by the compiled callback.

    Use as a context manager; ``stop()`` is idempotent. The engine is marked live while
    the stream runs, so nobody else calls ``render`` on it.
    """

    def __init__(self, engine: Engine, device: int | str | None = None, block_size: int | None = None,
                 sample_rate: int | None = None, latency: float | str = "low") -> None:
        self.engine = engine
        self.block_size = int(block_size or engine.spec.block_size)
        self.sample_rate = int(sample_rate or engine.sample_rate)
        if not 1 <= self.block_size <= MAX_BLOCK:
            raise ConfigError(f"block size {self.block_size} is out of range 1..{MAX_BLOCK}")
        if self.sample_rate != engine.sample_rate:
            raise ConfigError(f"the engine was built for {engine.sample_rate} Hz; "
                              f"the stream asks for {self.sample_rate} Hz")
        self._device_arg = device
        self._latency = latency
        self._stream: Any = None
        self._tbl: np.ndarray | None = None
        self._t_start = 0.0
        self._b0 = 0

    def start(self) -> LiveStream:
        if _portaudio_lost:
            raise DeviceError("the sound server went away earlier in this process; restart rtgen to play again")
        set_jack_client_name()
        sd = _sounddevice()
        ffi, lib = sd._ffi, sd._lib
        dev = resolve_device(self._device_arg)
        info = sd.query_devices(dev)
        lat = info["default_low_output_latency"] if self._latency == "low" else float(self._latency)
        params = ffi.new("PaStreamParameters*", {
            "device": dev, "channelCount": 2, "sampleFormat": lib.paFloat32,
            "suggestedLatency": lat, "hostApiSpecificStreamInfo": ffi.NULL})
        err = lib.Pa_IsFormatSupported(ffi.NULL, params, float(self.sample_rate))
        if err != 0:
            raise ConfigError(f"device {dev} ({info['name']}) does not support {self.sample_rate} Hz stereo "
                              f"float32: {ffi.string(lib.Pa_GetErrorText(err)).decode()}")
        addr = callback_address()            # compile before the stream exists
        # the timbre worker first: in its own process it moves arrays into shared memory,
        # and the callback's address table must point at where they end up
        self.engine.start_worker()
        self._tbl = address_table(self.engine.state)
        stream = ffi.new("PaStream**")
        err = lib.Pa_OpenStream(stream, ffi.NULL, params, float(self.sample_rate), self.block_size,
                                lib.paClipOff | lib.paDitherOff, ffi.cast("PaStreamCallback*", addr),
                                ffi.cast("void*", self._tbl.ctypes.data))
        if err != 0:
            self.engine.stop_worker()
            raise DeviceError(f"cannot open device {dev} ({info['name']}): "
                              f"{ffi.string(lib.Pa_GetErrorText(err)).decode()}")
        self._stream = stream
        self.engine._live = True
        self._b0 = int(self.engine.state.st[S_BLOCKS])
        self._u0 = int(self.engine.state.st[S_UNDERFLOWS])
        err = lib.Pa_StartStream(stream[0])
        if err != 0:
            lib.Pa_CloseStream(stream[0])
            self._stream = None
            self.engine._live = False
            self.engine.stop_worker()
            raise DeviceError(f"cannot start the stream: {ffi.string(lib.Pa_GetErrorText(err)).decode()}")
        self._t_start = time.monotonic()
        self.device_name = info["name"]
        self.hostapi = sd.query_hostapis(info["hostapi"])["name"]
        return self

    def output_latency(self) -> float:
        """PortAudio's reported output latency of the running stream, in seconds (0 if not running)."""
        if self._stream is None:
            return 0.0
        info = _sounddevice()._lib.Pa_GetStreamInfo(self._stream[0])
        return float(info.outputLatency) if info else 0.0

    def active(self) -> bool:
        """False once the stream stopped by itself (e.g. the sound server went away)."""
        if self._stream is None:
            return False
        sd = _sounddevice()
        return bool(sd._lib.Pa_IsStreamActive(self._stream[0]) == 1)

    lost = False   # True once the sound server went away under the stream

    def stop(self) -> LiveStats:
        """Stop and close the stream (idempotent). Never blocks, even if the server vanished."""
        sd = _sounddevice()
        if self._stream is not None:
            lib = sd._lib
            if lib.Pa_IsStreamActive(self._stream[0]) == 1:
                lib.Pa_StopStream(self._stream[0])
                lib.Pa_CloseStream(self._stream[0])
            else:
                # we never end the stream from the callback, so an inactive stream means the
                # server is gone: any further PortAudio call would block forever
                self.lost = True
                _abandon_portaudio()
            self._stream = None
            self.engine._live = False
            self.engine.stop_worker()
        return self.stats()

    def stats(self) -> LiveStats:
        st = self.engine.state.st
        cb = int(st[S_BLOCKS]) - self._b0
        deadline = self.block_size / self.sample_rate * 1e6
        return LiveStats(
            seconds=time.monotonic() - self._t_start if self._t_start else 0.0,
            callbacks=cb, underflows=int(st[S_UNDERFLOWS]) - getattr(self, "_u0", 0),
            worst_block_us=st[S_WORST_NS] / 1000.0,
            mean_block_us=(st[S_TOTAL_NS] / max(1, cb)) / 1000.0,
            deadline_us=deadline, over_deadline=int(st[S_CB_OVER_DEADLINE]),
            block_size=self.block_size, sample_rate=self.sample_rate,
            worst_cpu_us=st[S_WORST_CPU_NS] / 1000.0, over_deadline_cpu=int(st[S_CB_OVER_DEADLINE_CPU]))

    def __enter__(self) -> LiveStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
