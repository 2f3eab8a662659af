"""Count a JACK server's xruns from a separate process (needs the JACK-Client package).

    python -m rtgen.backends.xrunmon SERVER_NAME SECONDS

Prints ``ready`` once attached and, after SECONDS (or SIGTERM), ``xruns N``. The client
registers only an xrun callback: it has no process callback, so it never takes part in
the server's cycle and cannot cause the xruns it counts.
"""

from __future__ import annotations

import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    import jack

    args = sys.argv[1:] if argv is None else argv
    server, seconds = args[0], float(args[1])
    client = jack.Client("rtgen-xrunmon", servername=server, no_start_server=True)
    count = [0]
    done = threading.Event()

    def on_xrun(delay: float) -> None:
        count[0] += 1

    client.set_xrun_callback(on_xrun)
    client.activate()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    done.wait(seconds)
    client.deactivate()
    client.close()
    print(f"xruns {count[0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
