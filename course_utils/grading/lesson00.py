"""Lesson 00, the paradox: the cosine schedule, forward noising and the ideal denoiser on 2-D points."""
import math

import torch

from .. import diffusion
from .core import Mistake, exercise


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
          hint="the clean point is shrunk and the noise grown so that the total variance "
               "stays 1: the two weights are square roots whose squares add up to 1",
          formula="x = sqrt(1 - b) * x0 + sqrt(b) * eps, with b the noise variance",
          mistakes=[
              Mistake("a = 1: x0 is not shrunk by sqrt(1 - b)",
                      lambda x0, noise_var, eps: x0 + noise_var ** 0.5 * eps),
              Mistake("the noise is weighted by b instead of sqrt(b)",
                      lambda x0, noise_var, eps: (1 - noise_var) ** 0.5 * x0 + noise_var * eps),
              Mistake("x0 is weighted by 1 - b instead of sqrt(1 - b)",
                      lambda x0, noise_var, eps: (1 - noise_var) * x0 + noise_var ** 0.5 * eps),
              Mistake("no square roots: (1 - b) * x0 + b * eps mixes variances, not amplitudes",
                      lambda x0, noise_var, eps: (1 - noise_var) * x0 + noise_var * eps),
              Mistake("the weights of x0 and eps are swapped",
                      lambda x0, noise_var, eps: noise_var ** 0.5 * x0 + (1 - noise_var) ** 0.5 * eps),
          ])
def add_noise(x0, noise_var, eps):
    """(B, 2) clean points -> (B, 2) noisy points."""
    return (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps


def _denoiser_cases(seed):
    cases = []
    for offset, noise_var in enumerate((0.5, 0.05, 1e-4)):
        x, train = _points(2000 + 10 * seed + offset)
        cases.append({"x": x * 3, "train": train, "noise_var": noise_var})
    return cases


def _weights(x, train, noise_var, a=None, temperature=None, power=2, dim=1):
    a = (1 - noise_var) ** 0.5 if a is None else a
    temperature = 2 * noise_var if temperature is None else temperature
    return torch.softmax(-torch.cdist(x, a * train) ** power / temperature, dim=dim)


def _naive(x, train, noise_var):
    w = torch.exp(-torch.cdist(x, (1 - noise_var) ** 0.5 * train) ** 2 / (2 * noise_var))
    return (w / w.sum(1, keepdim=True)) @ train


@exercise("00.ideal_denoiser", name="ideal_denoiser", cases=_denoiser_cases, points=2,
          hint="a softmax over the training points of how likely each one is to have been "
               "noised into x; torch.softmax stays finite where exp() underflows at small b",
          formula="D(x) = sum over mu of w_mu phi_mu, w_mu = softmax over the "
                  "training points mu of -|x - sqrt(1 - b) phi_mu|^2 / (2 b)",
          mistakes=[
              Mistake("a = 1: the training points are not scaled by sqrt(1 - b)",
                      lambda x, train, noise_var: _weights(x, train, noise_var, a=1.0) @ train),
              Mistake("temperature b instead of 2b in the exponent",
                      lambda x, train, noise_var: _weights(x, train, noise_var,
                                                           temperature=noise_var) @ train),
              Mistake("distances not squared: |x - a phi| instead of |x - a phi|^2",
                      lambda x, train, noise_var: _weights(x, train, noise_var, power=1) @ train),
              Mistake("softmax over the wrong axis (dim=0, the batch, not the training points)",
                      lambda x, train, noise_var: _weights(x, train, noise_var, dim=0) @ train),
              Mistake("exp() then a division: exp underflows to 0 at small b and 0/0 = NaN; "
                      "use torch.softmax", _naive),
              Mistake("the average of the scaled points a * phi instead of the clean phi",
                      lambda x, train, noise_var: _weights(x, train, noise_var)
                      @ ((1 - noise_var) ** 0.5 * train)),
          ])
def ideal_denoiser(x, train, noise_var):
    """(B, 2) noisy points, (N, 2) training points -> (B, 2) E[x0 | x]."""
    a = (1 - noise_var) ** 0.5
    logits = -torch.cdist(x, a * train) ** 2 / (2 * noise_var)
    return torch.softmax(logits, dim=1) @ train


def _schedule_cases(seed):
    """Times of every shape (a single 0-d time, a row with both ends, a 2-D grid), and
    offsets of 0, the course's 0.008 and a large one that exposes the normalisation."""
    gen = torch.Generator().manual_seed(3000 + seed)
    return [{"t": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), "offset": 0.008},
            {"t": torch.rand(7, generator=gen, dtype=torch.float64), "offset": 0.008},
            {"t": torch.linspace(0, 1, 12, dtype=torch.float64).reshape(3, 4),
             "offset": 0.1 + 0.05 * seed},
            {"t": torch.rand((), generator=gen, dtype=torch.float64), "offset": 0.0}]


def _angle(t, offset, shift=True, normalise=True, reverse=False):
    """The quarter-turn angle of the schedule at times t, or one of its common misreadings."""
    t = 1 - t if reverse else t
    return (t + (offset if shift else 0.0)) / ((1 + offset) if normalise else 1.0) * math.pi / 2


@exercise("00.cosine_schedule", name="cosine_schedule", cases=_schedule_cases, points=1,
          hint="the signal amplitude sqrt(1 - b) and the noise amplitude sqrt(b) are the cosine and "
               "the sine of one angle; the angle grows in proportion to t + offset and reaches a "
               "quarter turn exactly at t = 1",
          formula="angle = (t + s) / (1 + s) * pi / 2, and b(t) = 1 - cos^2(angle) "
                  "(= sin^2(angle)), with s the offset",
          mistakes=[
              Mistake("cos instead of cos^2: 1 - cos(angle) is not a variance",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset))),
              Mistake("sqrt(b), the noise amplitude sin(angle), instead of the variance b",
                      lambda t, offset: torch.sin(_angle(t, offset))),
              Mistake("cos^2 is the signal variance 1 - b; the noise variance is 1 - cos^2",
                      lambda t, offset: torch.cos(_angle(t, offset)) ** 2),
              Mistake("no offset: with s left out, b(0) = 0 and t = 0 is exactly clean",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset, shift=False,
                                                            normalise=False)) ** 2),
              Mistake("the offset only divides (t / (1 + s)): b(0) = 0 and b(1) < 1",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset, shift=False)) ** 2),
              Mistake("(t + s) is not divided by (1 + s), so the angle passes a quarter turn and "
                      "b(1) is not exactly 1",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset, normalise=False)) ** 2),
              Mistake("t reversed: the noise must grow with t, from almost 0 at t = 0 to 1 at t = 1",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset, reverse=True)) ** 2),
              Mistake("divided by its value at t = 0 (Nichol & Dhariwal's normalisation): that "
                      "makes b(0) = 0; here t = 0 keeps the small noise the offset leaves",
                      lambda t, offset: 1 - torch.cos(_angle(t, offset)) ** 2
                      / torch.cos(_angle(torch.zeros_like(t), offset)) ** 2),
              Mistake("times pi instead of pi / 2: the angle must end at a quarter turn",
                      lambda t, offset: 1 - torch.cos(2 * _angle(t, offset)) ** 2),
          ])
def cosine_schedule(t, offset):
    """(...) times in [0, 1], float offset s -> (...) noise variances b(t) of the cosine schedule."""
    return diffusion.cosine_noise_var(t, offset)
