"""Device problems are clear errors that say what to do, never tracebacks."""

from __future__ import annotations

import builtins
import sys

import pytest

from rtgen import DeviceError
from rtgen.backends import live


def test_missing_portaudio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DeviceError) as e:
        live.list_devices()
    msg = str(e.value)
    assert "libportaudio2" in msg and "rtgen render" in msg
    assert isinstance(e.value, OSError)      # DeviceError is an OSError too
