"""Lesson 03, diffusion from scratch: the cosine schedule, the ideal denoiser's weights, a DDIM step."""
import math

import torch

from .core import Mistake, exercise

OFFSET = 0.008


def _schedule_cases(seed):
    gen = torch.Generator().manual_seed(3000 + seed)
    return [{"t": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)},
            {"t": torch.rand(7, generator=gen, dtype=torch.float64)},
            {"t": torch.linspace(0, 1, 21, dtype=torch.float64)}]


def _cosine(t, s=OFFSET, square=2, quarter=math.pi / 2, divide=True, signal=False):
    angle = (t + s) / ((1 + s) if divide else 1) * quarter
    kept = torch.cos(angle) ** square
    return kept if signal else 1 - kept


@exercise("03.cosine_noise_var", name="cosine_noise_var", cases=_schedule_cases, points=1,
          hint="the noise variance is 1 minus the signal variance, and the signal variance is a "
               "squared cosine that falls from (almost) 1 at t = 0 to exactly 0 at t = 1",
          formula="b(t) = 1 - cos^2((t + s) / (1 + s) * pi / 2) with s = 0.008",
          mistakes=[
              Mistake("no offset: s = 0.008 is missing", lambda t: _cosine(t, s=0.0)),
              Mistake("cos instead of cos^2", lambda t: _cosine(t, square=1)),
              Mistake("cos^2 is the signal variance 1 - b; the noise variance is 1 - cos^2",
                      lambda t: _cosine(t, signal=True)),
              Mistake("times pi instead of pi / 2: the angle must end at a quarter turn",
                      lambda t: _cosine(t, quarter=math.pi)),
              Mistake("(t + s) is not divided by (1 + s), so b(1) is not exactly 1",
                      lambda t: _cosine(t, divide=False)),
          ])
def cosine_noise_var(t):
    """(T,) times in [0, 1] -> (T,) noise variances b(t) of the cosine schedule."""
    return _cosine(t)


WEIGHT_CASES = ((1.0, 1), (0.3, 3), (1e-4, 2), (0.02, 1))   # (b, channels): b = 1, tiny b, C > 1
HIDDEN_WEIGHT_CASES = ((1.0, 2), (0.6, 1), (1e-6, 3), (0.05, 2))


def _weight_cases(seed, settings=WEIGHT_CASES):
    gen = torch.Generator().manual_seed(3100 + seed)
    cases = []
    for noise_var, channels in settings:
        train = torch.rand(6, channels, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(3, channels, 4, 4, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var})
    return cases


def _logits(x, train, noise_var, a=None, temperature=None, power=2):
    a = (1 - noise_var) ** 0.5 if a is None else a
    temperature = 2 * noise_var if temperature is None else temperature
    return -torch.cdist(x.flatten(1), a * train.flatten(1)) ** power / temperature


def _naive_weights(x, train, noise_var):
    w = torch.exp(_logits(x, train, noise_var))
    return w / w.sum(1, keepdim=True)


@exercise("03.ideal_weights", name="ideal_weights", cases=_weight_cases, points=2,
          hint="each weight says how likely training image mu is to have been noised into x, "
               "normalised over the training images; compare whole images (all channels), and "
               "let torch.softmax do the normalising so that tiny b stays finite",
          formula="w_mu(x) = softmax over the training images mu of -|x - a phi_mu|^2 "
                  "/ (2 b), a = sqrt(1 - b), |.| over every pixel and channel",
          hidden_cases=lambda: _weight_cases(99, HIDDEN_WEIGHT_CASES),
          mistakes=[
              Mistake("exp() then a division: exp underflows to 0 at small b and 0/0 = NaN; "
                      "use torch.softmax", _naive_weights),
              Mistake("temperature b instead of 2b in the exponent",
                      lambda x, train, noise_var: torch.softmax(
                          _logits(x, train, noise_var, temperature=noise_var), dim=1)),
              Mistake("a = 1: the training images are not scaled by sqrt(1 - b)",
                      lambda x, train, noise_var: torch.softmax(_logits(x, train, noise_var, a=1.0), dim=1)),
              Mistake("softmax over the wrong axis (dim=0, the batch, not the training images)",
                      lambda x, train, noise_var: torch.softmax(_logits(x, train, noise_var), dim=0)),
              Mistake("only the first channel is compared: use every channel (flatten(1))",
                      lambda x, train, noise_var: torch.softmax(
                          _logits(x[:, :1], train[:, :1], noise_var), dim=1)),
              Mistake("distances not squared: |x - a phi| instead of |x - a phi|^2",
                      lambda x, train, noise_var: torch.softmax(
                          _logits(x, train, noise_var, power=1), dim=1)),
          ])
def ideal_weights(x, train, noise_var):
    """(B, C, H, W) noisy, (N, C, H, W) training, float b -> (B, N) posterior weights w_mu(x)."""
    return torch.softmax(_logits(x, train, noise_var), dim=1)


def _step_cases(seed):
    gen = torch.Generator().manual_seed(3200 + seed)
    cases = []
    for b, b_prev, channels in ((0.99, 0.9, 1), (0.5, 0.3, 3), (0.05, 1e-4, 1)):
        x = torch.randn(2, channels, 4, 4, generator=gen, dtype=torch.float64)
        denoised = torch.rand(2, channels, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
        cases.append({"x": x, "denoised": denoised, "noise_var": b, "noise_var_prev": b_prev})
    return cases


def _ddim(x, denoised, noise_var, noise_var_prev, a=None, root=0.5, renoise_root=0.5, reuse_x=False):
    a = (1 - noise_var) ** 0.5 if a is None else a
    eps = x if reuse_x else (x - a * denoised) / noise_var ** root
    return (1 - noise_var_prev) ** renoise_root * denoised + noise_var_prev ** renoise_root * eps


@exercise("03.ddim_step", name="ddim_step", cases=_step_cases, points=2,
          hint="first read off the noise the denoiser believes is in x, then mix the clean "
               "estimate with that same noise at the lower noise level b_prev",
          formula="eps_hat = (x - sqrt(1 - b) * denoised) / sqrt(b); then "
                  "x_prev = sqrt(1 - b_prev) * denoised + sqrt(b_prev) * eps_hat",
          mistakes=[
              Mistake("b and b_prev swapped", lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var_prev, noise_var)),
              Mistake("eps_hat divides by b instead of sqrt(b)",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, root=1.0)),
              Mistake("a = 1 in eps_hat: subtract sqrt(1 - b) * denoised, not denoised",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, a=1.0)),
              Mistake("x itself is re-noised instead of the estimated noise eps_hat",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, reuse_x=True)),
              Mistake("no square roots when re-noising: (1 - b_prev) and b_prev weigh variances",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, renoise_root=1.0)),
          ])
def ddim_step(x, denoised, noise_var, noise_var_prev):
    """(B, C, H, W) x at noise b and its denoised estimate -> (B, C, H, W) x at noise b_prev."""
    return _ddim(x, denoised, noise_var, noise_var_prev)
