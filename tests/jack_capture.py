"""A JACK capture client run as its own process (so the test's busy Python thread cannot
starve it): records one port for N seconds into a .npy file.

    python tests/jack_capture.py SERVER SOURCE_PORT SECONDS OUT.npy
"""

from __future__ import annotations

import sys
import threading

import numpy as np


def main() -> int:
    import jack

    server, source, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    client = jack.Client("rtgen-test-capture", servername=server, no_start_server=True)
    port = client.inports.register("in")
    chunks: list[np.ndarray] = []
    done = threading.Event()

    @client.set_process_callback
    def process(frames: int) -> None:
        chunks.append(port.get_array().copy())

    client.activate()
    client.connect(source, port)
    print("ready", flush=True)
    done.wait(seconds)
    client.deactivate()
    client.close()
    np.save(out, np.concatenate(chunks) if chunks else np.zeros(0, np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
