"""Variance-preserving diffusion: cosine schedule, forward noising, DDIM sampling.

Convention (ELS_NOTES.md): x = sqrt(1-b) x0 + sqrt(b) eps with noise variance b.
Every denoiser, machine or network, maps ``(x, noise_var) -> D(x) = E[x0 | x]``;
with a patch-size schedule the sampler calls ``denoiser(x, noise_var, k)``.
"""
import math

import torch

from .progress import progress

COSINE_OFFSET = 0.008


def cosine_noise_var(t, offset=COSINE_OFFSET, legacy=False):
    """b(t) = 1 - cos^2((t + s) / (1 + s) * pi / 2); ``legacy`` drops the +s in the numerator."""
    t = torch.as_tensor(t, dtype=torch.float64)
    shift = 0.0 if legacy else offset
    return (1 - torch.cos((t + shift) / (1 + offset) * math.pi / 2) ** 2).clamp(0.0, 1.0)


def _per_sample(value, like):
    """(B,) or scalar noise variance -> broadcastable against ``like`` (B, ...)."""
    value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if value.ndim == 0:
        return value
    if value.shape != like.shape[:1]:
        raise ValueError(f"noise_var has shape {tuple(value.shape)}; pass a float or a "
                         f"({like.shape[0]},) tensor, one value per batch element")
    return value.reshape(-1, *([1] * (like.ndim - 1)))


def add_noise(x0, noise_var, eps):
    """(B, ...) clean images -> (B, ...) noisy images sqrt(1-b) x0 + sqrt(b) eps."""
    b = _per_sample(noise_var, x0)
    return torch.sqrt(1 - b) * x0 + torch.sqrt(b) * eps


def eps_from_denoised(x, denoised, noise_var):
    """Noise prediction eps_hat = (x - sqrt(1-b) D) / sqrt(b) = -sqrt(b) * score."""
    b = _per_sample(noise_var, x)
    return (x - torch.sqrt(1 - b) * denoised) / torch.sqrt(b)


def denoised_from_eps(x, eps, noise_var):
    """Clean estimate D = (x - sqrt(b) eps_hat) / sqrt(1-b), for networks that predict noise."""
    b = _per_sample(noise_var, x)
    return (x - torch.sqrt(b) * eps) / torch.sqrt(1 - b)


def score_from_denoised(x, denoised, noise_var):
    """Score s = -(x - sqrt(1-b) D) / b."""
    b = _per_sample(noise_var, x)
    return -(x - torch.sqrt(1 - b) * denoised) / b


def ddim_step(x, denoised, noise_var, noise_var_prev):
    """One deterministic DDIM update from noise level b to b_prev < b."""
    eps = eps_from_denoised(x, denoised, noise_var)
    return math.sqrt(1 - noise_var_prev) * denoised + math.sqrt(noise_var_prev) * eps


def sampling_noise_vars(steps=20, offset=COSINE_OFFSET, legacy=False):
    """(steps + 1,) float64 noise variances b(t_i) at t_i = i / steps, i = 0 .. steps."""
    return cosine_noise_var(torch.arange(steps + 1, dtype=torch.float64) / steps, offset, legacy)


def ddim_sample(denoiser, noise, steps=20, patch_sizes=None, offset=COSINE_OFFSET,
                legacy=False, return_trajectory=False, progress_bar=None):
    """Deterministic DDIM from pure noise at t = 1 down to t = 0.

    noise: (B, ...) standard normal start; denoiser(x, b) -> (B, ...), or
    denoiser(x, b, k) when ``patch_sizes`` (length ``steps``) is given: entry i - 1
    is used for the update that starts at t = i / steps.
    Returns the (B, ...) sample, or (sample, trajectory) with trajectory a dict of
    ``x`` (steps + 1, B, ...) from t = 1 to t = 0 and ``denoised`` (steps, B, ...).
    """
    if patch_sizes is not None and len(patch_sizes) != steps:
        raise ValueError(f"patch_sizes has {len(patch_sizes)} entries; give one per step ({steps})")
    b = sampling_noise_vars(steps, offset, legacy).tolist()
    x = noise
    xs, ds = [x], []
    for i in progress(range(steps, 0, -1), total=steps, desc="DDIM", enabled=progress_bar):
        if patch_sizes is None:
            denoised = denoiser(x, b[i])
        else:
            denoised = denoiser(x, b[i], int(patch_sizes[i - 1]))
        x = ddim_step(x, denoised, b[i], b[i - 1])
        if return_trajectory:
            xs.append(x)
            ds.append(denoised)
    if return_trajectory:
        return x, {"x": torch.stack(xs), "denoised": torch.stack(ds)}
    return x
