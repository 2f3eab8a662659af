"""Effects from pyo (optional extra ``rtgen[fx]``): reverb, delay, chorus, EQ, filter, compressor.

Three ways to use them:

- **offline / embedded** (synchronous, no latency): ``rack = FxRack.from_config(cfg)`` then
  ``rack.process(block)`` after ``engine.render(block)``, or
  ``render_with_fx(engine, seconds, rack)`` for a whole render.
- **live** (``rtgen.backends.live``): ``FxWorker(engine, cfg).start()`` *before* the
  stream starts; the compiled callback sends its dry blocks to the worker and plays the
  wet ones at a constant latency (see :mod:`rtgen.fx.worker`; the worker runs in its own
  process by default, so the host's busy Python threads cannot make it late).
- **inside a pyo script**: ``from rtgen.fx.source import RtgenSource``;
  ``src = RtgenSource(eng); Freeverb(src).out()`` (see :mod:`rtgen.fx.source`), or
  ``rtgen.backends.pyo.play_with_pyo(engine, seconds)`` to reach the sound card through
  pyo's own audio server.

Without pyo every rack is a bypass (its input comes out unchanged) and one warning is
logged; nothing raises.

The ``[fx]`` table (TOML; the same keys as a dict for :meth:`FxRack.from_config`)::

    [fx]
    enabled = true          # false: bypass
    block = 64              # frames per pyo block: a power of two 16..4096
    latency = 0             # live only: added latency in frames; 0 = 2 host blocks + 1 rack block
    worker = "process"      # live only: "process" (default) or "thread"

    [[fx.master]]           # the master chain, in order
    type = "eq"             # peak/shelf EQ: freq (Hz), q, boost (dB), shape = peak|lowshelf|highshelf
    freq = 250.0
    boost = -2.0

    [[fx.master]]
    type = "compressor"     # thresh (dB), ratio, attack (s), release (s), knee 0..1, makeup (dB),
    thresh = -18.0          # lookahead (ms, fixed once built)
    ratio = 3.0

    [fx.buses.space]        # an aux bus: layers send to it, its chain's output joins the master
    sends = { rules = 0.4, grammar = 0.2 }     # layer name = send amount 0..4 (post-fader)
    [[fx.buses.space.chain]]
    type = "reverb"         # size 0..1, damp 0..1, mix 0..1 (wet/dry balance)
    name = "hall"           # optional: the name for live changes (default: the type, then type2…)
    mix = 1.0

Other types: ``delay`` (time s, feedback 0..0.99, mix), ``chorus`` (depth 0..5, feedback,
mix), ``filter`` (freq, q, shape = lowpass|highpass|bandpass|bandstop|allpass). Every key
is checked: a wrong key, type or range raises :class:`rtgen.errors.ConfigError` naming it
(``fx.master[1].mix must be in 0..1, not 3``).

Aux buses (per-layer effects): the kernel's layer mix sends each layer post-fader to the
buses (``fxa``, amounts in ``fxl``; see :mod:`rtgen.rt.fxsend`) whenever the effects path is
enabled (``fxi[FXI_ENABLED]``), and the rack processes each bus's chain into the master.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..rt.layout import FX_CAP, FXI_ENABLED, LAYER_NAMES, S_SAMPLE
from .config import EFFECTS, PRESETS, preset, validate
from .rack import FxRack
from .worker import FxWorker

if TYPE_CHECKING:
    from ..protocol import EngineLike

log = logging.getLogger("rtgen.fx")
_warned_sends: list[bool] = []


def apply_sends(engine: EngineLike, config: dict[str, Any]) -> bool:
    """Write the buses' per-layer send amounts into the engine's ``fxl`` (when the kernel has the hook)."""
    cfg = validate(config)
    fxl = getattr(engine.state, "fxl", None)
    if not cfg["buses"]:
        return True
    if fxl is None:
        if not _warned_sends:
            _warned_sends.append(True)
            log.warning("per-layer sends are configured (fx.buses) but this engine's kernel has no "
                        "send hook yet (rtgen.rt.fxsend): the buses receive silence")
        return False
    from ..rt.fxsend import set_sends
    for b, bus in enumerate(cfg["buses"].values()):
        set_sends(fxl, b, {LAYER_NAMES.index(k): v for k, v in bus["sends"].items()})
    return True


def render_with_fx(engine: EngineLike, seconds: float, rack: FxRack | dict[str, Any] | None,
                   block: int = 4096) -> np.ndarray:
    """Render ``seconds`` offline through an effects rack (synchronous: no added latency).

    ``rack`` may be an :class:`FxRack` (kept open) or an ``[fx]`` dict (a rack is built and
    closed here). ``block`` is rounded to a multiple of the rack's block.
    """
    own = not isinstance(rack, FxRack)
    r = FxRack.from_config(rack if isinstance(rack, dict) else None if rack is None else rack.config,
                           engine.sample_rate) if own else rack
    assert isinstance(r, FxRack)
    try:
        if not (seconds >= 0.0) or seconds > 24 * 3600:
            raise ConfigError(f"seconds must be in 0..86400, not {seconds}")
        n = int(round(seconds * engine.sample_rate))
        B = max(r.block, (min(block, FX_CAP // 2) // r.block) * r.block)
        total = ((n + r.block - 1) // r.block) * r.block
        out = np.zeros((total, 2), np.float32)
        has_sends = bool(r.buses) and apply_sends(engine, r.config)
        fxi = engine.state.fxi
        was_enabled = int(fxi[FXI_ENABLED])
        if has_sends:
            fxi[FXI_ENABLED] = 1        # offline this only turns on the kernel's layer sends
        pos = 0
        while pos < total:
            m = min(B, total - pos)
            t0 = int(engine.state.st[S_SAMPLE])
            engine.render(out[pos:pos + m])
            aux = None
            if has_sends:
                idx = (t0 + np.arange(m)) % FX_CAP
                aux = [np.ascontiguousarray(engine.state.fxa[k, idx]) for k in range(len(r.buses))]
            r.process(out[pos:pos + m], out[pos:pos + m], aux)
            pos += m
        fxi[FXI_ENABLED] = was_enabled
        np.clip(out, -1.0, 1.0, out=out)
        return out[:n]
    finally:
        if own:
            r.close()


def pyo_available() -> bool:
    from . import _pyo
    return _pyo.load_pyo() is not None


__all__ = ["EFFECTS", "PRESETS", "FxRack", "FxWorker", "apply_sends", "preset", "pyo_available",
           "render_with_fx", "validate"]
