"""rtgen: a real-time generative music engine.

- :class:`Engine` renders stereo float32 audio live (PortAudio through a compiled
  callback), offline (:func:`rtgen.backends.offline.render_to_file`) or inside a host's
  own mixer (``engine.render(out)``).
- Generators (rules, grammars, cellular automata) are :class:`rtgen.gen.base.Sequencer`
  subclasses added with ``engine.add_generator``.
- Timbres: the additive fallback and the neural ONNX model (:mod:`rtgen.timbre`).
- Errors: :mod:`rtgen.errors` (``RtgenError`` and friends).
"""

from ._jitcache import configure_numba_cache

configure_numba_cache()

from .config import EngineSpec  # noqa: E402
from .engine import Engine  # noqa: E402
from .errors import ConfigError, DeviceError, ModelError, RtgenError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Engine", "EngineSpec", "RtgenError", "ConfigError", "DeviceError", "ModelError", "__version__"]
