"""The live effects worker: runs an :class:`FxRack` off the audio thread on the send/return rings.

The live callback (a compiled ``@cfunc``, no GIL) writes each dry block into the send
ring ``fxs`` and plays, ``fxi[FXI_LATENCY]`` frames later, what the worker wrote into
the return ring ``fxr`` — or the dry frames of the same time when the worker is late
(counted in ``fxi[FXI_LATE]``). The worker polls the send head, processes every
complete rack block (``fx.block`` frames, aligned to absolute multiples of it), and
advances the return head after writing.

Where the worker runs (``fx.worker``):

- ``"process"`` (default): a separate Python process (``python -m rtgen.fx.workerproc``)
  with the three ring arrays in POSIX shared memory. It has its own GIL, so the host
  process's busy threads (a game loop, a UI) cannot delay it. Parameter changes go to
  it as JSON lines on its stdin. No pickling is involved.
- ``"thread"``: a Python thread in the host process. Simpler, but every block waits
  for the GIL: a busy pure-Python thread delays it by whole switch intervals (5 ms by
  default) and the callback plays dry blocks.

The process mode must be chosen before the live stream starts: :meth:`FxWorker.start`
replaces the engine's ``fxs``/``fxr``/``fxi`` arrays with shared-memory ones, and the
live callback's address table is built when the stream starts.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from multiprocessing import resource_tracker, shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DeviceError
from ..rt.layout import FX_CAP, FXI_ENABLED, FXI_LATE, FXI_LATENCY, FXI_RET_HEAD, FXI_SEND_HEAD
from .config import validate
from .rack import FxRack

if TYPE_CHECKING:
    from ..protocol import EngineLike

log = logging.getLogger("rtgen.fx")

POLL_S = 0.0003            # worker poll interval when there is nothing to do
# worker statistics (our own words after fxi in the shared segment)
W_BLOCKS = 0               # rack blocks processed
W_WORST_NS = 1             # worst rack block
W_TOTAL_NS = 2
W_RESYNC = 3               # times the worker fell a ring behind and skipped ahead
W_READY = 4                # 1 once the rack is built
W_STOP = 5                 # set by the parent to ask the worker to exit
NW = 8

_FXS_BYTES = FX_CAP * 2 * 4
_FXI_WORDS = 16


def _segment_views(buf: Any, naux: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray | None]:
    """Views of one shared segment: fxs | fxr | fxi | worker stats | aux send rings (optional)."""
    fxs = np.ndarray((FX_CAP, 2), np.float32, buffer=buf, offset=0)
    fxr = np.ndarray((FX_CAP, 2), np.float32, buffer=buf, offset=_FXS_BYTES)
    fxi = np.ndarray((_FXI_WORDS,), np.int64, buffer=buf, offset=2 * _FXS_BYTES)
    wst = np.ndarray((NW,), np.int64, buffer=buf, offset=2 * _FXS_BYTES + 8 * _FXI_WORDS)
    fxa = None
    if naux:
        fxa = np.ndarray((naux, FX_CAP, 2), np.float32, buffer=buf, offset=_SEG_BYTES)
    return fxs, fxr, fxi, wst, fxa


_SEG_BYTES = 2 * _FXS_BYTES + 8 * (_FXI_WORDS + NW)


def _aux_views(state: Any, nbus: int) -> np.ndarray | None:
    """The per-layer send rings when the kernel provides them (see rtgen.rt.fxsend)."""
    fxa = getattr(state, "fxa", None)
    if fxa is None or nbus == 0:
        return None
    return fxa


def serve(rack: FxRack, fxs: np.ndarray, fxr: np.ndarray, fxi: np.ndarray, wst: np.ndarray,
          stop: threading.Event | None, fxa: np.ndarray | None = None,
          poll: float = POLL_S, parent_pid: int = 0) -> None:
    """The worker loop (thread or process): process complete blocks from the send ring until stopped."""
    B = rack.block
    nbus = len(rack.buses)
    out = np.empty((B, 2), np.float32)
    w = int(fxi[FXI_RET_HEAD])
    w -= w % B
    check = 0
    while not (stop is not None and stop.is_set()) and wst[W_STOP] == 0:
        h = int(fxi[FXI_SEND_HEAD])
        if h - w > FX_CAP - 4 * B or h < w:       # a ring behind (or the stream restarted): skip ahead
            w = h - h % B
            fxi[FXI_RET_HEAD] = w
            wst[W_RESYNC] += 1
        if h - w < B:
            time.sleep(poll)
            check += 1
            if parent_pid and check % 2000 == 0 and os.getppid() != parent_pid:
                return                              # the host process went away
            continue
        while h - w >= B:
            j = w % FX_CAP
            t0 = time.perf_counter_ns()
            aux = None if fxa is None else [fxa[k, j:j + B] for k in range(nbus)]
            rack.process(fxs[j:j + B], out, aux)
            fxr[j:j + B] = out
            dt = time.perf_counter_ns() - t0
            w += B
            fxi[FXI_RET_HEAD] = w                   # publish after the frames are written
            wst[W_BLOCKS] += 1
            wst[W_TOTAL_NS] += dt
            if dt > wst[W_WORST_NS]:
                wst[W_WORST_NS] = dt


def auto_latency(host_block: int, rack_block: int) -> int:
    """Frames of added latency when ``fx.latency`` is 0: two host blocks plus one rack block."""
    return int(2 * host_block + rack_block)


class FxWorker:
    """Runs an effects rack for a live engine (see the module docstring).

    >>> w = FxWorker(engine, {"master": [{"type": "reverb"}]}, host_block=128)   # doctest: +SKIP
    >>> w.start(); stream = LiveStream(engine).start(); ...; stream.stop(); w.stop()
    """

    def __init__(self, engine: EngineLike, config: dict[str, Any] | None, host_block: int | None = None,
                 worker: str | None = None, latency: int | None = None) -> None:
        self.engine = engine
        self.config = validate(config)
        if worker is not None:
            self.config["worker"] = worker
        if self.config["worker"] not in ("process", "thread"):
            raise ConfigError(f"fx.worker must be process or thread, not {self.config['worker']!r}")
        self.mode = str(self.config["worker"])
        self.host_block = int(host_block or engine.spec.block_size)
        lat = latency if latency is not None else self.config["latency"]
        self.latency = int(lat) or auto_latency(self.host_block, self.config["block"])
        if self.latency < self.config["block"]:
            raise ConfigError(f"fx.latency {self.latency} is shorter than the rack block {self.config['block']}")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._shm: shared_memory.SharedMemory | None = None
        self._rack: FxRack | None = None
        self._wst = np.zeros(NW, np.int64)
        self._late0 = 0
        self._startup = 0
        self.bypass_reason = ""

    # ------------------------------------------------------------------ life cycle
    def start(self) -> FxWorker:
        """Build the rack (here or in the worker process) and route the engine's output through it."""
        if self.engine.is_live and self.mode == "process":
            raise ConfigError("start the effects worker before the live stream: the process worker "
                              "moves the effects rings into shared memory")
        probe = FxRack(self.config, self.engine.sample_rate) if self.mode == "thread" else None
        if probe is None:
            from . import _pyo
            has_fx = self.config["enabled"] and (self.config["master"] or any(
                b["chain"] for b in self.config["buses"].values()))
            if has_fx and _pyo.load_pyo() is None:
                _pyo.warn_missing_once()
                self.bypass_reason = f"pyo is not importable ({_pyo.why()})"
                return self
            if not has_fx:
                self.bypass_reason = "no effects configured" if self.config["enabled"] else "disabled"
                return self
        elif probe.bypassed:
            self.bypass_reason = probe.bypass_reason
            probe.close()
            return self
        if self.config["buses"]:
            from . import apply_sends
            apply_sends(self.engine, self.config)
        s = self.engine.state
        if self.mode == "thread":
            assert probe is not None
            self._rack = probe
            fxi = s.fxi
            self._prime(fxi)
            self._thread = threading.Thread(
                target=serve, args=(probe, s.fxs, s.fxr, fxi, self._wst, self._stop,
                                    _aux_views(s, len(probe.buses))),
                name="rtgen-fx", daemon=True)
            self._thread.start()
        else:
            self._start_process()
        fxi = self.engine.state.fxi
        self._late0 = int(fxi[FXI_LATE])
        # the callback counts the blocks that fall before the stream's first sample as late
        self._startup = -(-max(0, self.latency - int(fxi[FXI_SEND_HEAD])) // self.host_block)
        fxi[FXI_ENABLED] = 1
        return self

    def _prime(self, fxi: np.ndarray) -> None:
        h = int(fxi[FXI_SEND_HEAD])
        fxi[FXI_RET_HEAD] = h - h % self.config["block"]
        fxi[FXI_LATENCY] = self.latency

    def _start_process(self) -> None:
        s = self.engine.state
        old_fxa = _aux_views(s, len(self.config["buses"]))
        naux = 0 if old_fxa is None else int(old_fxa.shape[0])
        shm = shared_memory.SharedMemory(create=True, size=_SEG_BYTES + naux * _FXS_BYTES)
        self._shm = shm
        fxs, fxr, fxi, wst, fxa = _segment_views(shm.buf, naux)
        fxs[:] = s.fxs
        fxr[:] = s.fxr
        fxi[:] = s.fxi
        wst[:] = 0
        self._prime(fxi)
        self._wst = wst
        if fxa is not None:
            fxa[:] = old_fxa
            self.engine.state = s._replace(fxs=fxs, fxr=fxr, fxi=fxi, fxa=fxa)
        else:
            self.engine.state = s._replace(fxs=fxs, fxr=fxr, fxi=fxi)
        cmd = [sys.executable, "-m", "rtgen.fx.workerproc", shm.name, str(self.engine.sample_rate),
               json.dumps(self.config), str(os.getpid()), str(naux)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      env=dict(os.environ))
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != "ready":
            err = line
            self._kill()
            raise DeviceError(f"the effects worker process did not start: {err or 'no answer'}")

    def set(self, effect: str, param: str, value: float | str) -> None:
        """Change a live parameter of the running rack (thread-safe)."""
        if self._rack is not None:
            self._rack.set(effect, param, value)
        elif self._proc is not None and self._proc.stdin is not None:
            from .config import check_param
            kinds = {e["name"]: e["type"] for e in self._all_effects()}
            if effect not in kinds:
                raise ConfigError(f"no effect named {effect!r}; the rack has: {', '.join(kinds)}")
            v = check_param(kinds[effect], param, value, f"{effect}.{param}")
            self._proc.stdin.write(json.dumps({"set": [effect, param, v]}) + "\n")
            self._proc.stdin.flush()

    def _all_effects(self) -> list[dict[str, Any]]:
        out = list(self.config["master"])
        for b in self.config["buses"].values():
            out += b["chain"]
        return out

    def stats(self) -> dict[str, Any]:
        w = self._wst
        n = max(1, int(w[W_BLOCKS]))
        return {"mode": self.mode, "latency_frames": self.latency, "rack_blocks": int(w[W_BLOCKS]),
                "late_blocks": max(0, int(self.engine.state.fxi[FXI_LATE]) - self._late0 - self._startup),
                "worst_rack_block_us": w[W_WORST_NS] / 1000.0, "mean_rack_block_us": w[W_TOTAL_NS] / n / 1000.0,
                "resyncs": int(w[W_RESYNC]), "bypassed": self.bypass_reason}

    def stop(self) -> dict[str, Any]:
        """Stop routing through the worker and stop it. Safe with the stream still running."""
        st = self.stats()
        self.engine.state.fxi[FXI_ENABLED] = 0
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
        if self._rack is not None:
            self._rack.close()
            self._rack = None
        if self._proc is not None:
            self._wst[W_STOP] = 1
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self._kill()
            self._proc = None
        return st

    def release_shared_memory(self) -> None:
        """Copy the rings back into private arrays and free the shared segment (after the stream stopped)."""
        if self._shm is None:
            return
        if self.engine.is_live:
            raise ConfigError("stop the live stream before releasing the effects rings")
        s = self.engine.state
        priv = {"fxs": np.array(s.fxs), "fxr": np.array(s.fxr), "fxi": np.array(s.fxi)}
        if getattr(s, "fxa", None) is not None:
            priv["fxa"] = np.array(s.fxa)
        self.engine.state = s._replace(**priv)
        self._wst = np.array(self._wst)
        shm, self._shm = self._shm, None
        shm.close()
        shm.unlink()

    def _kill(self) -> None:
        p = self._proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(timeout=5)

    def __enter__(self) -> FxWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ the worker process
def _child(argv: list[str]) -> int:
    name, sr, cfg_json, parent, naux = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4])
    shm = shared_memory.SharedMemory(name=name)
    # the parent owns the segment: keep this process's resource tracker from unlinking it
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    except Exception:
        pass
    fxs, fxr, fxi, wst, fxa = _segment_views(shm.buf, naux)
    try:
        rack = FxRack(json.loads(cfg_json), sr)
    except Exception as e:
        print(f"{type(e).__name__}: {e}", flush=True)
        return 1
    if rack.bypassed:
        print(f"bypassed: {rack.bypass_reason}", flush=True)
        return 1
    try:
        os.nice(-5)
    except OSError:
        pass
    wst[W_READY] = 1
    stop = threading.Event()

    def commands() -> None:
        for line in sys.stdin:
            try:
                msg = json.loads(line)
                e, p, v = msg["set"]
                rack.set(str(e), str(p), v)
            except (ValueError, KeyError, TypeError, ConfigError) as err:
                log.warning("effects worker: bad command %r: %s", line.strip(), err)
        stop.set()                  # stdin closed: the parent is done with us

    threading.Thread(target=commands, daemon=True).start()
    print("ready", flush=True)
    try:
        serve(rack, fxs, fxr, fxi, wst, stop, fxa if rack.buses else None, parent_pid=parent)
    finally:
        rack.close()
        del fxs, fxr, fxi, wst, fxa
        shm.close()
    return 0

