"""Lesson 02, morphogenesis: counting digits, a Laplacian with no-flux walls."""
import torch
import torch.nn.functional as F_nn

from .. import turing
from .core import Mistake, compare_int, exercise


def _profile_cases(seed):
    """Profiles away from 0 and skewed (so that neither 0 nor the mean is the midpoint),
    cells exactly at the midpoint, a flat profile, and digits at either end."""
    gen = torch.Generator().manual_seed(2000 + seed)
    x = torch.arange(60, dtype=torch.float64)
    period = 10 + 2 * (seed % 3)
    spikes = torch.zeros(30, dtype=torch.float64)
    spikes[[3, 11, 20 + seed % 5]] = torch.tensor([1.0, 0.3, 0.35], dtype=torch.float64)
    level = 1.0 + seed
    return [{"profile": 2 + 0.5 * torch.cos(2 * torch.pi * x / period)},
            {"profile": torch.sin(2 * torch.pi * x / 20) + 0.1 * torch.rand(60, generator=gen,
                                                                            dtype=torch.float64)},
            {"profile": spikes},
            {"profile": torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0, 0.5], dtype=torch.float64) * level},
            {"profile": torch.full((5,), level, dtype=torch.float64)},
            {"profile": torch.tensor([2.0, 0.0, 0.0, 2.0], dtype=torch.float64) * level}]


def _runs(high):
    return int(high[0]) + int((high[1:] & ~high[:-1]).sum())


@exercise("02.count_digits", name="count_digits", cases=_profile_cases, points=1,
          compare=compare_int,
          hint="threshold halfway between the lowest and the highest value (not at 0, not at the "
               "mean), strictly above it is high; count where a high run starts",
          formula="a cell is high when it is strictly above (max + min) / 2; digits = "
                  "the number of low-to-high steps, plus 1 if the first cell is high",
          hidden_cases=lambda: [{"profile": torch.full((7,), -2.0, dtype=torch.float64)},
                                {"profile": torch.tensor([1.0, 0.0] * 7, dtype=torch.float64)},
                                {"profile": torch.tensor([3.0, 1.0, 2.0, 3.0, 2.0], dtype=torch.float64)}],
          mistakes=[
              Mistake("threshold at 0 instead of the midpoint (max + min) / 2",
                      lambda profile: _runs(profile > 0)),
              Mistake("threshold at the mean instead of the midpoint (max + min) / 2",
                      lambda profile: _runs(profile > profile.mean())),
              Mistake(">= instead of >: cells exactly at the midpoint (or a flat profile) count as high",
                      lambda profile: _runs(profile >= (profile.max() + profile.min()) / 2)),
              Mistake("counts the high cells, not the runs of them",
                      lambda profile: int((profile > (profile.max() + profile.min()) / 2).sum())),
              Mistake("misses a digit that starts at the first cell",
                      lambda profile: _runs(profile > (profile.max() + profile.min()) / 2)
                      - int(profile[0] > (profile.max() + profile.min()) / 2)),
              Mistake("counts every crossing of the threshold (rises and falls), not the digits",
                      lambda profile: int(((profile > (profile.max() + profile.min()) / 2).diff() != 0)
                                          .sum())),
          ])
def count_digits(profile):
    """(W,) activator across the limb -> number of runs above the midpoint of its range."""
    return turing.count_digits(profile)


def _mask_cases(seed):
    gen = torch.Generator().manual_seed(2100 + seed)
    full = torch.ones(1, 4, 5, dtype=torch.bool)
    bud = torch.zeros(1, 6, 7, dtype=torch.bool)
    bud[:, 1:5, 2:6] = True
    bud[:, 3, 1] = True
    return [{"u": torch.randn(1, 4, 5, generator=gen, dtype=torch.float64), "mask": full},
            {"u": torch.randn(1, 6, 7, generator=gen, dtype=torch.float64), "mask": bud},
            {"u": torch.randn(2, 5, 5, generator=gen, dtype=torch.float64),
             "mask": torch.rand(2, 5, 5, generator=gen) > 0.3}]


def _neighbours(x, circular=False):
    """(B, H, W) -> (4, B, H, W) the up / down / left / right neighbour, zero (or wrapped) past the edge."""
    if circular:
        return torch.stack([x.roll(1, -2), x.roll(-1, -2), x.roll(1, -1), x.roll(-1, -1)])
    p = F_nn.pad(x[:, None], (1, 1, 1, 1))[:, 0]
    return torch.stack([p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]])


def _noflux(u, mask, circular=False, neighbour_mask=True, final_mask=True):
    inside = mask.to(u.dtype)
    weights = _neighbours(inside, circular) if neighbour_mask else torch.ones_like(_neighbours(u))
    total = (weights * (_neighbours(u, circular) - u)).sum(0)
    return total * inside if final_mask else total


@exercise("02.noflux_laplacian", name="noflux_laplacian", cases=_mask_cases, points=2,
          hint="only neighbours inside the domain exchange anything with a cell: no flux across "
               "the edge, and nothing wraps around (the limb is not a torus)",
          formula="L(u)_p = m_p * sum over the up / down / left / right neighbours n "
                  "that exist of m_n (u_n - u_p), with m the 0/1 mask; no wrap-around",
          mistakes=[
              Mistake("torch.roll (circular) instead of zero padding: the domain wraps around",
                      lambda u, mask: _noflux(u, mask, circular=True)),
              Mistake("not multiplied by the mask at the end: cells outside the domain change",
                      lambda u, mask: _noflux(u, mask, final_mask=False)),
              Mistake("the neighbour's mask is ignored: flux leaks across the domain's edge",
                      lambda u, mask: _noflux(u, mask, neighbour_mask=False)),
              Mistake("-4 * centre always: the centre counts only the neighbours inside",
                      lambda u, mask: ((_neighbours(mask.to(u.dtype)) * _neighbours(u)).sum(0)
                                       - 4 * u) * mask.to(u.dtype)),
              Mistake("u is zeroed outside the domain (a cold wall), not sealed off",
                      lambda u, mask: _noflux(u * mask.to(u.dtype), torch.ones_like(mask))
                      * mask.to(u.dtype)),
          ])
def noflux_laplacian(u, mask):
    """(B, H, W) field, (B, H, W) bool domain -> (B, H, W) Laplacian with no flux across the domain's edge."""
    return turing.noflux_laplacian(u, mask)
