"""Every error rtgen raises on purpose derives from :class:`RtgenError`.

Each also inherits the matching built-in, so ``except ValueError`` catches a bad
configuration and ``except OSError`` a missing device, as callers already expect.
"""

from __future__ import annotations


class RtgenError(Exception):
    """Root of rtgen's errors."""


class ConfigError(RtgenError, ValueError):
    """A bad setting: an unsupported sample rate or block size, a preset with a wrong key or type."""


class DeviceError(RtgenError, OSError):
    """An audio or MIDI device problem: PortAudio missing, unknown device, a server that went away."""


class ModelError(RtgenError):
    """A timbre model file that is missing, corrupt or incompatible."""
