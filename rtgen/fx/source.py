"""rtgen as a source inside a pyo user's own graph.

>>> from pyo import Server, Freeverb                          # doctest: +SKIP
>>> from rtgen import Engine, EngineSpec
>>> from rtgen.fx.source import RtgenSource
>>> s = Server(sr=48000, buffersize=256).boot()
>>> eng = Engine(EngineSpec(sample_rate=48000))
>>> src = RtgenSource(eng)                                      # a stereo PyoObject
>>> rev = Freeverb(src, size=0.8).out()
>>> s.start()

How it works: a two-channel ``DataTable`` of one server buffer is read sample by sample
by ``TableScan`` (so each pyo block reads the whole table, in order); a server callback
(``Server.setCallback``, called before pyo computes each block) renders the engine's next
block straight into the table's memory. The source adds no latency.

This runs the engine under pyo's audio thread, which holds the GIL while it computes: it
is pyo's model, not rtgen's GIL-free live backend. ``Server.setCallback`` keeps one
callback per server: pass ``chain=`` your own function if you also need one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ._pyo import load_pyo

if TYPE_CHECKING:
    from ..protocol import EngineLike

_pyo = load_pyo()
if _pyo is None:
    raise ImportError("rtgen.fx.source needs pyo: pip install 'rtgen[fx]'")

PyoObject = _pyo.PyoObject


class RtgenSource(PyoObject):  # type: ignore[misc,valid-type]
    """The engine's stereo output as a pyo object (``mul``/``add`` work as for any PyoObject)."""

    def __init__(self, engine: EngineLike, server: Any = None, mul: Any = 1, add: Any = 0,
                 chain: Callable[[], None] | None = None) -> None:
        pyo = _pyo
        if pyo is None:
            raise ConfigError("RtgenSource needs pyo (pip install 'rtgen[fx]')")
        PyoObject.__init__(self, mul, add)
        srv = server if server is not None else _default_server()
        bs = int(srv.getBufferSize())
        sr = int(round(float(srv.getSamplingRate())))
        if sr != engine.sample_rate:
            raise ConfigError(f"the pyo server runs at {sr} Hz, the engine at {engine.sample_rate} Hz")
        self.engine = engine
        self._table = pyo.DataTable(bs, chnls=2)
        # the table's own float memory, one view per channel: no copy on the pyo side
        self._bufs = [np.asarray(self._table.getBuffer(c)) for c in range(2)]
        self._block = np.zeros((bs, 2), np.float32)
        self._chain = chain
        self._scan = pyo.TableScan(self._table, mul=mul, add=add)
        self._base_objs = self._scan.getBaseObjects()
        self._server_obj = srv
        self.blocks = 0
        srv.setCallback(self._fill)

    def _fill(self) -> None:
        if self._chain is not None:
            self._chain()
        b = self._block
        self.engine.render(b)
        self._bufs[0][:] = b[:, 0]
        self._bufs[1][:] = b[:, 1]
        self.blocks += 1


def _default_server() -> Any:
    """The server new pyo objects attach to (the last one created), asked through a throwaway Sig."""
    if _pyo is None:
        raise ConfigError("pyo is not installed (pip install 'rtgen[fx]')")
    sig = _pyo.Sig(0)
    return sig.getServer()
