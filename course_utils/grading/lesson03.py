"""Lesson 03, diffusion from scratch: the cosine schedule, the ideal denoiser's weights, a DDIM step."""
import math

import torch

from .core import exercise


def _schedule_cases(seed):
    gen = torch.Generator().manual_seed(3000 + seed)
    return [{"t": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)},
            {"t": torch.rand(7, generator=gen, dtype=torch.float64)},
            {"t": torch.linspace(0, 1, 21, dtype=torch.float64)}]


@exercise("03.cosine_noise_var", name="cosine_noise_var", cases=_schedule_cases, points=1,
          hint="b(t) = 1 - cos((t + s) / (1 + s) * pi / 2) ** 2 with s = 0.008; "
               "torch.cos works elementwise on a tensor t")
def cosine_noise_var(t):
    """(T,) times in [0, 1] -> (T,) noise variances b(t) of the cosine schedule."""
    s = 0.008
    return 1 - torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2


def _weight_cases(seed, noise_vars=(0.9, 0.3, 0.02)):
    gen = torch.Generator().manual_seed(3100 + seed)
    cases = []
    for noise_var in noise_vars:
        train = torch.rand(6, 1, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(3, 1, 4, 4, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var})
    return cases


@exercise("03.ideal_weights", name="ideal_weights", cases=_weight_cases, points=2,
          hint="flatten images to vectors, logits = -|x - a phi|^2 / (2 b) with a = sqrt(1 - b), "
               "then torch.softmax over the training axis (dim=1)",
          hidden_cases=lambda: _weight_cases(99, noise_vars=(1.0, 1e-4, 1e-6)))
def ideal_weights(x, train, noise_var):
    """(B, C, H, W) noisy, (N, C, H, W) training, float b -> (B, N) posterior weights w_mu(x)."""
    a = (1 - noise_var) ** 0.5
    d2 = torch.cdist(x.flatten(1), a * train.flatten(1)) ** 2
    return torch.softmax(-d2 / (2 * noise_var), dim=1)


def _step_cases(seed):
    gen = torch.Generator().manual_seed(3200 + seed)
    cases = []
    for b, b_prev in ((0.99, 0.9), (0.5, 0.3), (0.05, 1e-4)):
        x = torch.randn(2, 1, 4, 4, generator=gen, dtype=torch.float64)
        denoised = torch.rand(2, 1, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
        cases.append({"x": x, "denoised": denoised, "noise_var": b, "noise_var_prev": b_prev})
    return cases


@exercise("03.ddim_step", name="ddim_step", cases=_step_cases, points=2,
          hint="eps_hat = (x - sqrt(1 - b) * denoised) / sqrt(b); then "
               "x_prev = sqrt(1 - b_prev) * denoised + sqrt(b_prev) * eps_hat")
def ddim_step(x, denoised, noise_var, noise_var_prev):
    """(B, C, H, W) x at noise b and its denoised estimate -> (B, C, H, W) x at noise b_prev."""
    eps = (x - (1 - noise_var) ** 0.5 * denoised) / noise_var ** 0.5
    return (1 - noise_var_prev) ** 0.5 * denoised + noise_var_prev ** 0.5 * eps
