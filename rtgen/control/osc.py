"""OSC server: the game vocabulary of :mod:`rtgen.game` for games and tools in other languages.

The address space is documented in ``docs/osc.md``. The server binds to 127.0.0.1 by
default, reads UDP datagrams in its own thread and calls a
:class:`~rtgen.game.MusicController`, whose commands go through the engine's
lock-protected control ring. A malformed packet, an unknown address, wrong argument
types or an out-of-range value is ignored and logged (at most once a second per kind
of problem, with a count); nothing a client sends can stop the server.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..game import QUANTA, Beat, MusicController, RateLimitedLog

log = logging.getLogger("rtgen.osc")

PREFIX = "/rtgen"
MAX_SUBSCRIBERS = 16
MAX_DATAGRAM = 65536


@dataclass
class OscStats:
    packets: int = 0
    messages: int = 0
    handled: int = 0
    malformed: int = 0         # datagrams that are not OSC
    unknown: int = 0           # addresses outside the address space
    bad_args: int = 0          # wrong count/types of arguments, out-of-range values, unknown names
    replies: int = 0
    send_errors: int = 0


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"expected a number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise ConfigError("expected a finite number")
    return f


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"expected a string, got {type(v).__name__}")
    return v


def _quantum(args: list[Any], i: int, default: str) -> str:
    if len(args) <= i:
        return default
    q = _str(args[i])
    if q not in QUANTA:
        raise ConfigError(f"quantum must be one of {', '.join(QUANTA)}")
    return q


class OscServer:
    """UDP OSC server driving a :class:`MusicController` (see ``docs/osc.md``)."""

    def __init__(self, controller: MusicController, port: int = 9000, host: str = "127.0.0.1") -> None:
        self.controller = controller
        self.engine = controller.engine
        self.host = host
        self.port = int(port)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"OSC port must be 0..65535, not {port}")
        self.stats = OscStats()
        self.bad = RateLimitedLog(log)
        self.subscribers: list[tuple[str, int]] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sub_lock = threading.Lock()
        self._handlers = {
            "/param": self._param, "/state": self._state, "/stinger": self._stinger, "/note": self._note,
            "/tempo": self._tempo, "/layer": self._layer, "/gen": self._gen, "/target": self._target,
            "/panic": self._panic, "/ping": self._ping, "/query": self._query,
            "/subscribe": self._subscribe, "/unsubscribe": self._unsubscribe,
            "/key": self._key, "/reload": self._reload,
        }
        #: the session's preset-file watcher (``rtgen play --preset FILE`` sets it); /rtgen/reload uses it
        self.reloader: Any = None
        controller.on_beat(self._beat)

    # -------------------------------------------------------------- lifecycle
    def start(self) -> OscServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)    # absorb bursts from a busy client
        except OSError:
            pass
        try:
            s.bind((self.host, self.port))
        except OSError as e:
            s.close()
            raise ConfigError(f"cannot listen for OSC on {self.host}:{self.port}: {e.strerror or e}") from None
        s.settimeout(0.1)
        self._sock = s
        self.port = s.getsockname()[1]          # port 0 asks the system for a free one
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="rtgen-osc", daemon=True)
        self._thread.start()
        log.info("OSC server on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> OscServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- receiving
    def _loop(self) -> None:
        while not self._stop.is_set():
            sock = self._sock
            if sock is None:
                break
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                continue
            try:
                self.handle_datagram(data, addr)
            except Exception:               # belt and braces: the thread never dies on input
                self.stats.malformed += 1
                self.bad.warn("internal", "OSC: a datagram could not be handled; ignored")
                log.debug("OSC handler failed", exc_info=True)

    def handle_datagram(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        """Parse and dispatch one datagram (also callable directly, e.g. from tests)."""
        self.stats.packets += 1
        try:
            msgs = parse_packet(data)
        except Exception as e:               # ParseError, and whatever a hostile packet provokes
            self.stats.malformed += 1
            self.bad.warn("malformed", "OSC: malformed packet from %s ignored (%s)", addr, str(e)[:80])
            return
        for address, params in msgs:
            self.stats.messages += 1
            self.dispatch(address, params, addr)

    def dispatch(self, address: str, args: list[Any], addr: tuple[str, int] | None = None) -> bool:
        """Handle one message; returns True when it was understood and applied."""
        if not address.startswith(PREFIX + "/"):
            self.stats.unknown += 1
            self.bad.warn("unknown", "OSC: unknown address %r ignored", address[:64])
            return False
        h = self._handlers.get(address[len(PREFIX):])
        if h is None:
            self.stats.unknown += 1
            self.bad.warn("unknown", "OSC: unknown address %r ignored", address[:64])
            return False
        try:
            h(args, addr)
        except (ConfigError, ValueError, TypeError, IndexError, KeyError) as e:
            self.stats.bad_args += 1
            self.bad.warn("args:" + address, "OSC: %s %s ignored: %s", address, _short(args), e)
            return False
        self.stats.handled += 1
        return True

    # -------------------------------------------------------------- the address space
    @staticmethod
    def _nargs(args: list[Any], lo: int, hi: int) -> None:
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo}..{hi}"
            raise ConfigError(f"expected {want} arguments, got {len(args)}")

    def _param(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 2, 3)
        ramp = _num(args[2]) if len(args) > 2 else 0.0
        if not 0.0 <= ramp <= 600.0:
            raise ConfigError("ramp must be 0..600 s")
        self.controller.set_param(_str(args[0]), _num(args[1]), ramp=ramp)

    def _state(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 1, 2)
        name = _str(args[0])
        st = self.controller.states.get(name)
        if st is None:
            raise ConfigError(f"unknown state {name!r}")
        self.controller.set_state(name, _quantum(args, 1, st.quantum))

    def _stinger(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 1, 2)
        self.controller.stinger(_str(args[0]), _quantum(args, 1, "beat"))

    def _note(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 2, 5)
        note, vel = _num(args[0]), _num(args[1])
        layer: int | str = "stinger"
        if len(args) > 2:
            layer = args[2] if isinstance(args[2], str) else int(_num(args[2]))
        secs = _num(args[3]) if len(args) > 3 else 0.5
        self.controller.note(note, vel, layer, secs, _quantum(args, 4, "immediate"))

    def _tempo(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 1, 1)
        self.controller.set_target("tempo", _num(args[0]))

    def _layer(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 2, 2)
        self.controller.set_layer_gain(_str(args[0]), _num(args[1]))

    def _gen(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 3, 3)
        who = args[0] if isinstance(args[0], str) else str(int(_num(args[0])))
        if not self.controller.set_target(f"gen:{who}.{_str(args[1])}", _num(args[2])):
            raise ConfigError(f"no generator {who!r} in the current state")

    def _target(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 2, 2)
        self.controller.set_target(_str(args[0]), _num(args[1]))

    def _panic(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 0)
        self.controller.panic()

    def _key(self, args: list[Any], addr: Any) -> None:
        from .perform import set_key

        self._nargs(args, 1, 2)
        set_key(self.controller, _str(args[0]), _quantum(args, 1, "bar"))

    def _reload(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 0)
        if self.reloader is None:
            raise ConfigError("no preset file to reload (start with --preset FILE.toml)")
        self.reloader.reload()
        if self.reloader.error:
            raise ConfigError(self.reloader.error)

    def _ping(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 2)
        dest = self._reply_to(addr, args[1] if len(args) > 1 else None)
        self.send(dest, "/rtgen/pong", list(args[:1]))

    def _query(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 1)
        dest = self._reply_to(addr, args[0] if args else None)
        snap = self.controller.snapshot()
        beat: Beat | None = snap["beat"]
        self.send(dest, "/rtgen/status", [snap["state"] or "", float(snap["tempo"]),
                                           beat.beat if beat else -1, beat.bar if beat else -1])
        for name, v in snap["params"].items():
            self.send(dest, "/rtgen/param", [name, float(v)])

    def _subscribe(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 1)
        dest = self._reply_to(addr, args[0] if args else None)
        with self._sub_lock:
            if dest not in self.subscribers:
                if len(self.subscribers) >= MAX_SUBSCRIBERS:
                    raise ConfigError(f"at most {MAX_SUBSCRIBERS} subscribers")
                self.subscribers.append(dest)

    def _unsubscribe(self, args: list[Any], addr: Any) -> None:
        self._nargs(args, 0, 1)
        dest = self._reply_to(addr, args[0] if args else None)
        with self._sub_lock:
            if dest in self.subscribers:
                self.subscribers.remove(dest)

    @staticmethod
    def _reply_to(addr: Any, port: Any) -> tuple[str, int]:
        if addr is None:
            raise ConfigError("no sender address to reply to")
        host = addr[0]
        p = int(addr[1]) if port is None else int(_num(port))
        if not 1 <= p <= 65535:
            raise ConfigError("reply port must be 1..65535")
        return (host, p)

    # -------------------------------------------------------------- sending
    def send(self, dest: tuple[str, int], address: str, args: list[Any]) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        b = OscMessageBuilder(address=address)
        for a in args:
            b.add_arg(a)
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(b.build().dgram, dest)
            self.stats.replies += 1
        except OSError:
            self.stats.send_errors += 1

    def _beat(self, b: Beat) -> None:
        with self._sub_lock:
            subs = list(self.subscribers)
        for dest in subs:
            self.send(dest, "/rtgen/beat", [b.beat, b.bar, b.beat_in_bar, b.sample])
            if b.downbeat:
                self.send(dest, "/rtgen/bar", [b.bar, b.sample])


def parse_packet(data: bytes, depth: int = 0) -> list[tuple[str, list[Any]]]:
    """The messages of an OSC packet (a message, or a bundle of them; time tags are not honoured:
    bundled messages apply at once, in order). Raises ValueError on anything malformed."""
    from pythonosc.osc_message import OscMessage

    if depth > 4:
        raise ValueError("bundles nested too deeply")
    if data.startswith(b"#bundle\x00"):
        if len(data) < 16:
            raise ValueError("truncated bundle")
        out: list[tuple[str, list[Any]]] = []
        i = 16                                  # "#bundle\0" and the 8-byte time tag
        while i < len(data):
            if i + 4 > len(data):
                raise ValueError("truncated bundle element size")
            n = int.from_bytes(data[i:i + 4], "big", signed=True)
            i += 4
            if n <= 0 or n % 4 or i + n > len(data):
                raise ValueError("bad bundle element size")
            out += parse_packet(data[i:i + n], depth + 1)
            i += n
        return out
    if not data.startswith(b"/"):
        raise ValueError("not an OSC message")
    m = OscMessage(data)
    return [(str(m.address), list(m.params))]


def _short(args: list[Any]) -> str:
    s = repr(args)
    return s if len(s) <= 60 else s[:57] + "..."


__all__ = ["OscServer", "OscStats"]
