"""Small convolutional diffusion models that predict noise (the shipped ones: ``course_utils.checkpoints``).

``ResNet``: the paper's minimal backbone (Kamb & Ganguli 2025): 3x3 convolutions, no
normalisation, residual connections, a noise-level embedding added in every block.
Its receptive field is exactly ``2 * depth + 1`` pixels (``depth`` = number of 3x3
convolutions). The paper uses 8 layers, RF 17 on 32x32 images: about half the image
side. The course keeps that geometry on 16x16 digits with ``depth=5`` (RF 11); a
network that sees the whole image is no longer local and the ELS comparison loses
its point.

``UNet``: a small two-level UNet (16 -> 8 -> 4 pixels), optionally with one
self-attention block at the lowest resolution (``attention=True``, lesson 09).

Both map ``(x, noise_var) -> eps_hat``; ``as_denoiser(model)`` turns one into the
course's denoiser ``denoiser(x, noise_var) -> E[x0 | x]``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .diffusion import denoised_from_eps

PADDINGS = ("zeros", "circular")
# At b = 1 exactly, D = (x - sqrt(b) eps) / sqrt(1 - b) is 0 / 0 for a noise-predicting
# network. E[x0 | x] is continuous in b, so the networks are trained and evaluated up
# to this level, which differs from b = 1 by a posterior shift of order sqrt(1 - b).
MAX_NOISE_VAR = 0.999
MIN_NOISE_VAR = 1e-5


def noise_level(noise_var, batch):
    """Scalar or (B,) noise variance -> (B,) float32 tensor clamped to the trained range."""
    b = torch.as_tensor(noise_var, dtype=torch.float32)
    if b.ndim == 0:
        b = b.expand(batch)
    if b.shape != (batch,):
        raise ValueError(f"noise_var has shape {tuple(b.shape)}; pass a float or a ({batch},) "
                         "tensor, one value per batch element")
    return b.clamp(MIN_NOISE_VAR, MAX_NOISE_VAR)


class NoiseEmbedding(nn.Module):
    """(B,) noise variance -> (B, dim) features of the log signal-to-noise ratio."""

    def __init__(self, dim, frequencies=16):
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(100.0), frequencies)))
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, b):
        # log(b / (1 - b)) / 8 lies in about [-1.4, 0.9] over the trained range
        c = (torch.log(b) - torch.log1p(-b))[:, None] / 8
        angles = c * self.freqs
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


def conv3x3(c_in, c_out, padding):
    return nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode=padding)


def _check_padding(padding):
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")


class ResNet(nn.Module):
    """(B, C, H, W) noisy images, (B,) noise variances -> (B, C, H, W) noise prediction.

    ``depth`` 3x3 convolutions in all: one in, ``depth - 2`` residual blocks of one
    convolution each, one out; receptive field ``2 * depth + 1``.
    """

    def __init__(self, channels=1, width=64, depth=5, padding="zeros", emb_dim=128):
        super().__init__()
        _check_padding(padding)
        if depth < 2:
            raise ValueError(f"depth counts 3x3 convolutions (in + blocks + out); give >= 2, not {depth}")
        self.config = {"arch": "resnet", "channels": channels, "width": width, "depth": depth,
                       "padding": padding, "emb_dim": emb_dim}
        self.embed = NoiseEmbedding(emb_dim)
        self.conv_in = conv3x3(channels, width, padding)
        self.blocks = nn.ModuleList(conv3x3(width, width, padding) for _ in range(depth - 2))
        self.emb_proj = nn.ModuleList(nn.Linear(emb_dim, width) for _ in range(depth - 2))
        self.conv_out = conv3x3(width, channels, padding)

    def forward(self, x, noise_var):
        emb = F.silu(self.embed(noise_level(noise_var, x.shape[0]).to(x.device)))
        h = self.conv_in(x)
        for conv, proj in zip(self.blocks, self.emb_proj):
            h = h + conv(F.silu(h + proj(emb)[:, :, None, None]))
        return self.conv_out(F.silu(h))


class ResBlock(nn.Module):
    """(B, c_in, H, W), (B, emb) -> (B, c_out, H, W): two 3x3 convs, embedding added between."""

    def __init__(self, c_in, c_out, emb_dim, padding):
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, padding)
        self.proj = nn.Linear(emb_dim, c_out)
        self.conv2 = conv3x3(c_out, c_out, padding)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(x)) + self.proj(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(h))


class SelfAttention(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): multi-head self-attention over all H*W positions."""

    def __init__(self, channels, heads=4):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """(B, C, H, W) noisy images, (B,) noise variances -> (B, C, H, W) noise prediction.

    Widths ``widths[0..2]`` at full, half and quarter resolution (H, W divisible by 4);
    ``attention=True`` adds one self-attention block at quarter resolution.
    """

    def __init__(self, channels=1, widths=(32, 64, 64), padding="zeros", attention=False,
                 emb_dim=128):
        super().__init__()
        _check_padding(padding)
        w0, w1, w2 = widths
        self.config = {"arch": "unet", "channels": channels, "widths": list(widths),
                       "padding": padding, "attention": attention, "emb_dim": emb_dim}
        self.embed = NoiseEmbedding(emb_dim)
        self.conv_in = conv3x3(channels, w0, padding)
        self.down0 = ResBlock(w0, w0, emb_dim, padding)
        self.down1 = ResBlock(w0, w1, emb_dim, padding)
        self.mid = ResBlock(w1, w2, emb_dim, padding)
        self.attn = SelfAttention(w2) if attention else None
        self.up1 = ResBlock(w2 + w1, w1, emb_dim, padding)
        self.up0 = ResBlock(w1 + w0, w0, emb_dim, padding)
        self.conv_out = conv3x3(w0, channels, padding)

    def forward(self, x, noise_var):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"UNet needs H and W divisible by 4, got {tuple(x.shape[-2:])}")
        emb = F.silu(self.embed(noise_level(noise_var, x.shape[0]).to(x.device)))
        h0 = self.down0(self.conv_in(x), emb)
        h1 = self.down1(F.avg_pool2d(h0, 2), emb)
        h = self.mid(F.avg_pool2d(h1, 2), emb)
        if self.attn is not None:
            h = self.attn(h)
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2.0), h1], 1), emb)
        h = self.up0(torch.cat([F.interpolate(h, scale_factor=2.0), h0], 1), emb)
        return self.conv_out(F.silu(h))


ARCHITECTURES = {"resnet": ResNet, "unet": UNet}


def build_model(config):
    """A fresh model from its ``config`` dict (``{"arch": "resnet", ...}``)."""
    config = dict(config)
    arch = config.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if "widths" in config:
        config["widths"] = tuple(config["widths"])
    return ARCHITECTURES[arch](**config)


def _probe_input(model, channels, size, seed):
    """A seeded (1, C, size, size) random input in the model's own dtype, ready for gradients."""
    channels = channels or model.config["channels"]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=gen)
    return x.to(next(model.parameters()).dtype).requires_grad_()


def receptive_field(model, size=None, channels=None, noise_var=0.5, seed=0):
    """Side of the square of input pixels that the centre output pixel depends on.

    Measured by gradients: the gradient of the centre output (summed over channels)
    with respect to a random input is exactly zero outside the receptive field.
    ``size`` defaults to 64 so that a local network's field is not clipped by the image.
    """
    size = size or 64
    x = _probe_input(model, channels, size, seed)
    was_training = model.training
    model.eval()
    out = model(x, noise_var)
    model.train(was_training)
    out[0, :, size // 2, size // 2].sum().backward()
    mask = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def gradient_map(model, size, channels=None, noise_var=0.5, seed=0, at=None):
    """(size, size) |d out[centre] / d x| for a random input: the receptive field, pictured."""
    x = _probe_input(model, channels, size, seed)
    row, col = at or (size // 2, size // 2)
    model.eval()
    model(x, noise_var)[0, :, row, col].sum().backward()
    return x.grad[0].abs().sum(0)


def network_denoise(model, x, noise_var):
    """(B, C, H, W) noisy images, float or (B,) b -> (B, C, H, W) E[x0 | x] from the model's eps_hat.

    b is clamped to the trained range first: at b = 1 (the sampler's first step) the
    formula would divide by sqrt(1 - b) = 0.
    """
    b = noise_level(noise_var, x.shape[0]).to(x)
    return denoised_from_eps(x, model(x, b), b)


def as_denoiser(model):
    """A network predicting noise -> ``denoiser(x, noise_var) -> E[x0 | x]`` (no gradients)."""
    model.eval()

    @torch.no_grad()
    def denoiser(x, noise_var):
        return network_denoise(model, x, noise_var)

    return denoiser


def load_model_file(path, device="cpu"):
    """A model from a weights file written by ``course_utils.train`` (config + state dict)."""
    blob = torch.load(path, map_location=device, weights_only=True)
    model = build_model(blob["config"]).to(device)
    model.load_state_dict(blob["state_dict"])
    return model.eval()
