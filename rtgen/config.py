"""Engine settings: frozen dataclasses with visible defaults."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .rt.layout import MAX_BLOCK

SAMPLE_RATES = (44100, 48000, 96000)


@dataclass(frozen=True)
class EngineSpec:
    """How the engine renders.

    sample_rate: 44100, 48000 or 96000 Hz.
    block_size: host block in frames, 1..8192 for the live backend (offline renders any
        length; it is processed on an internal 64-sample grid either way).
    voices: size of the voice pool (polyphony), 1..256.
    seed: the seed of every random choice; a render with a seed is bit-identical.
    bpm, beats_per_bar, swing: the musical clock at start.
    master_gain: linear gain before the limiter.
    limiter_ceiling: the limiter's ceiling (linear, at most 1.0).
    hop: samples per timbre control frame (neural timbre).
    """

    sample_rate: int = 48000
    block_size: int = 128
    voices: int = 64
    seed: int = 0
    bpm: float = 110.0
    beats_per_bar: int = 4
    swing: float = 0.0
    master_gain: float = 0.8
    limiter_ceiling: float = 0.98
    limiter_release: float = 0.08
    hop: int = 256

    def __post_init__(self) -> None:
        if self.sample_rate not in SAMPLE_RATES:
            raise ConfigError(f"sample rate {self.sample_rate} Hz is not supported; use one of "
                              f"{', '.join(map(str, SAMPLE_RATES))}")
        if not 1 <= int(self.block_size) <= MAX_BLOCK:
            raise ConfigError(f"block size {self.block_size} is out of range 1..{MAX_BLOCK} frames")
        if not 1 <= int(self.voices) <= 256:
            raise ConfigError(f"voices must be 1..256, not {self.voices}")
        if not 20.0 <= float(self.bpm) <= 400.0:
            raise ConfigError(f"bpm must be 20..400, not {self.bpm}")
        if not 1 <= int(self.beats_per_bar) <= 32:
            raise ConfigError(f"beats_per_bar must be 1..32, not {self.beats_per_bar}")
        if not 0.0 <= float(self.swing) <= 0.75:
            raise ConfigError(f"swing must be 0..0.75, not {self.swing}")
        if not 0.0 < float(self.limiter_ceiling) <= 1.0:
            raise ConfigError("limiter_ceiling must be in (0, 1]")
        if self.hop not in (64, 128, 256, 512):
            raise ConfigError(f"hop must be 64, 128, 256 or 512 samples, not {self.hop}")
        if not 0 <= int(self.seed) < 2**63:
            raise ConfigError("seed must be a non-negative 63-bit integer")
