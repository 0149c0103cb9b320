"""Lesson 00, the paradox: forward noising and the ideal denoiser on 2-D points."""
import torch

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
