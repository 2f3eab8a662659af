"""Control a running rtgen from another program over OSC (the address space is in docs/osc.md).

    rtgen play --osc 9000 &            # or: rtgen play --jack-dummy --osc 9000 --seconds 30
    python examples/osc_client.py --port 9000

It checks the server answers (/rtgen/ping), subscribes to beats, changes the tempo and a
layer, plays notes and a panic, then asks for the status and prints what came back.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder


def msg(address: str, *args: object) -> bytes:
    b = OscMessageBuilder(address=address)
    for x in args:
        b.add_arg(x)
    return b.build().dgram


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--tempo", type=float, default=128.0)
    ap.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the server to answer")
    a = ap.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.25)
    server = (a.host, a.port)

    def send(address: str, *args: object) -> None:
        sock.sendto(msg(address, *args), server)

    def receive(until: float) -> list[OscMessage]:
        got = []
        while time.monotonic() < until:
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            got.append(OscMessage(data))
        return got

    # 1. is it there? (the server may still be starting: ask again until it answers)
    t_end = time.monotonic() + a.wait
    alive = False
    while time.monotonic() < t_end and not alive:
        send("/rtgen/ping", "hello")
        alive = any(m.address == "/rtgen/pong" for m in receive(time.monotonic() + 0.3))
    if not alive:
        print(f"no answer from {a.host}:{a.port}", file=sys.stderr)
        return 1
    print("server answered /rtgen/pong")
    # 2. drive it
    send("/rtgen/subscribe")
    send("/rtgen/tempo", a.tempo)
    send("/rtgen/layer", "rules", 0.5)
    for i, note in enumerate((60, 64, 67, 72)):
        send("/rtgen/note", note, 100, "stinger", 0.3, "beat" if i == 0 else "immediate")
    send("/rtgen/nonsense", 1)                    # ignored (and logged) by the server
    got = receive(time.monotonic() + 1.5)
    beats = [m for m in got if m.address == "/rtgen/beat"]
    print(f"beats received: {len(beats)}" + (f", last beat {beats[-1].params[0]} bar {beats[-1].params[1]}"
                                                if beats else ""))
    send("/rtgen/unsubscribe")
    send("/rtgen/query")
    status = [m for m in receive(time.monotonic() + 0.6) if m.address == "/rtgen/status"]
    if not status:
        print("no status reply", file=sys.stderr)
        return 1
    state, bpm, beat, bar = status[-1].params
    print(f"status: state {state or '-'}, tempo {bpm:.1f} bpm, beat {beat}, bar {bar}")
    send("/rtgen/panic")
    return 0 if abs(bpm - a.tempo) < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
