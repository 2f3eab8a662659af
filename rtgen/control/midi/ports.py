"""MIDI ports: the rtmidi API (JACK or ALSA) and opening named or virtual ports.

Port problems are :class:`rtgen.errors.DeviceError`s with one line saying what to do.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...errors import DeviceError

# ---------------------------------------------------------------- ports

def _api_id(api: str) -> int:
    import rtmidi
    a = api.lower()
    if a == "jack":
        return int(rtmidi.API_UNIX_JACK)
    if a == "alsa":
        return int(rtmidi.API_LINUX_ALSA)
    if a == "dummy":
        return int(rtmidi.API_RTMIDI_DUMMY)
    raise ValueError(f"unknown MIDI API {api!r} (auto, jack, alsa)")


def jack_running() -> bool:
    """True when a JACK server is reachable (never starts one)."""
    import rtmidi
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    if int(rtmidi.API_UNIX_JACK) not in rtmidi.get_compiled_api():
        return False
    try:
        probe = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "rtgen-probe")
        probe.get_ports()
        probe.delete()
        return True
    except Exception:
        return False


def resolve_api(api: str = "auto") -> str:
    """Pick the MIDI API: ``auto`` prefers a running JACK server, then the ALSA sequencer."""
    if api != "auto":
        return api
    if jack_running():
        return "jack"
    if os.path.exists("/dev/snd/seq"):
        return "alsa"
    raise DeviceError("no MIDI system: no JACK server is running and /dev/snd/seq does not exist "
                       "(start jackd, or load the ALSA sequencer module snd-seq)")


def list_ports(api: str = "auto") -> dict[str, list[str]]:
    """Input and output port names: ``{"api": [name], "inputs": [...], "outputs": [...]}``."""
    import rtmidi
    a = resolve_api(api)
    mi = rtmidi.MidiIn(_api_id(a), "rtgen-list")
    mo = rtmidi.MidiOut(_api_id(a), "rtgen-list")
    try:
        return {"api": [a], "inputs": list(mi.get_ports()), "outputs": list(mo.get_ports())}
    finally:
        mi.delete()
        mo.delete()


def find_port(names: list[str], want: str, *, exclude: str | None = None) -> int | None:
    """Index of the port named ``want`` exactly, else the first whose name contains it (case-insensitive)."""
    cands = [(i, n) for i, n in enumerate(names) if not (exclude and exclude in n)]
    for i, n in cands:
        if n == want:
            return i
    w = want.lower()
    for i, n in cands:
        if w in n.lower():
            return i
    return None


def open_port(dev: Any, api: str, want: str | None, role: str, client: str, *, output_side: bool) -> str:
    """Open ``want`` (a name or substring) on the rtmidi object ``dev``, or a virtual port named
    ``role`` when ``want`` is None; returns the port's full name. A port that is not there is a
    DeviceError listing the ports that are."""
    if want is None:
        return _open_virtual(dev, api, role, client, output_side=output_side)
    names = dev.get_ports()
    idx = find_port(names, want, exclude=client + ":")
    if idx is None:
        dev.delete()
        raise DeviceError(f"MIDI {role} port {want!r} not found; ports: {', '.join(names) or 'none'}")
    dev.open_port(idx, role)
    return str(names[idx])


def _open_virtual(dev: Any, api: str, port: str, client: str, *, output_side: bool) -> str:
    """Open a virtual port and return its full name as other clients see it.

    JACK renames a client whose name is taken (e.g. ``rtgen`` is already the audio client):
    the port is found as the one that appeared, else ``client:port`` is assumed.
    """
    import rtmidi
    cls = rtmidi.MidiOut if output_side else rtmidi.MidiIn
    probe = None
    try:
        probe = cls(_api_id(api), client + "-probe")
        before = set(probe.get_ports())
    except Exception:
        before = set()
    dev.open_virtual_port(port)
    name = f"{client}:{port}"
    if probe is not None:
        try:
            for _ in range(20):
                new = [n for n in probe.get_ports() if n not in before and n.endswith(":" + port)
                       and n.startswith(client)]
                if new:
                    name = new[0]
                    break
                time.sleep(0.005)
        finally:
            probe.delete()
    return name
