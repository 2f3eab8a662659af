"""A JACK client that plays MIDI at known frames and records audio on the same clock.

    python -m benchmarks.jackprobe SCHEDULE.json OUT.npz MIDI_DEST AUDIO_SOURCE TAIL_SECONDS

It runs in its own process (the measured program's Python threads cannot delay it). The
schedule is a JSON list of ``[seconds, status, data1, data2]`` from the start; every message is
written into a JACK MIDI output port at the frame its time falls on (the frame time is JACK's
own sample clock), and the audio of ``AUDIO_SOURCE`` is recorded block by block with the frame
time of each block. The ``.npz`` holds ``audio`` (float32, one sample per frame from
``audio_start``), ``audio_start``, ``sent`` (rows of frame, status, data1, data2), ``rate``,
``period`` and ``gaps`` (cycles whose frame time jumped, i.e. a missed cycle of this client).
Ready once it prints ``ready``; it starts playing 0.3 s later.

:func:`onsets_after` finds the first sounding sample after given frames in such a capture.
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np


def onsets_after(audio: np.ndarray, start: int, frames: np.ndarray, limit: int, floor: float = 0.0) -> np.ndarray:
    """For each frame in ``frames``: the first frame at or after it where the captured audio is
    above ``floor`` (the engine's silence is exact zeros, so the default floor is 0), searching at
    most ``limit`` frames; -1 where there is none. A voice's first sample is its onset (the
    attack ramps from zero, so the first non-zero sample is one frame after it)."""
    out = np.full(len(frames), -1, np.int64)
    loud = np.abs(audio) > floor
    for i, f in enumerate(frames):
        a = int(f) - start
        if a < 0 or a >= len(audio):
            continue
        k = np.flatnonzero(loud[a:a + limit])
        if k.size:
            out[i] = f + int(k[0]) - 1
    return out


def main(argv: list[str]) -> int:
    import jack

    sched_path, out, dest, source, tail = argv[0], argv[1], argv[2], argv[3], float(argv[4])
    with open(sched_path) as f:
        sched = json.load(f)
    client = jack.Client("rtgen-probe", no_start_server=True)
    rate, period = client.samplerate, client.blocksize
    mout = client.midi_outports.register("midi_out")
    ain = client.inports.register("audio_in")
    msgs = sorted((float(t), [int(b) for b in m]) for t, *m in sched)
    start: list[int] = []              # the frame the schedule's zero falls on
    sent: list[tuple[int, int, int, int]] = []
    blocks: list[tuple[int, np.ndarray]] = []
    idx = [0]
    last = [-1]
    gaps = [0]
    done = threading.Event()
    lead = int(0.3 * rate)
    end_frame = [0]

    @client.set_process_callback
    def process(frames: int) -> None:
        t = client.last_frame_time
        if last[0] >= 0 and t != last[0] + frames:
            gaps[0] += 1
        last[0] = t
        mout.clear_buffer()
        blocks.append((t, ain.get_array().copy()))
        if not start:
            start.append(t + lead)
            end_frame[0] = start[0] + int((msgs[-1][0] if msgs else 0.0) * rate) + int(tail * rate)
        while idx[0] < len(msgs):
            f = start[0] + int(round(msgs[idx[0]][0] * rate))
            if f >= t + frames:
                break
            off = max(0, f - t)          # a message whose frame was missed goes out at once
            m = msgs[idx[0]][1]
            mout.write_midi_event(off, bytes(m))
            sent.append((t + off, *(m + [0, 0, 0])[:3]))
            idx[0] += 1
        if end_frame[0] and t >= end_frame[0]:
            done.set()

    with client:
        client.connect(mout, dest)
        client.connect(source, ain)
        print("ready", flush=True)
        done.wait(10.0 + (msgs[-1][0] if msgs else 0.0) + tail)
    a0 = blocks[0][0] if blocks else 0
    n = (blocks[-1][0] + len(blocks[-1][1]) - a0) if blocks else 0
    audio = np.zeros(n, np.float32)
    for t, b in blocks:
        audio[t - a0:t - a0 + len(b)] = b
    np.savez(out, audio=audio, audio_start=a0, sent=np.array(sent, np.int64).reshape(-1, 4), rate=rate,
             period=period, gaps=gaps[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
