"""Variance-preserving diffusion: cosine schedule, forward noising, DDIM sampling.

Convention (ELS_NOTES.md): x = sqrt(1-b) x0 + sqrt(b) eps with noise variance b.
Every denoiser, machine or network, maps ``(x, noise_var) -> D(x) = E[x0 | x]``
(as k-diffusion's ``model(x, sigma)``); a machine's patch size, fixed or a function of
the noise level, belongs to the machine. ``ddim_sample`` is the one sampler.
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


def _visited_noise_vars(noise_vars_or_steps):
    """int steps, or noise variances in the order the sampler visits them -> list of floats."""
    if isinstance(noise_vars_or_steps, (int,)) and not isinstance(noise_vars_or_steps, bool):
        if noise_vars_or_steps < 1:
            raise ValueError(f"steps must be a positive integer; got {noise_vars_or_steps}")
        return sampling_noise_vars(noise_vars_or_steps).flip(0).tolist()
    levels = torch.as_tensor(noise_vars_or_steps, dtype=torch.float64)
    if levels.ndim != 1 or len(levels) < 2 or not bool((levels[1:] < levels[:-1]).all()):
        raise ValueError("noise_vars must be a 1-D sequence of at least two decreasing noise "
                         "variances (from noise towards data), e.g. sampling_noise_vars(20).flip(0)")
    if not bool(((levels >= 0) & (levels <= 1)).all()):
        raise ValueError("noise_vars must lie in [0, 1] (variance-preserving convention)")
    return levels.tolist()


def ddim_sample(denoiser, noise, noise_vars_or_steps=20, callback=None, progress_bar=None):
    """Deterministic DDIM from pure noise down the given noise levels; (B, ...) -> (B, ...).

    denoiser(x, noise_var) -> E[x0 | x], any machine or network. ``noise_vars_or_steps``:
    a number of steps on the cosine schedule (t = 1 -> 0), or the noise variances to visit,
    decreasing. ``callback``, if given, is called after each update with a dict of
    ``i`` (0-based step), ``x`` (the input at this level), ``noise_var``, ``denoised``,
    ``x_next`` and ``noise_var_next``.
    """
    levels = _visited_noise_vars(noise_vars_or_steps)
    x = noise
    for i in progress(range(len(levels) - 1), total=len(levels) - 1, desc="DDIM",
                      enabled=progress_bar):
        b, b_next = levels[i], levels[i + 1]
        denoised = denoiser(x, b)
        x_next = ddim_step(x, denoised, b, b_next)
        if callback is not None:
            callback({"i": i, "x": x, "noise_var": b, "denoised": denoised,
                      "x_next": x_next, "noise_var_next": b_next})
        x = x_next
    return x


class Trajectory:
    """A sampler callback that keeps the path: ``x`` (steps + 1, B, ...) from noise to sample,
    ``denoised`` (steps, B, ...) and ``noise_vars`` (steps + 1,) in the order visited."""

    def __init__(self):
        self._x, self._denoised, self._levels = [], [], []

    def __call__(self, step):
        if not self._x:
            self._x.append(step["x"])
            self._levels.append(step["noise_var"])
        self._x.append(step["x_next"])
        self._denoised.append(step["denoised"])
        self._levels.append(step["noise_var_next"])

    @property
    def x(self):
        return torch.stack(self._x)

    @property
    def denoised(self):
        return torch.stack(self._denoised)

    @property
    def noise_vars(self):
        return torch.tensor(self._levels, dtype=torch.float64)
