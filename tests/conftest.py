"""Shared fixtures: a real JACK server (dummy driver), started and stopped by PID."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from rtgen.backends.jackserver import JackServer


def _need_jackd() -> None:
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): live tests need a real JACK server")
    try:
        import sounddevice  # noqa: F401
    except OSError as e:
        pytest.skip(f"PortAudio cannot be loaded ({e}; apt-get install libportaudio2): live tests play "
                    "through it")


@pytest.fixture()
def jack_server() -> Iterator[JackServer]:
    """A private JACK dummy server at 48 kHz / 128 frames, with PortAudio re-scanned to see it."""
    _need_jackd()
    from rtgen.backends.jackserver import jack_dummy

    with jack_dummy(48000, 128) as srv:
        yield srv


@pytest.fixture()
def jack_factory() -> Iterator[object]:
    """Start JACK dummy servers with any rate/period; all are stopped at teardown."""
    _need_jackd()
    from contextlib import ExitStack

    from rtgen.backends.jackserver import jack_dummy

    with ExitStack() as stack:
        def start(rate: int = 48000, period: int = 128) -> JackServer:
            return stack.enter_context(jack_dummy(rate, period))

        yield start


def _live_missing() -> str:
    """Why live tests cannot run on this machine ('' when they can): the system packages."""
    if shutil.which("jackd") is None:
        return "jackd is not installed (apt-get install jackd2): live tests need a real JACK server"
    try:
        import sounddevice  # noqa: F401
    except OSError as e:
        return f"PortAudio cannot be loaded ({e}; apt-get install libportaudio2): live tests play through it"
    return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a machine without the live system packages, every ``jack`` test is skipped with the reason
    (``make`` installs them where it can; ``scripts/system-packages.sh`` says how)."""
    why = _live_missing()
    if not why:
        return
    skip = pytest.mark.skip(reason=why)
    for item in items:
        if item.get_closest_marker("jack") is not None:
            item.add_marker(skip)
