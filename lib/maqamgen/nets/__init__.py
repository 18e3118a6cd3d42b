"""The book's networks, one model per module (``unet``, ``lstm``, ``autoencoder``, ``vocoder``, ``dit``).

Each module keeps its size presets in one registry. This package holds what every model shares:
:func:`build` (a network from its kind and preset name) and parameter counts for the chapters'
model tables; :mod:`maqamgen.nets.embeddings` holds the timestep and positional encodings.
"""

from __future__ import annotations

import dataclasses
import importlib

from torch import nn

from maqamgen.errors import ConfigError

NETWORKS = {"unet": ("maqamgen.nets.unet", "unet_config", "UNet"),
            "dit": ("maqamgen.nets.dit", "dit_config", "DiT")}
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
