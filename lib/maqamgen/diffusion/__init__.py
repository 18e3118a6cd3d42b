"""Diffusion as its own package (as in the DiT reference code): the maths, the runner, stitching.

* :mod:`maqamgen.diffusion.core` -- schedules, ``q_sample``, targets, DDPM/DDIM samplers,
  classifier-free guidance, RePaint inpainting (its names are re-exported here, so a chapter
  writes ``maqamgen.diffusion.q_sample``).
* :mod:`maqamgen.diffusion.run` -- train, cache, load and sample any denoiser network built
  from a preset name (the U-Net today; the latent U-Net and the DiT next).
* :mod:`maqamgen.diffusion.stitch` -- long generation from overlapping windows.
"""

from maqamgen.diffusion.core import *  # noqa: F401,F403  (the maths is the package's namespace)
from maqamgen.diffusion.core import __all__  # noqa: F401
