"""Pictures of a render: a piano roll of the note events and, when a cellular automaton
played, its space-time diagram (computed by the pure-Python reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..rt.layout import CHUNK, LAYER_NAMES, NP, P_BEAT, P_BPM, P_SR, P_SWING
from .automata import CA1D, Life
from .presets import PresetSpec
from .reference import CA1DRef, LifeRef
from .registry import make_reference


def automaton_rows(preset: PresetSpec, seconds: float, seed: int = 0, sample_rate: int = 48000,
                   max_rows: int = 512) -> np.ndarray | None:
    """Space-time picture of the preset's first automaton over ``seconds`` (None if it has none).

    A 1-D automaton gives its rows (generation x cell); a Life grid gives, per generation, the
    live cells of each column (generation x column). ``seed`` and the slot (the generator's
    position in the preset) must match the render's for the picture to be the one that played.
    """
    from ..rt.harmony import make_harmony

    for slot, (seq, _layer) in enumerate(preset.generators):
        if not isinstance(seq, (CA1D, Life)):
            continue
        ref = make_reference(seq, seed, slot)
        p = np.zeros(NP)
        p[P_SR], p[P_BPM], p[P_SWING] = sample_rate, preset.tempo, preset.swing
        harm = make_harmony(preset.key, preset.scale)
        t0 = 0
        for _ in range(int(seconds * sample_rate / CHUNK)):
            ref.process(p, harm, t0, CHUNK)
            t0 += CHUNK
            p[P_BEAT] += CHUNK * p[P_BPM] / (60.0 * p[P_SR])
            if isinstance(ref, CA1DRef) and len(ref.rows) >= max_rows:
                break
            if isinstance(ref, LifeRef) and len(ref.history) >= max_rows:
                break
        if isinstance(ref, CA1DRef):
            rows = ref.rows[:max_rows]
            return np.array(rows, np.uint8).reshape(len(rows), -1)
        assert isinstance(ref, LifeRef)
        return np.array([np.array(g).sum(axis=0) for g in ref.history[:max_rows]], np.float64)
    return None


def plot_render(events: np.ndarray, out_png: str | Path, automaton_rows: np.ndarray | None = None,
                title: str = "", audio: np.ndarray | None = None, sample_rate: int = 48000) -> Path:
    """Write a PNG: piano roll of ``events`` (columns time_s, note, velocity, duration_s, layer),
    colour = layer, alpha = velocity; the automaton's space-time diagram if given; and the
    spectrogram of ``audio`` (log frequency, dB) if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    ev = np.asarray(events, np.float64).reshape(-1, 5) if np.size(events) else np.zeros((0, 5))
    rows = 1 + (automaton_rows is not None) + (audio is not None)
    fig, axes = plt.subplots(rows, 1, figsize=(12, 4.5 * rows), squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("tab10")
    seen: set[int] = set()
    for t, note, vel, dur, layer in ev:
        lay = int(layer)
        label = LAYER_NAMES[lay] if 0 <= lay < len(LAYER_NAMES) and lay not in seen else None
        ax.add_patch(Rectangle((t, note - 0.4), max(dur, 1e-3), 0.8, color=cmap(lay % 10),
                               alpha=0.3 + 0.7 * min(1.0, max(0.0, vel / 127.0)), lw=0, label=label))
        seen.add(lay)
    if len(ev):
        ax.set_xlim(0, float((ev[:, 0] + ev[:, 3]).max()) * 1.02)
        ax.set_ylim(float(ev[:, 1].min()) - 2, float(ev[:, 1].max()) + 2)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI note")
    ax.set_title(title or f"{len(ev)} notes")
    if automaton_rows is not None:
        ax2 = axes[1, 0]
        ax2.imshow(np.asarray(automaton_rows).T, aspect="auto", cmap="Greys", interpolation="nearest",
                   origin="lower")
        ax2.set_xlabel("generation")
        ax2.set_ylabel("cell")
        ax2.set_title("automaton (space-time)")
    if audio is not None and len(audio):
        ax3 = axes[rows - 1, 0]
        mono = np.asarray(audio, np.float64).mean(axis=1)
        nfft, hop = 4096, 1024
        frames = max(1, (len(mono) - nfft) // hop)
        win = np.hanning(nfft)
        spec = np.array([np.abs(np.fft.rfft(mono[i * hop:i * hop + nfft] * win)) for i in range(frames)])
        db = 20 * np.log10(spec.T + 1e-9)
        f = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
        t = np.arange(frames) * hop / sample_rate
        ax3.pcolormesh(t, f[1:], db[1:], shading="auto", cmap="magma", vmin=db.max() - 90, vmax=db.max())
        ax3.set_yscale("log")
        ax3.set_ylim(30, sample_rate / 2)
        ax3.set_xlabel("time (s)")
        ax3.set_ylabel("Hz")
        ax3.set_title("spectrogram (dB)")
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
