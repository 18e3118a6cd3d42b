"""The book's networks, one model per module (``unet``, ``lstm``, ``autoencoder``, ``vocoder``, ``dit``).

Each module keeps its size presets in one registry. This package holds what every model shares:
:func:`build` (a network from its kind and preset name) and parameter counts for the chapters'
model tables; :mod:`maqamgen.nets.embeddings` holds the timestep and positional encodings.
"""

from __future__ import annotations

import dataclasses
import importlib

import torch
from torch import Tensor, nn

from maqamgen.errors import ConfigError

NETWORKS = {"unet": ("maqamgen.nets.unet", "unet_config", "UNet"),
            "dit": ("maqamgen.nets.dit", "dit_config", "DiT"),
            "report_unet": ("maqamgen.nets.report_unet", "report_unet_config", "ReportUNet")}
"""Denoiser kinds :func:`build` knows: module, preset-config function, model class."""


def check_preset(registry: dict, preset: str, config_cls, what: str, overrides: dict) -> None:
    """Refuse an unknown preset of ``registry`` or an override that is not a ``config_cls`` field.

    The one check behind every network's ``<net>_config(preset, **overrides)``.

    Raises:
        ConfigError: naming the known presets, or the unknown fields and the known ones.
    """
    if preset not in registry:
        raise ConfigError(f"unknown {what} preset {preset!r}; known: {', '.join(registry)}")
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown {config_cls.__name__} field(s) {unknown}; "
                          f"known: {', '.join(sorted(fields))}")


def build(kind: str, preset: str, **overrides) -> nn.Module:
    """An untrained network of ``kind`` (a key of :data:`NETWORKS`) at size ``preset``.

    Args:
        kind: ``unet`` or ``dit``.
        preset: a name in that module's preset registry.
        **overrides: config fields to change (e.g. ``n_classes``, ``in_channels``, ``widths``,
            ``d_model``).

    Raises:
        ConfigError: unknown kind or preset.
    """
    if kind not in NETWORKS:
        raise ConfigError(f"unknown network {kind!r}; known: {', '.join(NETWORKS)}")
    module, config_fn, cls = NETWORKS[kind]
    mod = importlib.import_module(module)
    return getattr(mod, cls)(getattr(mod, config_fn)(preset, **overrides))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_summary(model: nn.Module, depth: int = 1) -> str:
    """A plain-text table of parameter counts per submodule (to ``depth`` levels) and the total.

    Args:
        model: any module.
        depth: how many levels of submodules to list (1: the direct children).

    Returns:
        The table, one ``name  count`` line per submodule with parameters, then ``total``.
    """
    rows = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue
        n = count_parameters(module)
        if n:
            rows.append((name, n))
    total = count_parameters(model)
    rows.append(("total", total))
    width = max(len(r[0]) for r in rows)
    lines = [f"{type(model).__name__}: {total / 1e6:.2f} M parameters"]
    lines += [f"  {name:<{width}}  {n:>12,}" for name, n in rows]
    return "\n".join(lines)


def print_parameters(model: nn.Module, depth: int = 1) -> int:
    """Print :func:`parameter_summary` and return the total count."""
    print(parameter_summary(model, depth))
    return count_parameters(model)


def context_channels(x: Tensor, cond, inpainting: bool, network: str = "network") -> Tensor:
    """The tokenised input: ``x``, or ``[x, known * mask, mask]`` (channels) for an inpainting network.

    Args:
        x: ``(B, C, H, W)`` noisy input.
        cond: a dict may hold ``known`` (broadcastable to ``(B, C, H, W)``) and ``mask``
            (1 = known, broadcastable to ``(B, 1, H, W)``); no context means both are zero.
        inpainting: whether the network takes the context.
        network: the network's name in error messages (``DiT``, ``U-Net``).

    Returns:
        ``(B, C, H, W)`` or ``(B, 2 C + 1, H, W)``.

    Raises:
        ConfigError: a context for a network without inpainting, a mask without ``known``, or
            shapes that do not broadcast.
    """
    ctx = cond if isinstance(cond, dict) else {}
    known, mask = ctx.get("known"), ctx.get("mask")
    if not inpainting:
        if known is not None or mask is not None:
            raise ConfigError(f"got an inpainting context (known/mask) but the {network} was built with "
                              "inpainting=False")
        return x
    B, C, H, W = x.shape
    if known is None and mask is None:
        return torch.cat([x, x.new_zeros(B, C + 1, H, W)], dim=1)
    if known is None:
        raise ConfigError("got an inpainting mask without the known data ('known')")
    try:
        known = torch.broadcast_to(known.to(x.device, x.dtype), (B, C, H, W))
    except RuntimeError:
        raise ConfigError(f"known data of shape {tuple(known.shape)} does not broadcast to the "
                          f"input's shape {(B, C, H, W)}") from None
    if mask is None:
        mask = x.new_zeros(B, 1, H, W)
    try:
        mask = torch.broadcast_to(mask.to(x.device, x.dtype), (B, 1, H, W))
    except RuntimeError:
        raise ConfigError(f"mask of shape {tuple(mask.shape)} does not broadcast to "
                          f"{(B, 1, H, W)} (batch, one channel, H, W)") from None
    return torch.cat([x, known * mask, mask], dim=1)
