"""Lesson 02, morphogenesis: counting digits, a Laplacian with no-flux walls."""
import torch

from .. import turing
from .core import exercise


def _profile_cases(seed):
    gen = torch.Generator().manual_seed(2000 + seed)
    x = torch.arange(60, dtype=torch.float64)
    return [{"profile": torch.cos(2 * torch.pi * x / 12)},                       # 5 whole + 1 edge
            {"profile": torch.sin(2 * torch.pi * x / 20) + 0.1 * torch.rand(60, generator=gen,
                                                                            dtype=torch.float64)},
            {"profile": torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)},
            {"profile": torch.tensor([2.0, 0.0, 0.0, 2.0], dtype=torch.float64)}]


@exercise("02.count_digits", name="count_digits", cases=_profile_cases, points=1,
          hint="threshold at (max + min) / 2; a digit starts where a high cell follows a low one, "
               "and the first cell starts one if it is already high",
          hidden_cases=lambda: [{"profile": torch.ones(5, dtype=torch.float64)},
                                {"profile": torch.tensor([1.0, 0.0] * 7, dtype=torch.float64)}])
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


@exercise("02.noflux_laplacian", name="noflux_laplacian", cases=_mask_cases, points=2,
          hint="for each of the 4 directions: shift u and mask with zero padding (not roll: the "
               "limb does not wrap), add mask_n * (u_n - u); finally multiply by the mask")
def noflux_laplacian(u, mask):
    """(B, H, W) field, (B, H, W) bool domain -> (B, H, W) Laplacian with no flux across the domain's edge."""
    return turing.noflux_laplacian(u, mask)
