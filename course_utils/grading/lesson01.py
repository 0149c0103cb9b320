"""Lesson 01, local rules: the periodic Laplacian, one Gray-Scott step, the dispersion relation."""
import torch
import torch.nn.functional as F_nn

from .. import turing
from .core import Mistake, compare_parts, exercise


def _field_cases(seed, shapes=((1, 4, 4), (2, 5, 7), (3, 8, 3), (1, 1, 5), (2, 3, 2))):
    """Grids of several shapes, the last two with a side of 1 or 2, where wrapping folds onto itself."""
    gen = torch.Generator().manual_seed(1000 + seed)
    return [{"u": torch.randn(*shape, generator=gen, dtype=torch.float64)} for shape in shapes]


def _zero_padded(u):
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=u.dtype)
    return F_nn.conv2d(u[:, None], kernel[None, None], padding=1)[:, 0]


def _eight_neighbours(u):
    rolled = sum(torch.roll(u, (i, j), (-2, -1)) for i in (-1, 0, 1) for j in (-1, 0, 1))
    return rolled - 9 * u


@exercise("01.laplacian", name="laplacian", cases=_field_cases, points=1,
          hint="each cell: its four neighbours (up, down, left, right) minus 4 times itself, "
               "with the grid wrapping around at its edges",
          formula="lap(u)[i, j] = u[i-1, j] + u[i+1, j] + u[i, j-1] + u[i, j+1] - 4 "
                  "u[i, j], rows taken modulo H and columns modulo W",
          hidden_cases=lambda: _field_cases(99, shapes=((2, 6, 6), (1, 1, 4), (1, 2, 5))),
          mistakes=[
              Mistake("zero padding at the edges: the grid must wrap around (periodic)", _zero_padded),
              Mistake("-2 * centre instead of -4 * centre",
                      lambda u: turing.laplacian(u) + 2 * u),
              Mistake("only two neighbours, along one axis (left and right)",
                      lambda u: torch.roll(u, 1, -1) + torch.roll(u, -1, -1) - 4 * u),
              Mistake("only two neighbours, along one axis (up and down)",
                      lambda u: torch.roll(u, 1, -2) + torch.roll(u, -1, -2) - 4 * u),
              Mistake("the eight neighbours (diagonals included) instead of four", _eight_neighbours),
              Mistake("the sign is flipped: 4 * centre minus the neighbours",
                      lambda u: -turing.laplacian(u)),
              Mistake("rolled along the batch axis (dims 0 and -1) instead of the two grid axes",
                      lambda u: (torch.roll(u, 1, 0) + torch.roll(u, -1, 0) + torch.roll(u, 1, -1)
                                 + torch.roll(u, -1, -1) - 4 * u)),
          ])
def laplacian(u):
    """(B, H, W) -> (B, H, W) periodic 5-point Laplacian."""
    return (torch.roll(u, 1, -2) + torch.roll(u, -1, -2) + torch.roll(u, 1, -1)
            + torch.roll(u, -1, -1) - 4 * u)


def _step_cases(seed):
    """Two cases at the default diffusion constants, two with other Du, Dv passed in."""
    gen = torch.Generator().manual_seed(1100 + seed)
    cases = []
    settings = ((0.030, 0.062, 1.0, {}), (0.055, 0.062, 0.5, {}),
                (0.0367, 0.0649, 1.2, {"Du": 0.2, "Dv": 0.05}),
                (0.04, 0.06, 0.8, {"Du": 0.1 + 0.01 * seed, "Dv": 0.12}))
    for F, k, dt, diffusion in settings:
        u = 1 - 0.5 * torch.rand(2, 6, 5, generator=gen, dtype=torch.float64)
        v = 0.4 * torch.rand(2, 6, 5, generator=gen, dtype=torch.float64)
        cases.append({"u": u, "v": v, "F": F, "k": k, "dt": dt, **diffusion})
    return cases


def _gs(u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV, order="uv", feed=None, kill=None,
        reaction_sign=1.0, time_step=None):
    feed = F if feed is None else feed
    kill = F + k if kill is None else kill
    dt = dt if time_step is None else time_step
    uvv = u * v * v
    new_u = u + dt * (Du * turing.laplacian(u) - reaction_sign * uvv + feed * (1 - u))
    u_for_v = new_u if order == "u first" else u
    uvv_v = u_for_v * v * v
    new_v = v + dt * (Dv * turing.laplacian(v) + reaction_sign * uvv_v - kill * v)
    return new_u, new_v


@exercise("01.gray_scott_step", name="gray_scott_step", cases=_step_cases, points=2,
          compare=compare_parts("u", "v"),
          hint="new value = old value + dt * (rate of change); both rates use the OLD u and v, "
               "and the diffusion constants are the parameters Du, Dv the function receives",
          formula="u' = u + dt (Du lap(u) - u v^2 + F (1 - u)), v' = v + dt (Dv "
                  "lap(v) + u v^2 - (F + k) v), both right-hand sides from the old u "
                  "and v",
          mistakes=[
              Mistake("the diffusion constants are hard-coded: use the Du, Dv the function receives",
                      lambda u, v, F, k, dt, Du=None, Dv=None: _gs(u, v, F, k, dt)),
              Mistake("u updated before v: v's step uses the new u, not the old one",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv, order="u first")),
              Mistake("feed and kill swapped: u is fed at F + k and v removed at F",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv, feed=F + k, kill=F)),
              Mistake("v removed at rate k instead of F + k",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv, kill=k)),
              Mistake("the reaction's sign is flipped (u gains u v^2, v loses it)",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv, reaction_sign=-1.0)),
              Mistake("dt is missing: the rates are added without multiplying by dt",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv, time_step=1.0)),
              Mistake("Du and Dv swapped",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Dv, Du)),
              Mistake("u and v returned in the wrong order",
                      lambda u, v, F, k, dt, Du=turing.GS_DU, Dv=turing.GS_DV:
                      _gs(u, v, F, k, dt, Du, Dv)[::-1]),
          ])
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


def _trace_det(q2, jac, Du, Dv, sign=-1.0):
    a11, a22 = jac[0, 0] + sign * Du * q2, jac[1, 1] + sign * Dv * q2
    return a11 + a22, a11 * a22 - jac[0, 1] * jac[1, 0]


def _root(q2, jac, Du, Dv, sign=-1.0, branch=1.0, clamp=True):
    tr, det = _trace_det(q2, jac, Du, Dv, sign)
    disc = tr * tr - 4 * det
    return 0.5 * (tr + branch * torch.sqrt(disc.clamp_min(0) if clamp else disc))


def _modulus(q2, jac, Du, Dv):
    tr, det = _trace_det(q2, jac, Du, Dv)
    root = torch.sqrt((tr * tr - 4 * det).to(torch.complex128))
    return torch.maximum((0.5 * (tr + root)).abs(), (0.5 * (tr - root)).abs())


@exercise("01.growth_rate", name="growth_rate", cases=_dispersion_cases, points=2,
          hint="build A = J - q^2 diag(Du, Dv) for each q^2 and take the larger real part of its "
               "two eigenvalues; when they are complex both share the same real part",
          formula="eigenvalues (tr A +- sqrt(tr^2 - 4 det A)) / 2; when tr^2 - 4 det < 0 the "
                  "real part is tr / 2 (clamp the discriminant at 0)",
          mistakes=[
              Mistake("sqrt of a negative discriminant gives NaN: where it is < 0 the real part is "
                      "tr / 2 (clamp it at 0)",
                      lambda q2, jac, Du, Dv: _root(q2, jac, Du, Dv, clamp=False)),
              Mistake("q^2 diag(Du, Dv) added to J instead of subtracted",
                      lambda q2, jac, Du, Dv: _root(q2, jac, Du, Dv, sign=1.0)),
              Mistake("the smaller eigenvalue (tr - sqrt) instead of the larger",
                      lambda q2, jac, Du, Dv: _root(q2, jac, Du, Dv, branch=-1.0)),
              Mistake("Du and Dv swapped", lambda q2, jac, Du, Dv: _root(q2, jac, Dv, Du)),
              Mistake("the largest modulus |lambda| instead of the largest real part", _modulus),
              Mistake("q instead of q^2: q2 is already squared, do not take its square root",
                      lambda q2, jac, Du, Dv: _root(q2.sqrt(), jac, Du, Dv)),
          ])
def growth_rate(q2, jac, Du, Dv):
    """(Q,) squared wavenumbers, (2, 2) Jacobian -> (Q,) largest real part of the eigenvalues of J - q^2 diag(Du, Dv)."""
    return turing.growth_rate(q2, jac, Du, Dv)


def _ratio_cases(seed):
    """A depletion model (Schnakenberg: f_v > 0 > g_u) at two rates gamma, which must not
    change the ratio, and an activator-inhibitor one (f_v < 0 < g_u)."""
    gen = torch.Generator().manual_seed(1300 + seed)
    a, b = 0.1 + 0.02 * seed, 0.9 - 0.05 * seed
    fu, cross = 0.5 + 0.2 * torch.rand((), generator=gen).item(), 1.0 + torch.rand((), generator=gen).item()
    return [{"jac": turing.schnakenberg_jacobian(a, b, 0.06)},
            {"jac": turing.schnakenberg_jacobian(a, b, 1.0 + seed)},
            {"jac": torch.tensor([[fu, -cross], [cross, -1.0]], dtype=torch.float64)}]


def _ratio_roots(jac, factor=4.0, sign=1.0):
    """Roots of f_u^2 d^2 + (2 f_u g_v - factor det J) d + g_v^2 = 0, the larger (sign 1) or smaller."""
    (fu, fv), (gu, gv) = jac.tolist()
    det = fu * gv - fv * gu
    b = 2 * fu * gv - factor * det
    return (-b + sign * (b * b - 4 * fu * fu * gv * gv) ** 0.5) / (2 * fu * fu)


@exercise("01.critical_ratio", name="critical_ratio", cases=_ratio_cases, points=2,
          hint="divide Turing's condition by D_u so that only d = D_v / D_u is left; at the critical "
               "ratio it holds with equality. Squaring it gives a quadratic in d with two roots: "
               "only one of them has d f_u + g_v > 0",
          formula="(d f_u + g_v)^2 = 4 d det J, i.e. f_u^2 d^2 + (2 f_u g_v - 4 det J) d + "
                  "g_v^2 = 0; d_c is its larger root",
          mistakes=[
              Mistake("the smaller root of the quadratic: there d f_u + g_v < 0, a root that squaring "
                      "added", lambda jac: _ratio_roots(jac, sign=-1.0)),
              Mistake("only the first condition, d f_u + g_v > 0 (d > -g_v / f_u): necessary, not "
                      "enough; the right side 2 sqrt(d det J) is missing",
                      lambda jac: -jac[1, 1].item() / jac[0, 0].item()),
              Mistake("the factor 4 is missing: squaring 2 sqrt(d det J) gives 4 d det J",
                      lambda jac: _ratio_roots(jac, factor=1.0)),
              Mistake("D_u / D_v instead of D_v / D_u: the fast species is the second one",
                      lambda jac: 1 / turing.critical_ratio(jac)),
              Mistake("the square root of d_c: the condition was solved for sqrt(d), not for d",
                      lambda jac: turing.critical_ratio(jac) ** 0.5),
          ])
def critical_ratio(jac):
    """(2, 2) Jacobian, f_u > 0 > g_v -> float, the smallest D_v / D_u at which diffusion destabilises the state."""
    return turing.critical_ratio(jac)
