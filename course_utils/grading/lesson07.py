"""Lesson 07, theory meets practice: the agreement metric and the calibration of k(t)."""
import torch

from .core import exercise


def _r_cases(seed):
    gen = torch.Generator().manual_seed(700 + seed)
    a = torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    b = 0.7 * a + torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64) + 3.0
    c = torch.randn(3, 3, 4, 4, generator=gen, dtype=torch.float64)
    return [{"a": a, "b": b}, {"a": c, "b": -2 * c + 1}, {"a": c, "b": c.flip(0)}]


@exercise("07.pearson_r", name="pearson_r", cases=_r_cases, points=2,
          hint="per sample: subtract its one mean (over all pixels and channels), then "
               "r = <a, b> / (|a| |b|); flatten each sample with .flatten(1)")
def pearson_r(a, b):
    """(B, ...) and (B, ...) images -> (B,) Pearson r of each pair over all its pixels and channels."""
    a, b = a.flatten(1), b.flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def _k_cases(seed):
    gen = torch.Generator().manual_seed(710 + seed)
    cases = []
    for steps, seeds in ((4, 5), (6, 3), (3, 1)):
        cases.append({"similarity": torch.rand(steps, 4, seeds, generator=gen, dtype=torch.float64),
                      "ks": [3, 5, 7, 9]})
    return cases


@exercise("07.calibrated_schedule", name="calibrated_schedule", cases=_k_cases, points=2,
          hint="best k per (step, seed): ks[similarity.argmax(dim=1)]; then per step the median "
               "over seeds; torch.median returns the lower middle value for an even count")
def calibrated_schedule(similarity, ks):
    """(steps, K, S) cosine similarities for patch sizes ``ks`` -> (steps,) int64 median best k."""
    best = torch.as_tensor(ks)[similarity.argmax(dim=1)]
    return best.median(dim=1).values
