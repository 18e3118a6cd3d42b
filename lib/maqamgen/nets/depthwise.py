"""Depthwise 1-D convolution as ``K`` shifted multiply-adds.

A depthwise convolution (``groups`` = channels: one ``K``-tap filter per channel, no mixing)
with zero "same" padding is

    y[c, t] = b[c] + sum_k w[c, k] x[c, t + k - K // 2]     (x = 0 outside 0..T-1),

``K`` element-wise multiply-adds of shifted views of the padded input. torch's CPU kernel for
a grouped convolution does the same arithmetic several times slower. On the 2-core CPU of this
book (2026-12-07, ``benchmarks/bench_decode_judges.py``), FCPE's 31-tap convolution over 1024
channels and 591 frames took 17 ms in ``nn.Conv1d`` and 3.3 ms as shifted ``addcmul``; FCPE on
a 5.9-s clip took 0.27 s with its six such convolutions as shipped and 0.17 s with them
shifted (on a faster spell the same day: 8.6 against 2.6 ms, and 0.18 against 0.14 s). The
result is the convolution's to float rounding (the sum runs in another order).

:func:`shift_depthwise_convs` puts :class:`ShiftedDepthwiseConv1d` in place of a model's
depthwise ``nn.Conv1d`` layers (same weights, same outputs); the FCPE judge
(:func:`maqamgen.trackers.fcpe_model`) computes its convolutions this way. (The DiT's 3-tap
convolution along its 64 tokens, :class:`maqamgen.nets.dit.DiTBlock`, is too small to gain: a
training step took the same time either way, 2026-12-07.)

Used in: lib/maqamgen/trackers.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def depthwise_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = b + sum_k w[:, k] x(shifted by k - K // 2)`` along the last axis, zero-padded ("same").

    Args:
        x: ``(..., C, T)`` (``nn.Conv1d``'s layout).
        weight: ``(C, 1, K)`` (``nn.Conv1d``'s depthwise weight) or ``(C, K)``; ``K`` odd.
        bias: ``(C,)`` or None.

    Returns:
        A tensor of ``x``'s shape.
    """
    w = weight.reshape(weight.shape[0], -1)  # (C, K)
    K = w.shape[1]
    if K % 2 == 0:
        raise ValueError(f"depthwise_conv1d needs an odd number of taps, got {K}")
    T, h = x.shape[-1], K // 2
    xp = F.pad(x, (h, h))
    first = xp[..., :T]
    y = first * w[:, :1] if bias is None else torch.addcmul(bias[:, None].expand_as(x), first, w[:, :1])
    for k in range(1, K):  # in place on the new y: autograd keeps the taps and weights, not y
        y.addcmul_(xp[..., k:k + T], w[:, k:k + 1])
    return y


def is_depthwise_same(conv: nn.Module) -> bool:
    """Whether ``conv`` is an ``nn.Conv1d`` that :func:`depthwise_conv1d` computes exactly: one
    filter per channel (``groups`` = in = out channels), an odd kernel, stride and dilation 1,
    zero padding of ``K // 2`` on each side."""
    if not isinstance(conv, nn.Conv1d):
        return False
    (k,), (s,), (d,) = conv.kernel_size, conv.stride, conv.dilation
    return (conv.groups == conv.in_channels == conv.out_channels and k % 2 == 1 and s == 1
            and d == 1 and conv.padding_mode == "zeros" and tuple(conv.padding) == (k // 2,))


class ShiftedDepthwiseConv1d(nn.Conv1d):
    """An ``nn.Conv1d`` (depthwise, "same" zero padding) whose forward is :func:`depthwise_conv1d`.

    Its parameters and state dict are ``nn.Conv1d``'s, so weights load either way.
    """

    def forward(self, x: Tensor) -> Tensor:
        return depthwise_conv1d(x, self.weight, self.bias)


def shift_depthwise_convs(model: nn.Module) -> int:
    """Make every depthwise ``nn.Conv1d`` of ``model`` (:func:`is_depthwise_same`) a
    :class:`ShiftedDepthwiseConv1d`, in place, keeping its parameters. Returns how many."""
    n = 0
    for m in model.modules():
        if type(m) is nn.Conv1d and is_depthwise_same(m):
            m.__class__ = ShiftedDepthwiseConv1d
            n += 1
    return n
