"""A Diffusion Transformer ``eps_theta(z_t, t, c)`` on autoencoder latent grids (Peebles & Xie 2023).

A drop-in denoiser for :mod:`maqamgen.diffusion.run`: ``forward(x, t, cond) -> (B, C, H, W)`` takes
the same conditions as :class:`maqamgen.nets.unet.UNet`. The structure mirrors the reference
(facebookresearch/DiT ``models.py``):

1. **Tokens.** ``tokenization="time"``: one token per latent frame, the ``C H`` values of a column
   mapped by one linear layer to ``d_model`` (as Stable Audio does, Evans et al. 2024), so
   ``N = W``. ``tokenization="patch"``: ``p x p`` patches of the grid (DiT's patchify),
   ``N = (H / p)(W / p)``.
2. **Positions** (each a switch): ``time_pos`` ``"sincos"`` adds a fixed sin-cos encoding of the
   token's time column, ``"rope"`` rotates queries and keys by it (attention sees relative time),
   ``"none"`` leaves time out; ``freq_pos`` adds the sin-cos of a patch's frequency band (with
   ``"sincos"`` time, the 2-D encoding: half the dimensions each). All are computed, so any
   ``W`` works, also one not seen in training.
3. **Conditioning vector** ``c = MLP(sinusoid(t)) + Embedding(label) + MLP(vec)
   (+ MLP([sinusoid(start_s), sinusoid(total_s)]))`` drives every block through **adaLN-Zero**:
   ``h = h + gate_1 * Attn(LN(h) (1 + scale_1) + shift_1)``, then the same with the MLP, the six
   modulations a linear map of ``SiLU(c)`` initialised to zero, so each block starts as the
   identity; the final layer (adaLN, then linear) is zero too, so the untrained network outputs 0.
4. **Ornaments** (switch): a per-frame label (:data:`maqamgen.nets.embeddings.ORNAMENTS`) embedded
   and added to each token (a patch: the mean over its ``p`` columns), with a learned
   "unknown" index; during training the whole ornament input of a sample is replaced by
   "unknown" with probability ``ornament_dropout``, so the model also runs without them. With
   ``ornament_adaln`` each block also reads the ornament of each token through its adaLN: a
   zero-initialised table per block gives every ornament class six modulation offsets
   (``shift``, ``scale``, ``gate`` of attention and MLP), added to the sample's, so the block's
   modulation is per token (as adaLN-Zero is per sample) and starts as the plain DiT's.
5. **Local convolution** (switch, ``conv_kernel > 0``, ``"time"`` tokens only): inside each
   block's MLP a depthwise convolution of ``conv_kernel`` taps along the tokens, added to the
   hidden layer before its activation (the convolution feed-forward of Wang et al. 2022's
   PVTv2 and of Conformer-style audio models), so that a block can draw frame-to-frame detail
   such as a vibrato near the grid's Nyquist rate without spending attention on it.
6. **Unpatchify** back to ``(B, C, H, W)``.

Conditions: ``None``; ``(B,)`` int64 labels (``-1``: the null class); ``(B, cond_dim)`` float
vectors; or a dict with keys ``label``, ``vec``, the context ``known``, ``mask`` (as the U-Net:
with ``inpainting=True`` the input is ``[x_t, known * mask, mask]`` on channels, tokenised
together), and, when switched on, ``start_s``, ``total_s`` (``(B,)`` seconds) and ``ornaments``
(``(B, W)`` int64, one per latent frame).

Classifier-free guidance: :func:`maqamgen.diffusion.core.null_cond` (and the training drop
:func:`maqamgen.diffusion.core.drop_cond`) null every dict key that is not context, so the null
condition sets ``ornaments`` to ``-1`` and ``start_s``/``total_s`` to 0. The DiT reads these as
"no information": ornament ``-1`` is the unknown index, and a sample whose ``total_s`` is ``<= 0``
gets the learned "no position" embedding. A missing key means the same. The unconditional branch
of guidance therefore knows neither the ornaments nor the window's place in the piece, which is
also what the training drop teaches it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maqamgen.diffusion.core import CONTEXT_KEYS
from maqamgen.errors import ConfigError
from maqamgen.nets import check_preset, context_channels
from maqamgen.nets.embeddings import (N_ORNAMENTS, apply_rope, rope_frequencies, seconds_embedding,
                                      sincos_1d, sincos_2d, timestep_embedding)

TOKENIZATIONS = ("time", "patch")
"""How a latent grid becomes tokens: one per frame, or ``p x p`` patches."""

TIME_POSITIONS = ("sincos", "rope", "none")
"""Encodings of a token's time column."""

PIECE_KEYS = ("start_s", "total_s")
"""Dict-condition keys of the window's place in its piece, seconds."""

FREQ_DIM = 256
"""Size of the sinusoidal embedding of the timestep (the reference's ``frequency_embedding_size``)."""

SECONDS_DIM = 64
"""Size of the sinusoidal embedding of each of ``start_s`` and ``total_s``."""


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of :class:`DiT`.

    Attributes:
        in_channels: channels ``C`` of ``x_t`` (the autoencoder's latent channels).
        out_channels: channels of the output (None: ``in_channels``).
        input_size: the grid ``(H, W)`` the network is built for; ``"time"`` tokens need exactly
            ``H`` rows, ``W`` may be any length (positions are computed).
        tokenization: ``"time"`` (a token per frame) or ``"patch"`` (``patch_size`` squares).
        patch_size: ``p`` of ``"patch"`` tokens (``H`` and ``W`` multiples of it).
        d_model: token width.
        depth: number of transformer blocks.
        n_heads: attention heads (``d_model`` a multiple of it).
        mlp_ratio: hidden width of each block's MLP over ``d_model``.
        n_classes: class labels (0: none); a learned null class is added for guidance.
        cond_dim: size of the continuous condition vector (0: none; its zero vector is the null).
        inpainting: also take the context ``[known * mask, mask]`` as ``C + 1`` input channels.
        dropout: dropout in attention and MLP outputs.
        time_pos: ``"sincos"``, ``"rope"`` or ``"none"``.
        freq_pos: add the sin-cos of a patch's frequency band (``"patch"`` only).
        piece_pos: condition on the window's place in the piece (``start_s``, ``total_s``).
        ornaments: add per-frame ornament embeddings (``ornaments`` key).
        ornament_dropout: probability, in training, that a sample's ornaments are all "unknown".
        ornament_adaln: also modulate each token's adaLN by its ornament (needs ``ornaments``).
        conv_kernel: taps of the depthwise convolution along the tokens inside each block's MLP (0:
            none, the plain DiT MLP; odd, ``"time"`` tokens only).
        rope_base: the base of the RoPE frequencies.
        max_period_s: the longest period of the seconds embedding, s.
    """

    in_channels: int = 2
    out_channels: int | None = None
    input_size: tuple[int, int] = (64, 64)
    tokenization: str = "time"
    patch_size: int = 2
    d_model: int = 128
    depth: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    n_classes: int = 0
    cond_dim: int = 0
    inpainting: bool = False
    dropout: float = 0.0
    time_pos: str = "sincos"
    freq_pos: bool = False
    piece_pos: bool = False
    ornaments: bool = False
    ornament_dropout: float = 0.1
    ornament_adaln: bool = False
    conv_kernel: int = 0
    rope_base: float = 10000.0
    max_period_s: float = 1000.0

    def __post_init__(self):
        if self.tokenization not in TOKENIZATIONS:
            raise ConfigError(f"unknown DiT tokenization {self.tokenization!r}; known: {', '.join(TOKENIZATIONS)}")
        if self.time_pos not in TIME_POSITIONS:
            raise ConfigError(f"unknown DiT time_pos {self.time_pos!r}; known: {', '.join(TIME_POSITIONS)}")
        if min(self.in_channels, self.d_model, self.depth, self.n_heads, self.patch_size) < 1:
            raise ConfigError("in_channels, d_model, depth, n_heads and patch_size must be >= 1")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ConfigError(f"input_size must be (H, W) with positive sizes, got {self.input_size}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.time_pos == "rope" and self.head_dim % 2:
            raise ConfigError(f"time_pos='rope' needs an even head dimension; d_model / n_heads = "
                              f"{self.head_dim}")
        if self.tokenization == "patch":
            H, W = self.input_size
            if H % self.patch_size or W % self.patch_size:
                raise ConfigError(f"input_size {H}x{W}: H and W must be multiples of patch_size "
                                  f"{self.patch_size}")
        if self.freq_pos and self.tokenization != "patch":
            raise ConfigError("freq_pos needs tokenization='patch' (a time token holds every band)")
        if self.ornament_adaln and not self.ornaments:
            raise ConfigError("ornament_adaln needs ornaments=True")
        if self.conv_kernel < 0 or (self.conv_kernel and self.conv_kernel % 2 == 0):
            raise ConfigError(f"conv_kernel must be 0 (none) or an odd number of taps, got {self.conv_kernel}")
        if self.conv_kernel and self.tokenization != "time":
            raise ConfigError("conv_kernel needs tokenization='time' (neighbouring tokens are neighbouring "
                              "frames only there)")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.ornament_dropout <= 1.0:
            raise ConfigError(f"dropout must be in [0, 1) and ornament_dropout in [0, 1]; got "
                              f"{self.dropout}, {self.ornament_dropout}")

    @property
    def head_dim(self) -> int:
        """Channels per head, ``d_model / n_heads``."""
        return self.d_model // self.n_heads

    @property
    def input_channels(self) -> int:
        """Channels tokenised: ``C``, or ``2 C + 1`` for ``[x_t, known * mask, mask]`` when inpainting."""
        return 2 * self.in_channels + 1 if self.inpainting else self.in_channels

    @property
    def output_channels(self) -> int:
        """``out_channels``, or ``in_channels`` when None."""
        return self.out_channels or self.in_channels

    def n_tokens(self, H: int, W: int) -> int:
        """Tokens of an ``H x W`` grid: ``W`` (time) or ``(H / p)(W / p)`` (patch)."""
        return W if self.tokenization == "time" else (H // self.patch_size) * (W // self.patch_size)

    def replace(self, **changes) -> "DiTConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


DIT_PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(input_size=(8, 16), d_model=32, depth=2, n_heads=2, mlp_ratio=2.0),
    "book": DiTConfig(input_size=(64, 64), d_model=128, depth=2, n_heads=4, mlp_ratio=2.0),
    "matched": DiTConfig(input_size=(64, 64), d_model=256, depth=7, n_heads=8),
    "full": DiTConfig(input_size=(64, 64), d_model=384, depth=12, n_heads=6),
}
"""Size presets, the one place where DiT sizes are named. ``tiny``: tests (an ``8 x 16`` grid, trains
in seconds); ``book``: Chapter 8 on ``2 x 64 x 64`` latents (64 time tokens of width 128, two
blocks, MLP ratio 2): about the latent U-Net's parameter count (0.65 M with Chapter 8's
conditions, against 0.67 M), for the comparison at matched parameters, and about 1/10 of its
training-step time on a 2-core CPU. The width stays at a time token's 128 input values
(2 channels x 64 latent rows): in one ``book`` build (2026-12-05) a narrower model of the
same count (width 96, four blocks) reached a Fréchet distance of 11.2, no better after 5600
steps than after 450 (the embedding cannot carry the token), against 8.6 for this preset;
``matched``: the same grid at about the latent U-Net's training-step time (width 256, 7 blocks;
``benchmarks/bench_dit.py``), for the comparison at matched compute; ``full``: near DiT-S (width 384, 12 blocks, 6 heads), for a GPU."""


def dit_config(preset: str = "book", **overrides) -> DiTConfig:
    """The preset ``preset`` of :data:`DIT_PRESETS` with some fields overridden.

    Raises:
        ConfigError: unknown preset or field, or an inconsistent result.
    """
    check_preset(DIT_PRESETS, preset, DiTConfig, "DiT", overrides)
    if "input_size" in overrides:
        overrides["input_size"] = tuple(int(v) for v in overrides["input_size"])
    return DIT_PRESETS[preset].replace(**overrides)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: ``x (1 + scale) + shift`` with ``(B, d)`` modulations broadcast over the ``N`` tokens,
    or ``(B, N, d)`` ones (per token)."""
    if shift.ndim == 2:
        shift, scale = shift[:, None], scale[:, None]
    return x * (1 + scale) + shift


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, N, d)`` tokens, RoPE on queries and keys when given angles."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, rope: Tensor | None = None) -> Tensor:
        B, N, d = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, k, rope)
        h = F.scaled_dot_product_attention(q, k, v)
        return self.drop(self.proj(h.transpose(1, 2).reshape(B, N, d)))


class DiTBlock(nn.Module):
    """A transformer block with adaLN-Zero conditioning: ``(B, N, d)``, ``c`` ``(B, d)`` -> ``(B, N, d)``."""

    def __init__(self, d: int, heads: int, mlp_ratio: float, dropout: float, n_token_classes: int = 0,
                 conv_kernel: int = 0):
        super().__init__()
        hidden = int(d * mlp_ratio)
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, heads, dropout)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d),
                                 nn.Dropout(dropout))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        # per-token modulation offsets of each token class (ornaments), zero at the start
        self.token_modulation = nn.Embedding(n_token_classes, 6 * d) if n_token_classes else None
        # depthwise convolution along the tokens on the MLP's hidden layer (DiTConfig.conv_kernel)
        self.mlp_conv = (nn.Conv1d(hidden, hidden, conv_kernel, padding=conv_kernel // 2, groups=hidden)
                         if conv_kernel else None)

    def feed_forward(self, h: Tensor) -> Tensor:
        """The block's MLP on ``(B, N, d)`` tokens, with the local convolution when there is one."""
        if self.mlp_conv is None:
            return self.mlp(h)
        h = self.mlp[0](h)
        h = h + self.mlp_conv(h.transpose(1, 2)).transpose(1, 2)
        return self.mlp[1:](h)

    def forward(self, x: Tensor, c: Tensor, rope: Tensor | None = None, offsets: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, d)``, ``c`` ``(B, d)``; ``offsets`` ``(B, N, 6 d)`` (rows of
        ``token_modulation`` per token) are added to the sample's six modulations."""
        mods = self.adaLN_modulation(c)[:, None]
        if offsets is not None:
            mods = mods + offsets
        shift1, scale1, gate1, shift2, scale2, gate2 = mods.chunk(6, dim=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1), rope)
        return x + gate2 * self.feed_forward(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """adaLN (shift, scale from ``c``) then a linear map of each token to its output values."""

    def __init__(self, d: int, out: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(d, out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    """The denoiser: ``forward(x_t, t, cond=None) -> (B, out_channels or in_channels, H, W)``.

    Args:
        config: a :class:`DiTConfig` (default: the ``book`` preset's sizes).
        **overrides: fields of :class:`DiTConfig` to change.
    """

    def __init__(self, config: DiTConfig | None = None, **overrides):
        super().__init__()
        cfg = config or DiTConfig()
        cfg = cfg.replace(**overrides) if overrides else cfg
        self.config = cfg
        d, p = cfg.d_model, cfg.patch_size
        H = cfg.input_size[0]
        if cfg.tokenization == "time":
            self.x_embedder = nn.Linear(cfg.input_channels * H, d)
            out = cfg.output_channels * H
        else:
            self.x_embedder = nn.Conv2d(cfg.input_channels, d, p, stride=p)
            out = cfg.output_channels * p * p
        self.t_embedder = nn.Sequential(nn.Linear(FREQ_DIM, d), nn.SiLU(), nn.Linear(d, d))
        self.y_embedder = nn.Embedding(cfg.n_classes + 1, d) if cfg.n_classes > 0 else None
        self.vec_embedder = (nn.Sequential(nn.Linear(cfg.cond_dim, d), nn.SiLU(), nn.Linear(d, d))
                             if cfg.cond_dim > 0 else None)
        if cfg.piece_pos:
            self.piece_embedder = nn.Sequential(nn.Linear(2 * SECONDS_DIM, d), nn.SiLU(), nn.Linear(d, d))
            self.piece_null = nn.Parameter(torch.zeros(d))
        else:
            self.piece_embedder, self.piece_null = None, None
        self.ornament_embedder = nn.Embedding(N_ORNAMENTS + 1, d) if cfg.ornaments else None
        n_tok = N_ORNAMENTS + 1 if cfg.ornament_adaln else 0
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.n_heads, cfg.mlp_ratio, cfg.dropout, n_tok, cfg.conv_kernel)
                                    for _ in range(cfg.depth))
        self.final_layer = FinalLayer(d, out)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """The reference's initialisation: Xavier-uniform linear layers (the patch embedding as a
        linear map), N(0, 0.02) embeddings and timestep MLP, and **zero** adaLN modulations and
        final linear layer (adaLN-Zero: every block starts as the identity, the output as 0)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)
        for emb in (self.y_embedder, self.ornament_embedder):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.02)
        nn.init.normal_(self.t_embedder[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
            if block.token_modulation is not None:
                nn.init.zeros_(block.token_modulation.weight)
        for m in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    # ---- conditioning --------------------------------------------------------------------
    def _check_keys(self, cond) -> dict:
        """The dict form of ``cond`` (``label`` or ``vec`` for a tensor); refuse unknown or unusable keys."""
        cfg = self.config
        if cond is None:
            return {}
        if not isinstance(cond, dict):
            return {"vec" if cond.is_floating_point() else "label": cond}
        known = ("label", "vec", *CONTEXT_KEYS, *PIECE_KEYS, "ornaments")
        unknown = sorted(set(cond) - set(known))
        if unknown:
            raise ConfigError(f"unknown condition key(s) {unknown}; known: {', '.join(known)}")
        if not cfg.piece_pos and any(cond.get(k) is not None for k in PIECE_KEYS):
            raise ConfigError("got start_s/total_s but the DiT was built with piece_pos=False")
        if not cfg.ornaments and cond.get("ornaments") is not None:
            raise ConfigError("got ornaments but the DiT was built with ornaments=False")
        return cond

    def embed(self, t: Tensor, cond=None, batch: int | None = None) -> Tensor:
        """The conditioning vector ``c`` ``(B, d_model)``: timestep, label, vector and piece position.

        Args:
            t: ``(B,)`` timesteps (int or float) or a scalar.
            cond: see :meth:`forward`.
            batch: ``B`` when ``t`` is a scalar.
        """
        cfg = self.config
        cond = self._check_keys(cond)
        dev = self.final_layer.linear.weight.device
        t = torch.as_tensor(t, device=dev)
        if t.ndim == 0:
            t = t.expand(batch or 1)
        c = self.t_embedder(timestep_embedding(t, FREQ_DIM))
        B = c.shape[0] if batch is None else max(c.shape[0], batch)
        c = c.expand(B, -1)
        label, vec = cond.get("label"), cond.get("vec")
        if label is not None and self.y_embedder is None:
            raise ConfigError("got class labels but the DiT was built with n_classes=0")
        if vec is not None and self.vec_embedder is None:
            raise ConfigError("got a condition vector but the DiT was built with cond_dim=0")
        if self.y_embedder is not None:
            if label is None:
                label = torch.full((B,), cfg.n_classes, dtype=torch.long, device=dev)
            label = torch.where(label < 0, torch.full_like(label, cfg.n_classes), label.long())
            if int(label.max()) > cfg.n_classes:
                raise ConfigError(f"class label {int(label.max())} out of range 0..{cfg.n_classes - 1}")
            c = c + self.y_embedder(label)
        if self.vec_embedder is not None:
            if vec is None:
                vec = torch.zeros(B, cfg.cond_dim, device=dev)
            if vec.shape[-1] != cfg.cond_dim:
                raise ConfigError(f"condition vector of size {vec.shape[-1]}, the DiT expects {cfg.cond_dim}")
            c = c + self.vec_embedder(vec.to(c.dtype))
        if self.piece_embedder is not None:
            c = c + self.piece_embedding(cond.get("start_s"), cond.get("total_s"), B)
        return c

    def piece_embedding(self, start_s: Tensor | None, total_s: Tensor | None, batch: int) -> Tensor:
        """``MLP([sinusoid(start_s), sinusoid(total_s)])`` per sample, or the learned "no position"
        where ``total_s <= 0`` (the null condition's zeros) or the keys are missing.

        Args:
            start_s: ``(B,)`` the window's start in its piece, s (None: no position).
            total_s: ``(B,)`` the piece's length, s (None: no position).
            batch: ``B``.

        Returns:
            ``(B, d_model)``.
        """
        null = self.piece_null[None].expand(batch, -1)
        if start_s is None or total_s is None:
            if start_s is not None or total_s is not None:
                raise ConfigError("piece position needs both start_s and total_s")
            return null
        dev = null.device
        start_s = torch.as_tensor(start_s, dtype=torch.float32, device=dev).reshape(-1).expand(batch)
        total_s = torch.as_tensor(total_s, dtype=torch.float32, device=dev).reshape(-1).expand(batch)
        emb = torch.cat([seconds_embedding(start_s, SECONDS_DIM, self.config.max_period_s),
                         seconds_embedding(total_s, SECONDS_DIM, self.config.max_period_s)], dim=-1)
        return torch.where((total_s > 0)[:, None], self.piece_embedder(emb), null)

    def ornament_ids(self, ornaments: Tensor | None, batch: int, W: int) -> Tensor:
        """Per-frame ornament indices ``(B, W)`` with ``-1`` and missing as the unknown index
        ``N_ORNAMENTS``, and, in training, whole samples set to unknown with ``ornament_dropout``.

        Raises:
            ConfigError: a shape that does not broadcast to ``(B, W)`` or an index out of range.
        """
        dev = self.ornament_embedder.weight.device
        unknown = N_ORNAMENTS
        if ornaments is None:
            return torch.full((batch, W), unknown, dtype=torch.long, device=dev)
        if ornaments.is_floating_point():
            raise ConfigError("ornaments must be integer indices (int64), not floats")
        try:
            ids = torch.broadcast_to(ornaments.to(dev).long(), (batch, W))
        except RuntimeError:
            raise ConfigError(f"ornaments of shape {tuple(ornaments.shape)}: expected (B, W) = "
                              f"{(batch, W)}, one per latent frame") from None
        if ids.numel() and (int(ids.min()) < -1 or int(ids.max()) >= N_ORNAMENTS):
            raise ConfigError(f"ornament ids must be in 0..{N_ORNAMENTS - 1} (or -1: unknown), got "
                              f"{int(ids.min())}..{int(ids.max())}")
        ids = torch.where(ids < 0, torch.full_like(ids, unknown), ids)
        p = self.config.ornament_dropout
        if self.training and p > 0:
            drop = torch.rand(batch, device=dev) < p
            ids = torch.where(drop[:, None], torch.full_like(ids, unknown), ids)
        return ids

    # ---- tokens ----------------------------------------------------------------------------
    def check_input(self, x: Tensor) -> None:
        """Refuse an input that is not ``(B, in_channels, H, W)`` with a usable ``H`` and ``W``."""
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ConfigError(f"input of shape {tuple(x.shape)}: expected (B, {cfg.in_channels}, H, W)")
        H, W = x.shape[2:]
        if cfg.tokenization == "time" and H != cfg.input_size[0]:
            raise ConfigError(f"input height {H}: this DiT's time tokens take H = {cfg.input_size[0]} "
                              f"rows (input_size); build it with input_size=({H}, W)")
        if cfg.tokenization == "patch" and (H % cfg.patch_size or W % cfg.patch_size):
            raise ConfigError(f"input {H}x{W}: H and W must be multiples of patch_size {cfg.patch_size}")

    def grid(self, H: int, W: int) -> tuple[Tensor, Tensor]:
        """Each token's frequency band and time column ``(N,)``, ``(N,)`` (row-major for patches)."""
        dev = self.final_layer.linear.weight.device
        if self.config.tokenization == "time":
            return torch.zeros(W, device=dev), torch.arange(W, device=dev, dtype=torch.float32)
        p = self.config.patch_size
        rows, cols = torch.meshgrid(torch.arange(H // p, device=dev, dtype=torch.float32),
                                    torch.arange(W // p, device=dev, dtype=torch.float32), indexing="ij")
        return rows.reshape(-1), cols.reshape(-1)

    def patchify(self, x: Tensor) -> Tensor:
        """``(B, C', H, W)`` -> ``(B, N, d_model)`` tokens (time columns or patches)."""
        if self.config.tokenization == "time":
            B, C, H, W = x.shape
            return self.x_embedder(x.permute(0, 3, 1, 2).reshape(B, W, C * H))
        return self.x_embedder(x).flatten(2).transpose(1, 2)

    def unpatchify(self, tokens: Tensor, H: int, W: int) -> Tensor:
        """``(B, N, out values per token)`` -> ``(B, out_channels, H, W)``."""
        B, C = tokens.shape[0], self.config.output_channels
        if self.config.tokenization == "time":
            return tokens.reshape(B, W, C, H).permute(0, 2, 3, 1)
        p = self.config.patch_size
        h, w = H // p, W // p
        x = tokens.reshape(B, h, w, p, p, C)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(B, C, H, W)

    def positions(self, H: int, W: int) -> tuple[Tensor | None, Tensor | None]:
        """The additive position encoding ``(N, d_model)`` and the RoPE angles ``(N, head_dim / 2)``
        of an ``H x W`` grid (None where switched off)."""
        cfg = self.config
        rows, cols = self.grid(H, W)
        add = None
        if cfg.time_pos == "sincos" and cfg.freq_pos:
            add = sincos_2d(rows, cols, cfg.d_model)
        elif cfg.time_pos == "sincos":
            add = sincos_1d(cols, cfg.d_model)
        elif cfg.freq_pos:
            add = sincos_1d(rows, cfg.d_model)
        rope = rope_frequencies(cfg.head_dim, cols, cfg.rope_base) if cfg.time_pos == "rope" else None
        return add, rope

    def per_token(self, e: Tensor, H: int) -> Tensor:
        """Per-frame values ``(B, W, e)`` as per-token ones ``(B, N, e)``: a time token's frame, or
        the mean over a patch's ``p`` columns (repeated for every band)."""
        if self.config.tokenization == "time":
            return e
        B, W, k = e.shape
        p = self.config.patch_size
        e = e.reshape(B, W // p, p, k).mean(2)  # (B, W/p, k)
        return e[:, None].expand(B, H // p, W // p, k).reshape(B, -1, k)

    def ornament_tokens(self, ids: Tensor, H: int) -> Tensor:
        """The ornament embedding of each token ``(B, N, d_model)`` from the frames' ornament ids
        ``(B, W)`` (:meth:`ornament_ids`), through :meth:`per_token`."""
        return self.per_token(self.ornament_embedder(ids), H)

    def forward(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """Denoise.

        Args:
            x: ``(B, in_channels, H, W)``; ``H = input_size[0]`` for time tokens, multiples of
                ``patch_size`` for patches; any ``W``.
            t: ``(B,)`` timesteps (or a scalar).
            cond: None, ``(B,)`` int64 labels (``-1``: null), ``(B, cond_dim)`` float vectors, or a
                dict with ``label``, ``vec``, ``known``, ``mask`` (inpainting context),
                ``start_s``, ``total_s`` (``(B,)`` s, with ``piece_pos``) and ``ornaments``
                (``(B, W)`` int64 in ``0..N_ORNAMENTS-1``, ``-1`` unknown, with ``ornaments``).

        Returns:
            ``(B, out_channels or in_channels, H, W)``.

        Raises:
            ConfigError: bad shapes, unknown or unusable condition keys, indices out of range.
        """
        h, c = self._run(x, t, cond)
        return self.unpatchify(self.final_layer(h, c), x.shape[2], x.shape[3])

    def _run(self, x: Tensor, t: Tensor, cond=None) -> tuple[Tensor, Tensor]:
        """Tokens after the last block ``(B, N, d)`` and the conditioning vector ``(B, d)``."""
        self.check_input(x)
        B, _, H, W = x.shape
        d = self._check_keys(cond)
        c = self.embed(t, d, batch=B)
        if c.shape[0] != B:
            raise ConfigError(f"timesteps of batch {c.shape[0]} for an input of batch {B}")
        h = self.patchify(context_channels(x, cond, self.config.inpainting, "DiT"))
        add, rope = self.positions(H, W)
        if add is not None:
            h = h + add.to(h.dtype)[None]
        ids = None
        if self.ornament_embedder is not None:
            ids = self.ornament_ids(d.get("ornaments"), B, W)
            h = h + self.ornament_tokens(ids, H)
        for block in self.blocks:
            offsets = None if block.token_modulation is None else self.per_token(block.token_modulation(ids), H)
            h = block(h, c, rope, offsets)
        return h, c

    def features(self, x: Tensor, t: Tensor, cond=None) -> Tensor:
        """The token features after the last block, ``(B, N, d)``: what a probe reads (one token
        per latent frame with time tokens; row-major patches otherwise). Arguments as :meth:`forward`."""
        return self._run(x, t, cond)[0]
