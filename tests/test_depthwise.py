"""Depthwise 1-D convolution as shifted multiply-adds (maqamgen.nets.depthwise)."""

import pytest
import torch
from torch import nn

from maqamgen.nets import depthwise as D


@pytest.mark.parametrize("B,C,T,K", [(1, 64, 91, 31), (4, 16, 12, 3), (2, 5, 9, 1), (1, 3, 4, 7)])
def test_depthwise_conv1d_is_the_convolution_forward_and_backward(B, C, T, K):
    torch.manual_seed(0)
    conv = nn.Conv1d(C, C, K, padding=K // 2, groups=C)
    x = torch.randn(B, C, T, requires_grad=True)
    ref = conv(x)
    ref.square().sum().backward()
    grads = [t.grad.clone() for t in (x, conv.weight, conv.bias)]
    x.grad = None
    conv.zero_grad()
    y = D.depthwise_conv1d(x, conv.weight, conv.bias)
    y.square().sum().backward()
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    for new, old in zip((x.grad, conv.weight.grad, conv.bias.grad), grads):
        torch.testing.assert_close(new, old, atol=1e-4, rtol=1e-4)
    # no bias means none
    torch.testing.assert_close(D.depthwise_conv1d(x.detach(), conv.weight),
                               ref.detach() - conv.bias[:, None], atol=1e-5, rtol=1e-5)


def test_depthwise_conv1d_refuses_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        D.depthwise_conv1d(torch.zeros(1, 2, 5), torch.zeros(2, 1, 4))


def test_shift_depthwise_convs_swaps_only_what_it_computes_exactly():
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv1d(8, 8, 5, padding=2, groups=8),  # depthwise, same: swapped
        nn.Conv1d(8, 8, 1),  # pointwise: kept
        nn.Conv1d(8, 8, 3, padding=1, groups=8, stride=2),  # strided: kept
        nn.Conv1d(8, 8, 3, padding=0, groups=8),  # not "same": kept
        nn.Conv1d(8, 8, 3, padding=1, groups=8, padding_mode="reflect"),  # not zeros: kept
    )
    x = torch.randn(2, 8, 40)
    with torch.no_grad():
        before = model(x)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        assert D.shift_depthwise_convs(model) == 1
        assert type(model[0]) is D.ShiftedDepthwiseConv1d
        assert all(type(m) is nn.Conv1d for m in model[1:])
        torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # same weights
    assert D.shift_depthwise_convs(model) == 0  # already done
