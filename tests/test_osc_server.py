"""The OSC server over real UDP on 127.0.0.1: the address space, bad input, and a fuzz of random packets."""

from __future__ import annotations

import random
import socket
import struct
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from rtgen import Engine, EngineSpec
from rtgen.control.osc import OscServer
from rtgen.game import MusicController
from rtgen.rt.layout import LAYER_RULES, LAYER_STINGER, LF_GAIN, O_NOTE_ON, P_BPM

STATES = {"explore": {"preset": "chorale", "quantum": "immediate"}, "combat": {"preset": "ca1d"}}
PARAMS = {"intensity": {"default": 0.5, "map": [{"target": "layer:automata"}]}}
STINGERS = {"hit": {"notes": [[0, 72, 120, 1.0]]}}


def _msg(address: str, *args: object) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


@pytest.fixture()
def server():
    eng = Engine(EngineSpec(seed=1))
    m = MusicController(eng, params=PARAMS, states=STATES, stingers=STINGERS)
    srv = OscServer(m, port=0).start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(2.0)
    try:
        yield eng, m, srv, client
    finally:
        client.close()
        srv.stop()


def _send(client: socket.socket, srv: OscServer, data: bytes) -> None:
    client.sendto(data, ("127.0.0.1", srv.port))


def _wait_handled(srv: OscServer, n: int, timeout: float = 3.0) -> None:
    t = time.monotonic() + timeout
    while srv.stats.packets < n and time.monotonic() < t:
        time.sleep(0.005)


def _settle(srv: OscServer, timeout: float = 3.0) -> None:
    """Wait until every message received is counted (a reply can arrive before its own count)."""
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        st = srv.stats
        if st.handled + st.unknown + st.bad_args == st.messages and st.messages + st.malformed >= st.packets:
            return
        time.sleep(0.005)


def _ping(client: socket.socket, srv: OscServer, tag: str = "x") -> list[object]:
    from pythonosc.osc_message import OscMessage

    _send(client, srv, _msg("/rtgen/ping", tag))
    while True:
        data, _ = client.recvfrom(65536)
        m = OscMessage(data)
        if m.address == "/rtgen/pong" and list(m.params) == [tag]:
            return list(m.params)


def test_binds_to_localhost_by_default(server) -> None:
    _, _, srv, _ = server
    assert srv.host == "127.0.0.1" and srv._sock.getsockname()[0] == "127.0.0.1"


def test_address_space_drives_the_engine(server) -> None:
    eng, m, srv, client = server
    for data in (_msg("/rtgen/state", "explore"), _msg("/rtgen/tempo", 133.0), _msg("/rtgen/layer", "rules", 0.25),
                 _msg("/rtgen/param", "intensity", 1.0), _msg("/rtgen/note", 64, 100, "stinger", 0.2),
                 _msg("/rtgen/stinger", "hit", "immediate")):
        _send(client, srv, data)
    _ping(client, srv)
    _settle(srv)
    eng.render(frames=1024)
    assert srv.stats.handled == 7, srv.stats
    assert m.state == "explore"
    assert eng.state.p[P_BPM] == 133.0
    assert eng.state.lf[LAYER_RULES, LF_GAIN] == pytest.approx(0.25)
    ev = eng.events()
    notes = set(ev[(ev[:, 0] == O_NOTE_ON) & (ev[:, 4] == LAYER_STINGER)][:, 2].astype(int))
    assert {64, 72} <= notes


def test_query_and_subscribe_reply_to_the_sender(server) -> None:
    from pythonosc.osc_message import OscMessage

    eng, m, srv, client = server
    _send(client, srv, _msg("/rtgen/subscribe"))
    _ping(client, srv)
    eng.render(frames=48000)
    m.poll()
    got = []
    client.settimeout(0.5)
    try:
        while True:
            got.append(OscMessage(client.recvfrom(65536)[0]))
    except TimeoutError:
        pass
    beats = [g for g in got if g.address == "/rtgen/beat"]
    assert [g.params[0] for g in beats][:2] == [0, 1]
    assert any(g.address == "/rtgen/bar" for g in got)
    client.settimeout(2.0)
    _send(client, srv, _msg("/rtgen/query"))
    while True:
        r = OscMessage(client.recvfrom(65536)[0])
        if r.address == "/rtgen/status":
            break
    assert r.params[1] == pytest.approx(eng.state.p[P_BPM])


def test_bad_input_is_ignored_and_counted(server, caplog) -> None:
    eng, m, srv, client = server
    bad = [
        b"", b"garbage", b"/rtgen/tempo\x00\x00\x00\x00,f\x00\x00",       # truncated argument
        _msg("/other/thing", 1), _msg("/rtgen/nope"), _msg("/rtgen/tempo", 5000.0),
        _msg("/rtgen/tempo", "fast"), _msg("/rtgen/tempo"), _msg("/rtgen/state", "nowhere"),
        _msg("/rtgen/state", "combat", "phrase"), _msg("/rtgen/param", "intensity", float("nan")),
        _msg("/rtgen/layer", "drums", 1.0), _msg("/rtgen/note", 200, 100), _msg("/rtgen/gen", "ca1d", "density", 2.0),
        _msg("/rtgen/target", "gen:ca1d", 1.0), _msg("/rtgen/ping", "a", 0),
    ]
    for data in bad:
        _send(client, srv, data)
    _ping(client, srv, "after")
    _wait_handled(srv, len(bad) + 1)
    _settle(srv)
    st = srv.stats
    assert st.malformed >= 2 and st.unknown == 2 and st.handled == 1
    assert st.malformed + st.unknown + st.bad_args == len(bad)
    assert eng.state.p[P_BPM] == 110.0
    # rate-limited: far fewer log lines than problems
    assert len([r for r in caplog.records if r.name == "rtgen.osc"]) < len(bad)


def test_fuzz_thousands_of_random_packets_then_it_still_answers(server) -> None:
    eng, m, srv, client = server
    rng = random.Random(1234)
    addrs = ["/rtgen/param", "/rtgen/state", "/rtgen/stinger", "/rtgen/note", "/rtgen/tempo", "/rtgen/layer",
             "/rtgen/gen", "/rtgen/target", "/rtgen/panic", "/rtgen/query", "/rtgen/subscribe", "/rtgen/x", "/"]

    def arg() -> object:
        k = rng.randrange(5)
        if k == 0:
            return rng.randint(-(2 ** 31), 2 ** 31 - 1)
        if k == 1:
            return rng.choice([rng.uniform(-1e6, 1e6), float("inf"), float("-inf"), rng.random()])
        if k == 2:
            return rng.choice(["intensity", "explore", "combat", "hit", "rules", "tempo", "", "ä" * 40])
        if k == 3:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        return rng.random() > 0.5

    sent = 0
    for i in range(3000):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif i % 3 == 1:
            data = _msg(rng.choice(addrs), *[arg() for _ in range(rng.randrange(5))])
        else:                                   # a well-formed header with a corrupted body
            d = bytearray(_msg(rng.choice(addrs), *[arg() for _ in range(rng.randrange(1, 4))]))
            for _ in range(rng.randrange(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
            data = bytes(d[: rng.randrange(1, len(d) + 1)])
        if i % 500 == 0:                        # a bundle now and then
            data = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", len(data) + (-len(data)) % 4) + data
        _send(client, srv, data)
        sent += 1
        if i % 100 == 0:
            eng.render(frames=256)              # the engine keeps consuming the commands
            time.sleep(0.005)
    # UDP may drop datagrams when the receiver is busy: wait until the count stops growing
    last, t_end = -1, time.monotonic() + 10.0
    while srv.stats.packets != last and srv.stats.packets < sent and time.monotonic() < t_end:
        last = srv.stats.packets
        time.sleep(0.3)
    assert srv._thread is not None and srv._thread.is_alive()
    # it still answers correctly
    assert _ping(client, srv, "alive") == ["alive"]
    _send(client, srv, _msg("/rtgen/tempo", 97.0))
    _ping(client, srv, "sync")
    eng.render(frames=1024)
    assert eng.state.p[P_BPM] == 97.0
    st = srv.stats
    assert st.packets >= 0.9 * sent and st.malformed > 500
    assert eng.stats()["nonfinite_caught"] == 0
