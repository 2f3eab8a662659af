"""pyo's own audio server as another way to reach the sound card (optional extra ``rtgen[fx]``).

``play_with_pyo(engine, seconds)`` boots a pyo ``Server`` (PortAudio, or JACK directly),
puts the engine in it as an :class:`rtgen.fx.source.RtgenSource`, optionally through an
effects rack built from an ``[fx]`` table, and plays for ``seconds``.

The engine then renders inside pyo's audio callback, which holds the GIL: a busy Python
thread in the same process can delay it. rtgen's own live backend
(:mod:`rtgen.backends.live`, a compiled callback that never takes the GIL) is the one to
use on stage; this backend is for pyo users and for machines where only pyo's PortAudio
finds the device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DeviceError
from ..fx import _pyo
from ..fx.config import validate

if TYPE_CHECKING:
    from ..protocol import EngineLike

PYO_AUDIO = ("portaudio", "jack")


@dataclass
class PyoPlayStats:
    seconds: float
    blocks: int
    expected_blocks: int
    block_size: int
    sample_rate: int
    audio: str
    effects: str


def _chain(pyo: Any, src: Any, cfg: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The master chain of an ``[fx]`` table as pyo objects after ``src`` (the buses are not used here)."""
    from ..fx.rack import _Effect

    objs: list[Any] = []
    sig = src
    for e in cfg["master"]:
        fx = _Effect(pyo, e, sig, 0.0)
        objs += fx.objs
        sig = fx.out
    return sig, objs


def play_with_pyo(engine: EngineLike, seconds: float, audio: str = "portaudio", block_size: int = 256,
                  device: int | None = None, fx: dict[str, Any] | None = None,
                  jack_name: str = "rtgen-pyo") -> PyoPlayStats:
    """Play ``engine`` for ``seconds`` through pyo's audio server; returns what happened."""
    if audio not in PYO_AUDIO:
        raise ConfigError(f"audio must be one of {', '.join(PYO_AUDIO)}, not {audio!r}")
    if not 16 <= int(block_size) <= 8192:
        raise ConfigError(f"block_size must be 16..8192, not {block_size}")
    cfg = validate(fx) if fx is not None else validate({})
    pyo = _pyo.load_pyo()
    if pyo is None:
        raise DeviceError(f"pyo is not importable ({_pyo.why()}): pip install 'rtgen[fx]', or play with "
                          "rtgen's own live backend (rtgen play)")
    from ..fx.source import RtgenSource

    sr = int(engine.sample_rate)
    s = pyo.Server(sr=sr, nchnls=2, buffersize=int(block_size), duplex=0, audio=audio,
                   jackname=jack_name, verbosity=1)
    s.deactivateMidi()
    if device is not None:
        s.setOutputDevice(int(device))
    s.boot()
    if not s.getIsBooted():
        raise DeviceError(f"pyo could not open its {audio} audio device")
    block_size = int(s.getBufferSize())       # JACK imposes its own period on pyo
    objs: list[Any] = []
    try:
        src = RtgenSource(engine, server=s)
        out, objs = _chain(pyo, src, cfg) if cfg["enabled"] else (src, [])
        out.out()
        t0 = time.monotonic()
        s.start()
        time.sleep(max(0.0, float(seconds)))
        s.stop()
        el = time.monotonic() - t0
        desc = " > ".join(e["name"] for e in cfg["master"]) if cfg["enabled"] and cfg["master"] else "none"
        return PyoPlayStats(seconds=el, blocks=src.blocks, expected_blocks=int(el * sr / block_size),
                            block_size=int(block_size), sample_rate=sr, audio=audio, effects=desc)
    finally:
        objs.clear()
        time.sleep(0.1)
        s.shutdown()
