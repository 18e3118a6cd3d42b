"""maqamgen: the code behind the book *Context-Aware Generative Audio for Maqam Music*.

Modules follow the report's phases: ``audio`` (STFT, theta_alpha, smoothing), ``maqam``
(scales in cents), ``synth`` (oud physical model), ``notes`` (the report's note JSON),
``config`` (profiles), ``plots`` (figure helpers), ``book`` (notebook pipeline), ``cli``.
"""

from maqamgen.errors import MaqamgenError

__all__ = ["MaqamgenError"]
__version__ = "0.1.0"
