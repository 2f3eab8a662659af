"""An effects rack: a pyo Server in manual mode that processes rtgen's stereo blocks.

The rack owns one pyo ``Server(audio="manual")``. Its input buffer carries the dry
master (channels 0-1) and one stereo pair per aux bus (channels 2-3, 4-5, …); its
graph is ``master_chain(dry + Σ bus_chain(aux))``; its output buffer is read back
after each ``server.process()``. Both buffers are numpy views of pyo's own memory,
so a block costs two copies and one call into pyo.

:meth:`FxRack.process` is synchronous (no added latency): use it offline or from a
host's own mixer. The live engine runs the rack off its audio thread through
:class:`rtgen.fx.worker.FxWorker`.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import _pyo
from .config import EFFECTS, check_param, validate

_EQ_SHAPES = {"peak": 0, "lowshelf": 1, "highshelf": 2}
_FILTER_SHAPES = {"lowpass": 0, "highpass": 1, "bandpass": 2, "bandstop": 3, "allpass": 4}
_WARMUP_BLOCKS = 8         # pyo fades its output in over the first 5 ms after start


def _db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


class _Effect:
    """One pyo effect on a stereo signal: its output object and a setter per live parameter."""

    def __init__(self, pyo: Any, cfg: dict[str, Any], src: Any, sr: float) -> None:
        self.kind = str(cfg["type"])
        self.name = str(cfg["name"])
        self.objs: list[Any] = []
        self.setters: dict[str, Callable[[Any], None]] = {}
        k = self.kind
        if k == "reverb":
            fx = pyo.Freeverb(src, size=cfg["size"], damp=cfg["damp"], bal=cfg["mix"])
            self.setters = {"size": fx.setSize, "damp": fx.setDamp, "mix": fx.setBal}
            self.out = fx
        elif k == "delay":
            d = pyo.Delay(src, delay=cfg["time"], feedback=cfg["feedback"], maxdelay=4.05)
            mix = pyo.Interp(src, d, interp=cfg["mix"])
            self.objs.append(d)
            self.setters = {"time": d.setDelay, "feedback": d.setFeedback, "mix": mix.setInterp}
            self.out = mix
        elif k == "chorus":
            fx = pyo.Chorus(src, depth=cfg["depth"], feedback=cfg["feedback"], bal=cfg["mix"])
            self.setters = {"depth": fx.setDepth, "feedback": fx.setFeedback, "mix": fx.setBal}
            self.out = fx
        elif k == "eq":
            fx = pyo.EQ(src, freq=cfg["freq"], q=cfg["q"], boost=cfg["boost"], type=_EQ_SHAPES[cfg["shape"]])
            self.setters = {"freq": fx.setFreq, "q": fx.setQ, "boost": fx.setBoost,
                            "shape": lambda v: fx.setType(_EQ_SHAPES[v])}
            self.out = fx
        elif k == "filter":
            fx = pyo.Biquad(src, freq=cfg["freq"], q=cfg["q"], type=_FILTER_SHAPES[cfg["shape"]])
            self.setters = {"freq": fx.setFreq, "q": fx.setQ,
                            "shape": lambda v: fx.setType(_FILTER_SHAPES[v])}
            self.out = fx
        elif k == "compressor":
            fx = pyo.Compress(src, thresh=cfg["thresh"], ratio=cfg["ratio"], risetime=cfg["attack"],
                              falltime=cfg["release"], lookahead=cfg["lookahead"], knee=cfg["knee"],
                              mul=_db(cfg["makeup"]))
            self.setters = {"thresh": fx.setThresh, "ratio": fx.setRatio, "attack": fx.setRiseTime,
                            "release": fx.setFallTime, "knee": fx.setKnee,
                            "makeup": lambda v: fx.setMul(_db(v))}
            self.out = fx
        else:   # validate() makes this unreachable
            raise ConfigError(f"unknown effect type {k!r}")
        self.objs.append(self.out)


class FxRack:
    """Effects from pyo on stereo float32 blocks (see :mod:`rtgen.fx` for the configuration).

    ``FxRack.from_config(cfg, sample_rate=48000)``; ``rack.process(block)`` returns the
    processed block (a new array, or ``out``); ``rack.set("reverb", "mix", 0.5)`` from any
    thread (applied before the next block); ``rack.close()`` shuts pyo's server down.
    Without pyo (or with ``enabled = false`` or no effects) the rack is a bypass: process()
    returns its input unchanged, and a missing pyo is logged once.
    """

    def __init__(self, config: dict[str, Any] | None = None, sample_rate: int = 48000) -> None:
        self.config = validate(config)
        self.sample_rate = int(sample_rate)
        self.block = int(self.config["block"])
        self.buses = list(self.config["buses"])
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, Any]] = []
        self._effects: dict[str, _Effect] = {}
        self._server: Any = None
        self.bypass_reason = ""
        self.blocks = 0
        has_fx = bool(self.config["master"]) or any(b["chain"] for b in self.config["buses"].values())
        if not self.config["enabled"]:
            self.bypass_reason = "disabled by the configuration"
        elif not has_fx:
            self.bypass_reason = "no effects configured"
        else:
            pyo = _pyo.load_pyo()
            if pyo is None:
                _pyo.warn_missing_once()
                self.bypass_reason = f"pyo is not importable ({_pyo.why()})"
            else:
                self._build(pyo)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None, sample_rate: int = 48000) -> FxRack:
        return cls(config, sample_rate)

    @property
    def bypassed(self) -> bool:
        return self._server is None

    @property
    def effect_names(self) -> list[str]:
        return list(self._effects)

    # ------------------------------------------------------------------ graph
    def _build(self, pyo: Any) -> None:
        nb = len(self.buses)
        self._ich = 2 + 2 * nb
        s = pyo.Server(sr=self.sample_rate, nchnls=2, ichnls=self._ich, buffersize=self.block, duplex=1,
                       audio="manual", verbosity=0)
        s.deactivateMidi()
        s.boot()
        s.start()
        self._server = s
        self._inbuf = self._view(s.getInputAddr(), self._ich)
        self._outbuf = self._view(s.getOutputAddr(), 2)
        self._objs: list[Any] = []
        dry = pyo.Input(chnl=[0, 1])
        self._objs.append(dry)
        bus_outs = []
        for i, (_, b) in enumerate(self.config["buses"].items()):
            sig: Any = pyo.Input(chnl=[2 + 2 * i, 3 + 2 * i])
            self._objs.append(sig)
            for e in b["chain"]:
                sig = self._add(pyo, e, sig)
            bus_outs.append(sig)
        sig = dry
        if bus_outs:
            sig = pyo.Mix([dry, *bus_outs], voices=2)
            self._objs.append(sig)
        for e in self.config["master"]:
            sig = self._add(pyo, e, sig)
        sig.out()
        self._final = sig
        zero = np.zeros((self.block, 2), np.float32)
        for _ in range(_WARMUP_BLOCKS):
            self._process_one(zero, None)

    def _add(self, pyo: Any, cfg: dict[str, Any], src: Any) -> Any:
        e = _Effect(pyo, cfg, src, float(self.sample_rate))
        self._effects[e.name] = e
        self._objs += e.objs
        return e.out

    def _view(self, addr: Any, ch: int) -> np.ndarray:
        a = int(addr, 16) if isinstance(addr, str) else int(addr)
        n = self.block * ch
        buf = (ctypes.c_float * n).from_address(a)   # pyo's MYFLT is float in its default build
        return np.ctypeslib.as_array(buf).reshape(self.block, ch)

    # ------------------------------------------------------------------ parameters
    def set(self, effect: str, param: str, value: float | str) -> None:
        """Change a live parameter (thread-safe; takes effect at the next block)."""
        e = self._effects.get(effect)
        if e is None:
            if self.bypassed:
                return
            raise ConfigError(f"no effect named {effect!r}; the rack has: {', '.join(self._effects)}")
        v = check_param(e.kind, param, value, f"{effect}.{param}")
        if not EFFECTS[e.kind][param].live:
            raise ConfigError(f"{effect}.{param} cannot change while playing")
        with self._lock:
            self._pending.append((effect, param, v))

    def _apply_pending(self) -> None:
        if not self._pending:
            return
        with self._lock:
            todo, self._pending = self._pending, []
        for effect, param, v in todo:
            self._effects[effect].setters[param](v)

    # ------------------------------------------------------------------ processing
    def _process_one(self, x: np.ndarray, aux: list[np.ndarray] | None) -> None:
        ib = self._inbuf
        ib[:, 0:2] = x
        if self._ich > 2:
            if aux is None:
                ib[:, 2:] = 0.0
            else:
                for i, a in enumerate(aux):
                    ib[:, 2 + 2 * i:4 + 2 * i] = a
        self._server.process()
        self.blocks += 1

    def process(self, block: np.ndarray, out: np.ndarray | None = None,
                aux: list[np.ndarray] | None = None) -> np.ndarray:
        """Process a stereo float32 block (length a multiple of ``rack.block``), without latency.

        ``aux``: one stereo block per bus (the layer sends), same length as ``block``.
        """
        if block.ndim != 2 or block.shape[1] != 2:
            raise ConfigError(f"FxRack.process takes [n, 2] blocks, not {block.shape}")
        n = block.shape[0]
        if out is None:
            out = np.empty((n, 2), np.float32)
        if self.bypassed:
            if out is not block:
                out[:] = block
            return out
        if n % self.block:
            raise ConfigError(f"block of {n} frames is not a multiple of the rack's block ({self.block}); "
                              "set fx.block or render in multiples of it")
        if aux is not None and len(aux) != len(self.buses):
            raise ConfigError(f"the rack has {len(self.buses)} buses, got {len(aux)} aux blocks")
        self._apply_pending()
        B = self.block
        for p in range(0, n, B):
            self._process_one(block[p:p + B], None if aux is None else [a[p:p + B] for a in aux])
            out[p:p + B] = self._outbuf
        return out

    def close(self) -> None:
        """Stop and shut down the pyo server (idempotent)."""
        s, self._server = self._server, None
        if s is None:
            return
        self._effects.clear()
        self._objs = []
        self._final = None
        s.stop()
        s.shutdown()

    def __enter__(self) -> FxRack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        if self.bypassed:
            return f"effects bypassed: {self.bypass_reason}"
        parts = [e.name for e in self._effects.values()]
        return f"effects (pyo, {self.block}-frame blocks): " + " > ".join(parts)


def expected_biquad_db(shape: str, f0: float, q: float, f: float, sr: float) -> float:
    """Magnitude in dB at ``f`` of the cookbook biquad pyo's Biquad implements (tests use it)."""
    w0 = 2 * math.pi * f0 / sr
    alpha = math.sin(w0) / (2 * q)
    c = math.cos(w0)
    if shape == "lowpass":
        b = [(1 - c) / 2, 1 - c, (1 - c) / 2]
    elif shape == "highpass":
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
    else:
        raise ValueError(shape)
    a = [1 + alpha, -2 * c, 1 - alpha]
    z = np.exp(-1j * 2 * math.pi * f / sr)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return float(20 * math.log10(abs(h)))
