"""Lesson 00, the paradox: forward noising and the ideal denoiser on 2-D points."""
import torch

from .core import exercise


def _points(seed, batch=6, n_train=5):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 2, generator=gen, dtype=torch.float64),
            torch.randn(n_train, 2, generator=gen, dtype=torch.float64) * 2)


def _noise_cases(seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    cases = []
    for noise_var in (0.1, 0.5, 0.99):
        x0 = torch.randn(5, 2, generator=gen, dtype=torch.float64)
        eps = torch.randn(5, 2, generator=gen, dtype=torch.float64)
        cases.append({"x0": x0, "noise_var": noise_var, "eps": eps})
    return cases


@exercise("00.add_noise", name="add_noise", cases=_noise_cases, points=1,
          hint="x = sqrt(1 - b) * x0 + sqrt(b) * eps, with b the noise variance")
def add_noise(x0, noise_var, eps):
    """(B, 2) clean points -> (B, 2) noisy points."""
    return (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps


def _denoiser_cases(seed):
    cases = []
    for offset, noise_var in enumerate((0.5, 0.05, 1e-4)):
        x, train = _points(2000 + 10 * seed + offset)
        cases.append({"x": x * 3, "train": train, "noise_var": noise_var})
    return cases


@exercise("00.ideal_denoiser", name="ideal_denoiser", cases=_denoiser_cases, points=2,
          hint="weights = softmax over training points of -|x - sqrt(1-b) phi|^2 / (2b); "
               "torch.softmax stays finite where exp() would underflow at small b")
def ideal_denoiser(x, train, noise_var):
    """(B, 2) noisy points, (N, 2) training points -> (B, 2) E[x0 | x]."""
    a = (1 - noise_var) ** 0.5
    logits = -torch.cdist(x, a * train) ** 2 / (2 * noise_var)
    return torch.softmax(logits, dim=1) @ train
