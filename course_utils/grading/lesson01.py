"""Lesson 01, local rules: the periodic Laplacian, one Gray-Scott step, the dispersion relation."""
import torch

from .. import turing
from .core import exercise


def _field_cases(seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    return [{"u": torch.randn(1, 4, 4, generator=gen, dtype=torch.float64)},
            {"u": torch.randn(2, 5, 7, generator=gen, dtype=torch.float64)},
            {"u": torch.rand(3, 8, 3, generator=gen, dtype=torch.float64)}]


@exercise("01.laplacian", name="laplacian", cases=_field_cases, points=1,
          hint="each cell: up + down + left + right - 4 * centre; torch.roll(u, 1, dims=-2) "
               "shifts every row down by one and wraps the last row to the top",
          hidden_cases=lambda: [{"u": torch.arange(12.0, dtype=torch.float64).reshape(1, 3, 4)},
                                {"u": torch.randn(1, 1, 5, dtype=torch.float64)}])
def laplacian(u):
    """(B, H, W) -> (B, H, W) periodic 5-point Laplacian."""
    return (torch.roll(u, 1, -2) + torch.roll(u, -1, -2) + torch.roll(u, 1, -1)
            + torch.roll(u, -1, -1) - 4 * u)


def _step_cases(seed):
    gen = torch.Generator().manual_seed(1100 + seed)
    cases = []
    for F, k, dt in ((0.030, 0.062, 1.0), (0.055, 0.062, 0.5), (0.0367, 0.0649, 1.2)):
        u = 1 - 0.5 * torch.rand(2, 6, 5, generator=gen, dtype=torch.float64)
        v = 0.4 * torch.rand(2, 6, 5, generator=gen, dtype=torch.float64)
        cases.append({"u": u, "v": v, "F": F, "k": k, "dt": dt})
    return cases


@exercise("01.gray_scott_step", name="gray_scott_step", cases=_step_cases, points=2,
          hint="uvv = u * v * v; u + dt * (Du * laplacian(u) - uvv + F * (1 - u)); "
               "v + dt * (Dv * laplacian(v) + uvv - (F + k) * v); compute both from the OLD u, v")
def gray_scott_step(u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV):
    """(B, H, W) u, v -> (B, H, W) u, v after one explicit Euler step of Gray-Scott."""
    uvv = u * v * v
    return (u + dt * (Du * turing.laplacian(u) - uvv + F * (1 - u)),
            v + dt * (Dv * turing.laplacian(v) + uvv - (F + k) * v))


def _dispersion_cases(seed):
    gen = torch.Generator().manual_seed(1200 + seed)
    q2 = torch.linspace(0, 1.5, 31, dtype=torch.float64)
    cases = [{"q2": q2, "jac": turing.schnakenberg_jacobian(0.1, 0.9, 0.06), "Du": 0.05, "Dv": 1.0}]
    # complex eigenvalues at small q for this one: only the real part counts
    cases.append({"q2": q2, "jac": torch.tensor([[0.5, 1.0], [-2.0, -1.0]], dtype=torch.float64),
                  "Du": 0.02, "Dv": 0.5})
    jac = torch.randn(2, 2, generator=gen, dtype=torch.float64)
    cases.append({"q2": q2, "jac": jac, "Du": 0.3, "Dv": 0.1})
    return cases


@exercise("01.growth_rate", name="growth_rate", cases=_dispersion_cases, points=2,
          hint="for A = J - q^2 diag(Du, Dv): the eigenvalues are (tr A +- sqrt(tr^2 - 4 det A)) / 2; "
               "when tr^2 - 4 det < 0 they are complex and their real part is tr / 2")
def growth_rate(q2, jac, Du, Dv):
    """(Q,) squared wavenumbers, (2, 2) Jacobian -> (Q,) largest real part of the eigenvalues of J - q^2 diag(Du, Dv)."""
    return turing.growth_rate(q2, jac, Du, Dv)
