"""Per-layer effect sends: aux send rings filled inside the kernel's layer mix (proposal).

The kernel mixes the layers sample by sample in ``kernel.mix_out``; only there is each
layer's post-fader, panned signal (``yl``, ``yr``) available. Per-layer effects
therefore need two small additions there, written as inlined helpers in this file so
the kernel change is three lines:

State (two new ``FIELDS`` in ``rt/state.py``, after ``fxi`` so the live table keeps
its order, plus two ``a2``/``a3`` lines in ``backends/live.py``)::

    ("fxa", np.float32, lambda v: (N_FX_BUS, FX_CAP, 2)),   # aux send rings, by absolute sample
    ("fxl", np.float64, lambda v: (N_LAYERS, FXL_W)),       # per-layer send amounts, see FXL_*

In ``kernel.mix_out``, inside ``for i in range(m):`` before the layer loop::

    j = (a + i) % FX_CAP
    fxsend.aux_clear(S.fxa, j)

and inside the layer loop, replacing ``L += yl`` / ``R += yr``::

    dry = fxsend.aux_add(S.fxa, S.fxl, lay, j, yl * mg, yr * mg)
    L += yl * dry
    R += yr * dry

The sends are post-fader and post-master-gain, before the limiter; the effects worker
reads ``fxa`` at the same absolute positions as the dry send ring ``fxs``. A zeroed
``fxl`` (the default) sends nothing and keeps every layer in the dry mix, so an engine
without effects renders bit-identically.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .layout import FX_CAP, FXL_INSERT, FXL_SEND, FXL_W, N_FX_BUS, N_LAYERS


def allocate_sends() -> tuple[np.ndarray, np.ndarray]:
    """Zeroed ``fxa`` and ``fxl`` arrays (what the two new state fields hold)."""
    return np.zeros((N_FX_BUS, FX_CAP, 2), np.float32), np.zeros((N_LAYERS, FXL_W), np.float64)


@njit(inline="always", cache=True)
def aux_clear(fxa, j):
    for b in range(fxa.shape[0]):
        fxa[b, j, 0] = 0.0
        fxa[b, j, 1] = 0.0


@njit(inline="always", cache=True)
def aux_add(fxa, fxl, lay, j, yl, yr):
    """Add a layer's sample to the buses it sends to; returns its dry gain (0 or 1)."""
    for b in range(fxa.shape[0]):
        g = fxl[lay, FXL_SEND + b]
        if g != 0.0:
            fxa[b, j, 0] += g * yl
            fxa[b, j, 1] += g * yr
    return 0.0 if fxl[lay, FXL_INSERT] > 0.5 else 1.0


@njit(cache=True)
def mix_block(layers, fxl, fxa, t0, out):
    """Reference mix of per-layer stereo signals [L, n, 2] exactly as ``mix_out`` would with the hook.

    Writes the dry mix into ``out`` [n, 2] and the sends into ``fxa`` at absolute samples
    ``t0 .. t0 + n``. Tests use it to pin the hook's behaviour down.
    """
    n = layers.shape[1]
    for i in range(n):
        j = (t0 + i) % FX_CAP
        aux_clear(fxa, j)
        L = 0.0
        R = 0.0
        for lay in range(layers.shape[0]):
            yl = layers[lay, i, 0]
            yr = layers[lay, i, 1]
            dry = aux_add(fxa, fxl, lay, j, yl, yr)
            L += yl * dry
            R += yr * dry
        out[i, 0] = L
        out[i, 1] = R


def set_sends(fxl: np.ndarray, bus: int, sends: dict[int, float], insert: bool = False) -> None:
    """Fill one bus's column of ``fxl`` from {layer index: amount} (control thread; a float store each)."""
    fxl[:, FXL_SEND + bus] = 0.0
    for lay, amt in sends.items():
        fxl[lay, FXL_SEND + bus] = float(amt)
        if insert:
            fxl[lay, FXL_INSERT] = 1.0
