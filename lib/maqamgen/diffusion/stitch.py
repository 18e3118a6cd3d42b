"""Long generation from overlapping windows: the one place that joins patches into a sequence.

* :func:`stitch` -- concatenate patches along time, dropping each one's repeated first frames.
* :func:`generate_long` -- a sequence of any length from a trained denoiser: independent
  patches side by side, or each patch outpainted from the previous one's tail.

Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
"""

from __future__ import annotations

import numpy as np
import torch

from maqamgen.diffusion import core as diffusion
from maqamgen.diffusion import run
from maqamgen.errors import ConfigError


def stitch(patches, overlap: int = 0) -> np.ndarray:
    """Concatenate patches ``(P, [1,] n_mels, frames)`` along time, dropping ``overlap`` leading
    frames of every patch after the first (they repeat the previous patch's tail)."""
    P = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else np.asarray(patches)
    if P.ndim == 4:
        P = P[:, 0]
    return np.concatenate([P[0]] + [p[:, overlap:] for p in P[1:]], axis=1)


def generate_long(trained: run.Trained, seconds: float, label: int = -1, method: str = "inpaint",
                  overlap: int | None = None, steps: int = 20, guidance_scale: float = 2.0,
                  seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """A log-mel sequence of at least ``seconds``, stitched from patches.

    ``method="concat"``: independent patches side by side. ``"inpaint"``: each patch after the
    first is outpainted: its first ``overlap`` frames are held to the previous patch's last
    ``overlap`` frames (:func:`maqamgen.diffusion.inpaint`, DDIM), so the continuation starts
    where the previous one ended; the repeated frames are dropped when stitching.

    Returns:
        ``(mel, seams)``: normalised ``(n_mels, n_frames)`` and the frame indices where a new
        patch's own content starts.

    Used in: book/part1/04_unet_ddpm.md, book/part1/05_scaling_hallucination.md
    """
    if method not in ("concat", "inpaint"):
        raise ConfigError(f"unknown stitching method {method!r}; known: concat, inpaint")
    if not (np.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"seconds must be a positive number, got {seconds}")
    f = trained.fcfg
    W = f.frames
    ov = (W // 4 if overlap is None else int(overlap)) if method == "inpaint" else 0
    if not 0 <= ov < W:
        raise ConfigError(f"overlap must be in [0, {W}), got {ov}")
    need = int(np.ceil(seconds * trained.sr / f.hop_length)) + 1
    n_patches = 1 + max(0, int(np.ceil((need - W) / (W - ov))))
    g = torch.Generator().manual_seed(int(seed))
    lab = torch.tensor([int(label)], dtype=torch.long)
    shape = (1, *trained.shape)
    kw = dict(target=trained.spec.target, cond=lab, guidance_scale=guidance_scale, generator=g,
              clip_x0=1.0)
    patches = [diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw).clamp(-1, 1)]
    mask = torch.zeros(1, 1, 1, W)
    mask[..., :ov] = 1.0
    for _ in range(n_patches - 1):
        if method == "concat":
            nxt = diffusion.ddim_sample(trained.model, shape, trained.schedule, steps=steps, **kw)
        else:
            known = torch.zeros(shape)
            known[..., :ov] = patches[-1][..., W - ov:]
            nxt = diffusion.inpaint(trained.model, known, mask, trained.schedule, steps=steps, **kw)
        patches.append(nxt.clamp(-1, 1))
    mel = stitch(torch.cat(patches), overlap=ov)
    seams = [W + k * (W - ov) for k in range(n_patches - 1)]
    return mel, seams
