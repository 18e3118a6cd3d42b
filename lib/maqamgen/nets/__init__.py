"""The book's networks, one model per module (``unet``, ``lstm``; later ``autoencoder``, ``dit``).

This package also holds the helpers every model shares: parameter counts for the chapters'
model tables.
"""

from __future__ import annotations

from torch import nn


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
