"""Reaction-diffusion on a grid: Gray-Scott patterns, Turing's instability, digits of a limb.

Fields are torch tensors of shape (B, H, W) (a batch of independent grids, grid
spacing 1); parameters such as F and k are floats or (B,) tensors, one value per grid,
so a whole phase diagram runs as one batch. Time stepping is explicit Euler, which
is only stable for dt <= dx^2 / (4 D_max): ``check_dt`` refuses anything larger.

Gray-Scott (lesson 01):   u' = Du lap(u) - u v^2 + F (1 - u)
                          v' = Dv lap(v) + u v^2 - (F + k) v
Schnakenberg (01 and 02): u' = Du lap(u) + g (a - u + u^2 v)
                          v' = Dv lap(v) + g (b - u^2 v)
u is the activator of Schnakenberg (its peaks are the digits of lesson 02).
"""
import math
from contextlib import contextmanager
from functools import lru_cache

import torch
import torch.nn.functional as F_nn

from .hands import label_components

GS_DU, GS_DV, GS_DT = 0.16, 0.08, 1.0
SIM_THREADS = 1  # torch threads for the simulation loops (see _sim_threads)
# Pearson-type regimes of the (F, k) plane for Du, Dv = 0.16, 0.08 (dt = 1), chosen so that
# their end states differ: isolated spots, connected stripes, holes in a sea of v, worms.
PRESETS = {
    "spots": (0.030, 0.062),
    "stripes": (0.055, 0.062),
    "holes": (0.039, 0.058),
    "worms": (0.058, 0.065),
}
# Schnakenberg kinetics whose fastest-growing wavelength is ~12 grid cells.
SCHNAKENBERG = {"a": 0.1, "b": 0.9, "Du": 0.05, "Dv": 1.0, "gamma": 0.06}


# ---------------------------------------------------------------- finite differences
def laplacian(u):
    """(..., H, W) -> (..., H, W) periodic 5-point Laplacian (grid spacing 1)."""
    return (torch.roll(u, 1, -2) + torch.roll(u, -1, -2) + torch.roll(u, 1, -1)
            + torch.roll(u, -1, -1) - 4 * u)


def inside_neighbours(mask):
    """(B, H, W) bool domain -> (4, B, H, W) float64: 1 where the neighbour above / below / left / right lies inside."""
    m = F_nn.pad(mask.to(torch.float64)[:, None], (1, 1, 1, 1))[:, 0]
    return torch.stack([m[:, :-2, 1:-1], m[:, 2:, 1:-1], m[:, 1:-1, :-2], m[:, 1:-1, 2:]])


def noflux_laplacian(u, mask):
    """(B, H, W) field, (B, H, W) bool domain -> (B, H, W): 5-point Laplacian, zero flux across the domain's edge.

    Only neighbours inside the domain count: sum over them of (u_n - u); 0 outside.
    """
    nb = inside_neighbours(mask).to(u.dtype)
    p = F_nn.pad(u[:, None], (1, 1, 1, 1))[:, 0]
    shifted = torch.stack([p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]])
    return ((nb * (shifted - u)).sum(0)) * mask.to(u.dtype)


def max_stable_dt(diffusion, dx=1.0):
    """Largest explicit-Euler step for the 2-D 5-point Laplacian: dx^2 / (4 D)."""
    return dx * dx / (4 * diffusion)


def check_dt(dt, diffusions, dx=1.0):
    """Raise ValueError unless explicit Euler with step ``dt`` is stable for every diffusion constant."""
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number, not {dt!r}")
    d_max = max(float(d) for d in diffusions)
    if d_max < 0:
        raise ValueError(f"diffusion constants must be >= 0, got {tuple(diffusions)}")
    if d_max > 0 and dt > max_stable_dt(d_max, dx):
        limit = max_stable_dt(d_max, dx)
        raise ValueError(
            f"dt={dt:g} is unstable: explicit Euler with diffusion {d_max:g} on a grid of spacing "
            f"{dx:g} needs dt <= dx^2 / (4 D) = {limit:.4g}. Use dt <= {limit:.4g} and "
            f"proportionally more steps (or a smaller diffusion constant).")


def _per_grid(value, like, name, dtype=None):
    """float or (B,) -> float or (B, 1, 1) tensor (``dtype``, default like's) broadcasting against (B, H, W) ``like``."""
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, not {value!r}")
        return float(value)
    value = torch.as_tensor(value, dtype=dtype or like.dtype)
    if value.ndim == 0:
        return float(value)
    if value.shape != like.shape[:1]:
        raise ValueError(f"{name} has shape {tuple(value.shape)}; pass a float or a "
                         f"({like.shape[0]},) tensor, one value per grid")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf")
    return value.reshape(-1, 1, 1)


def _check_fields(u, v, steps):
    if not (isinstance(u, torch.Tensor) and isinstance(v, torch.Tensor)):
        raise ValueError("u and v must be torch tensors of shape (B, H, W); "
                         "use torch.as_tensor(array) first")
    if u.ndim != 3 or u.shape != v.shape:
        raise ValueError(f"u and v must both have shape (B, H, W); got {tuple(u.shape)} and "
                         f"{tuple(v.shape)} (add a batch axis with u[None])")
    if not u.is_floating_point() or u.dtype != v.dtype:
        raise ValueError(f"u and v must share a floating dtype; got {u.dtype} and {v.dtype}")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, not {steps!r}")


@contextmanager
def _sim_threads():
    """Run the stepping loops on SIM_THREADS threads (default 1): each step is ~20 small
    memory-bound ops, and handing each op to a second thread costs more than it saves
    (benchmarks/bench_turing.py measures both); on a busy shared machine a waiting second
    thread stalls every op."""
    previous = torch.get_num_threads()
    torch.set_num_threads(SIM_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _laplacian_into(x, pad, out, scratch):
    """Periodic Laplacian of (B, H, W) ``x`` into ``out`` via the (B, H+2, W+2) buffer ``pad``.

    The simulation loops allocate nothing; they use plain add/mul only, because fused
    multiply-adds (``alpha=``) round differently in vectorised and scalar code and the
    result would then depend on the grid size.
    """
    pad[:, 1:-1, 1:-1] = x
    pad[:, 0, 1:-1] = x[:, -1]
    pad[:, -1, 1:-1] = x[:, 0]
    pad[:, 1:-1, 0] = x[:, :, -1]
    pad[:, 1:-1, -1] = x[:, :, 0]
    torch.add(pad[:, :-2, 1:-1], pad[:, 2:, 1:-1], out=out)
    out.add_(pad[:, 1:-1, :-2]).add_(pad[:, 1:-1, 2:])
    out.sub_(torch.mul(x, 4.0, out=scratch))
    return out


def gray_scott(u, v, F, k, steps, Du=GS_DU, Dv=GS_DV, dt=GS_DT):
    """(B, H, W) u, v -> (B, H, W) u, v after ``steps`` explicit Euler steps of Gray-Scott (periodic).

    F, k: floats or (B,) tensors. The inputs are not modified.
    """
    _check_fields(u, v, steps)
    check_dt(dt, (Du, Dv))
    # constants derived in float64, then rounded once: a (B,) F gives each grid exactly
    # the numbers a float F would (results must not depend on the batch)
    feed, kill = _per_grid(F, u, "F", torch.float64), _per_grid(k, u, "k", torch.float64)
    state = torch.stack([u, v])  # (2, B, H, W): both Laplacians in one pass
    b, h, w = u.shape
    pad = state.new_empty(2, b, h + 2, w + 2)
    step, uvv, scratch = torch.empty_like(state), torch.empty_like(u), torch.empty_like(u)
    diffusion = torch.tensor([Du * dt, Dv * dt], dtype=u.dtype).reshape(2, 1, 1, 1)
    # the -4 D x of each Laplacian is folded into the linear decay terms:
    # du = Du * (neighbours) - u v^2 - (4 Du + F) u + F,  dv = Dv * (neighbours) + u v^2 - (4 Dv + F + k) v
    decay_u, decay_v, feed_dt = (_rounded(x, u.dtype) for x in (
        -(4 * Du + feed) * dt, -(4 * Dv + feed + kill) * dt, feed * dt))
    su, sv, du, dv = state[0], state[1], step[0], step[1]
    with _sim_threads():
        for _ in range(steps):
            pad[:, :, 1:-1, 1:-1] = state
            pad[:, :, 0, 1:-1] = state[:, :, -1]
            pad[:, :, -1, 1:-1] = state[:, :, 0]
            pad[:, :, 1:-1, 0] = state[:, :, :, -1]
            pad[:, :, 1:-1, -1] = state[:, :, :, 0]
            # plain add/mul only (see _laplacian_into): bitwise the same for any batch
            torch.add(pad[:, :, :-2, 1:-1], pad[:, :, 2:, 1:-1], out=step)
            step.add_(pad[:, :, 1:-1, :-2]).add_(pad[:, :, 1:-1, 2:]).mul_(diffusion)
            torch.mul(sv, sv, out=uvv).mul_(su).mul_(dt)
            du.sub_(uvv).add_(torch.mul(su, decay_u, out=scratch)).add_(feed_dt)
            dv.add_(uvv).add_(torch.mul(sv, decay_v, out=scratch))
            state.add_(step)
    return state[0].clone(), state[1].clone()


def _rounded(value, dtype):
    """A float stays a float (torch rounds it per op); a float64 tensor is rounded to ``dtype``."""
    return value.to(dtype) if isinstance(value, torch.Tensor) else value


def gray_scott_seed(batch, size, seed=0, patches=6, patch=8, dtype=torch.float32):
    """-> (B, H, W) u, v: u = 1, v = 0 but for square patches (u = 0.5, v = 0.25) and 1 % noise.

    Grid i depends only on (seed, i), never on ``batch``; ``size`` is an int or (H, W).
    """
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if batch < 1 or min(h, w) < patch or patches < 0:
        raise ValueError(f"need batch >= 1 and a grid of at least {patch}x{patch} cells; "
                         f"got batch={batch}, size={(h, w)}")
    u = torch.ones(batch, h, w, dtype=torch.float64)
    v = torch.zeros(batch, h, w, dtype=torch.float64)
    for i in range(batch):
        gen = torch.Generator().manual_seed(seed * 100_003 + i)
        for _ in range(patches):
            r = int(torch.randint(0, h, (1,), generator=gen))
            c = int(torch.randint(0, w, (1,), generator=gen))
            rows, cols = torch.arange(r, r + patch) % h, torch.arange(c, c + patch) % w
            u[i, rows[:, None], cols] = 0.5
            v[i, rows[:, None], cols] = 0.25
        u[i] += 0.01 * torch.randn(h, w, generator=gen, dtype=torch.float64)
        v[i] += 0.01 * torch.randn(h, w, generator=gen, dtype=torch.float64)
    return u.to(dtype), v.clamp_min(0).to(dtype)


# ---------------------------------------------------------------- Turing's instability
def schnakenberg_steady_state(a, b):
    """The uniform state (u*, v*) = (a + b, b / (a + b)^2) where both reactions balance."""
    return a + b, b / (a + b) ** 2


def schnakenberg_jacobian(a, b, gamma=1.0):
    """-> (2, 2) float64 Jacobian of the Schnakenberg kinetics at the uniform state."""
    u, v = schnakenberg_steady_state(a, b)
    return gamma * torch.tensor([[-1 + 2 * u * v, u * u],
                                 [-2 * u * v, -u * u]], dtype=torch.float64)


def growth_rate(q2, jac, Du, Dv):
    """(Q,) squared wavenumbers -> (Q,) growth rate: largest real part of the eigenvalues of J - q^2 diag(Du, Dv)."""
    q2 = torch.as_tensor(q2, dtype=torch.float64)
    a11, a22 = jac[0, 0] - Du * q2, jac[1, 1] - Dv * q2
    trace, det = a11 + a22, a11 * a22 - jac[0, 1] * jac[1, 0]
    # complex eigenvalues (negative discriminant) share the real part trace / 2
    return 0.5 * (trace + torch.sqrt((trace * trace - 4 * det).clamp_min(0)))


def fastest_mode(jac, Du, Dv, q_max=math.pi):
    """-> (wavenumber q, growth rate) of the fastest-growing mode on (0, q_max], to 1e-6 in q."""
    lo, hi = 0.0, q_max
    for _ in range(4):  # zoom in on the maximum of a fine scan
        q = torch.linspace(lo, hi, 2001, dtype=torch.float64)
        rate = growth_rate(q * q, jac, Du, Dv)
        i = int(torch.argmax(rate))
        step = (hi - lo) / 2000
        lo, hi = max(float(q[i]) - step, 0.0), float(q[i]) + step
    return float(q[i]), float(rate[i])


def critical_ratio(jac):
    """(2, 2) Jacobian with f_u > 0 > g_v, stable without diffusion -> the smallest D_v / D_u that destabilises it.

    Turing's condition D_v f_u + D_u g_v > 2 sqrt(D_u D_v det J), divided by D_u, holds for
    d = D_v / D_u above the larger root of (d f_u + g_v)^2 = 4 d det J, which is
    ((sqrt(det J) + sqrt(-f_v g_u)) / f_u)^2.
    """
    (fu, fv), (gu, gv) = jac.tolist()
    det = fu * gv - fv * gu
    if not (fu + gv < 0 and det > 0):
        raise ValueError("the uniform state must be stable without diffusion (tr J < 0, det J > 0); "
                         f"got tr = {fu + gv:.3g}, det = {det:.3g}")
    if not fu > 0 > gv:
        raise ValueError("need a self-enhancing first species and a self-limiting second one "
                         f"(f_u > 0 > g_v); got f_u = {fu:.3g}, g_v = {gv:.3g}")
    return ((det ** 0.5 + (-fv * gu) ** 0.5) / fu) ** 2


def turing_unstable(jac, Du, Dv):
    """Whether the uniform state is stable without diffusion but some wavenumber grows with it."""
    trace, det = float(jac[0, 0] + jac[1, 1]), float(torch.linalg.det(jac))
    _, rate = fastest_mode(jac, Du, Dv)
    return trace < 0 and det > 0 and rate > 0


def schnakenberg(u, v, steps, a=SCHNAKENBERG["a"], b=SCHNAKENBERG["b"], Du=SCHNAKENBERG["Du"],
                 Dv=SCHNAKENBERG["Dv"], gamma=SCHNAKENBERG["gamma"], dt=0.2, mask=None):
    """(B, H, W) u, v -> (B, H, W) u, v after ``steps`` Euler steps; periodic, or no-flux inside a (B, H, W) bool ``mask``.

    a, b, Du, Dv, gamma: floats or (B,) tensors. Outside ``mask`` the fields keep their values.
    """
    _check_fields(u, v, steps)
    Du_max = float(torch.as_tensor(Du).max())
    Dv_max = float(torch.as_tensor(Dv).max())
    check_dt(dt, (Du_max, Dv_max))
    a, b = _per_grid(a, u, "a"), _per_grid(b, u, "b")
    Du, Dv, gamma = _per_grid(Du, u, "Du"), _per_grid(Dv, u, "Dv"), _per_grid(gamma, u, "gamma")
    u, v = u.clone(), v.clone()
    if mask is not None:
        if mask.shape != u.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape {tuple(u.shape)}, got "
                             f"{mask.dtype} {tuple(mask.shape)}")
    pad = u.new_empty(u.shape[0], u.shape[1] + 2, u.shape[2] + 2)
    lu, lv, uuv, tmp = (torch.empty_like(u) for _ in range(4))
    with _sim_threads():
        _schnakenberg_loop(u, v, steps, a, b, Du, Dv, gamma, dt, mask, pad, lu, lv, uuv, tmp)
    return u, v


def _schnakenberg_loop(u, v, steps, a, b, Du, Dv, gamma, dt, mask, pad, lu, lv, uuv, tmp):
    """Advance (B, H, W) u, v in place; the buffers are scratch of the same shape (``pad``: +2 each side)."""
    if mask is not None:
        inside = mask.to(u.dtype)
        weights = inside_neighbours(mask).to(u.dtype)
        centre = weights.sum(0).neg()
        pad.zero_()  # its border is never written again, and 0 * garbage could be NaN
    for _ in range(steps):
        if mask is None:
            _laplacian_into(u, pad, lu, tmp)
            _laplacian_into(v, pad, lv, tmp)
        else:
            _noflux_into(u, pad, weights, centre, lu, tmp)
            _noflux_into(v, pad, weights, centre, lv, tmp)
        torch.mul(u, u, out=uuv).mul_(v)
        # du = Du lap(u) + gamma (a - u + u^2 v)
        torch.sub(uuv, u, out=tmp).add_(a).mul_(gamma)
        lu.mul_(Du).add_(tmp).mul_(dt)
        # dv = Dv lap(v) + gamma (b - u^2 v)
        torch.neg(uuv, out=tmp).add_(b).mul_(gamma)
        lv.mul_(Dv).add_(tmp).mul_(dt)
        if mask is not None:
            lu.mul_(inside)
            lv.mul_(inside)
        u.add_(lu)
        v.add_(lv)


def _noflux_into(x, pad, weights, centre, out, scratch):
    """No-flux Laplacian of (B, H, W) ``x``: (4, B, H, W) neighbour ``weights``, ``centre`` = -their sum."""
    pad[:, 1:-1, 1:-1] = x
    torch.mul(pad[:, :-2, 1:-1], weights[0], out=out)
    out.add_(torch.mul(pad[:, 2:, 1:-1], weights[1], out=scratch))
    out.add_(torch.mul(pad[:, 1:-1, :-2], weights[2], out=scratch))
    out.add_(torch.mul(pad[:, 1:-1, 2:], weights[3], out=scratch))
    out.add_(torch.mul(x, centre, out=scratch))
    return out


def turing_seed(batch, size, seed=0, noise=0.01, a=SCHNAKENBERG["a"], b=SCHNAKENBERG["b"],
                dtype=torch.float32):
    """-> (B, H, W) u, v: the uniform Schnakenberg state plus ``noise`` (relative); grid i depends on (seed, i) only."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    u0, v0 = schnakenberg_steady_state(a, b)
    u = torch.empty(batch, h, w, dtype=torch.float64)
    v = torch.empty(batch, h, w, dtype=torch.float64)
    for i in range(batch):
        gen = torch.Generator().manual_seed(seed * 100_003 + i)
        u[i] = u0 * (1 + noise * torch.randn(h, w, generator=gen, dtype=torch.float64))
        v[i] = v0 * (1 + noise * torch.randn(h, w, generator=gen, dtype=torch.float64))
    return u.to(dtype), v.to(dtype)


def radial_spectrum(field):
    """(H, W) periodic field -> (R,) power per integer ring of wavenumber |q| (cycles per grid length)."""
    h, w = field.shape
    if h != w:
        raise ValueError(f"radial_spectrum needs a square field, got {h}x{w}; crop it first")
    f = torch.as_tensor(field, dtype=torch.float64)
    power = torch.fft.fft2(f - f.mean()).abs() ** 2
    freq = torch.fft.fftfreq(h, d=1 / h, dtype=torch.float64)
    ring = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2).round().long()
    return torch.zeros(int(ring.max()) + 1, dtype=torch.float64).scatter_add_(
        0, ring.flatten(), power.flatten())


def dominant_wavelength(field):
    """(H, H) periodic field -> its pattern wavelength in grid cells: H / (power-weighted ring around the peak)."""
    spectrum = radial_spectrum(field)
    spectrum[0] = 0
    peak = int(torch.argmax(spectrum))
    rings = torch.arange(max(peak - 2, 1), min(peak + 3, len(spectrum)), dtype=torch.float64)
    power = spectrum[rings.long()]
    return field.shape[-1] / float((rings * power).sum() / power.sum())


# ---------------------------------------------------------------- digits of a limb
def digit_runs(profile, mask=None, min_width_share=0.0, min_amplitude=0.0):
    """(W,) activator across the limb -> list of (start, stop) runs above the midpoint of its range inside ``mask``.

    Positions count cells inside ``mask``. A run narrower than ``min_width_share`` times
    the median run width is dropped: a peak cut in half by a no-flux wall is a sliver, not
    a digit. A profile whose range (max - min) is below ``min_amplitude`` has no runs: it
    is unpatterned, and the midpoint of its noise would split it into spurious digits.
    """
    profile = torch.as_tensor(profile, dtype=torch.float64)
    inside = torch.ones_like(profile, dtype=torch.bool) if mask is None else torch.as_tensor(mask)
    values = profile[inside]
    if values.numel() == 0 or float(values.max() - values.min()) < min_amplitude:
        return []
    high = (values > (values.max() + values.min()) / 2).to(torch.int8)
    edges = torch.diff(torch.cat([high.new_zeros(1), high, high.new_zeros(1)]))
    runs = list(zip(torch.nonzero(edges == 1).flatten().tolist(),
                    torch.nonzero(edges == -1).flatten().tolist()))
    if not runs:
        return []
    median_width = torch.tensor([stop - start for start, stop in runs]).median().item()
    return [(start, stop) for start, stop in runs if stop - start >= min_width_share * median_width]


def count_digits(profile, mask=None, min_width_share=0.0, min_amplitude=0.0):
    """(W,) activator across the limb -> number of digits: ``digit_runs`` inside ``mask``."""
    return len(digit_runs(profile, mask, min_width_share, min_amplitude))


# What lesson 02 counts as a digit of a Schnakenberg limb bud (uniform state u* = a + b = 1):
# no wall slivers, and a range of at least 0.1 (the 1 % seed noise spans ~0.03; grown
# digits ~1.8).
LIMB_DIGITS = {"min_width_share": 0.5, "min_amplitude": 0.1}


def limb_bud(widths, rows=100, start_width=6.0, steps_per_row=200, seed=0, dt=0.2, **kinetics):
    """(B,) final bud widths -> (B, rows, W) activator record and (B, rows, W) bool bud shape.

    The distal zone of the bud (thinner than half a wavelength, so it patterns only
    across its width) runs Schnakenberg kinetics with no-flux edges while it widens
    from ``start_width`` to its final width; row r of the record is that zone after
    r * steps_per_row steps, i.e. the skeleton it leaves behind as the limb grows
    out. ``kinetics``: a, b, Du, Dv, gamma as floats or (B,) tensors (e.g. a changed
    diffusion ratio per bud).
    """
    widths = torch.as_tensor(widths, dtype=torch.float64).reshape(-1)
    if widths.numel() == 0 or bool((widths < start_width).any()):
        raise ValueError(f"widths must be >= start_width={start_width}; got {widths.tolist()}")
    if not isinstance(rows, int) or rows < 2:
        raise ValueError(f"rows must be an integer >= 2, not {rows!r}")
    unknown = set(kinetics) - set(SCHNAKENBERG)
    if unknown:
        raise ValueError(f"unknown kinetic parameters {sorted(unknown)}; use {', '.join(SCHNAKENBERG)}")
    params = {**SCHNAKENBERG, **kinetics}
    if not all(isinstance(params[key], (int, float)) for key in ("a", "b")):
        raise ValueError("a and b must be floats here (one uniform state for every bud); "
                         "vary Du, Dv or gamma per bud instead")
    batch, span = len(widths), int(math.ceil(float(widths.max()))) + 4
    u, v = turing_seed(batch, (1, span), seed=seed, a=params["a"], b=params["b"])
    centre = torch.arange(span, dtype=torch.float64) + 0.5 - span / 2
    record = torch.empty(batch, rows, span)
    shape = torch.empty(batch, rows, span, dtype=torch.bool)
    for r in range(rows):
        # the bud widens smoothly over its first 80 % and then keeps its width
        s = min(r / (0.8 * (rows - 1)), 1.0)
        width = start_width + (widths - start_width) * (s * s * (3 - 2 * s))
        mask = (centre.abs()[None, :] < width[:, None] / 2)[:, None]
        u, v = schnakenberg(u, v, steps_per_row, dt=dt, mask=mask, **params)
        record[:, r], shape[:, r] = u[:, 0], mask[:, 0]
    return record, shape


# ---------------------------------------------------------------- classifying patterns
PATTERN_CLASSES = ("uniform", "spots", "stripes", "mixed")
SPOT_AREA = 80  # cells: the spots of lesson 01's spots preset (Du = 0.16) cover 30-43


def pattern_class(v, spot_area=SPOT_AREA, flat=0.05, spots_share=0.8, stripes_share=0.2):
    """(B, H, W) Gray-Scott v -> (B,) int64 class index into PATTERN_CLASSES.

    uniform: max - min of v below ``flat``. Otherwise threshold v at the midpoint of
    its range and find the connected blobs: "spots" when at least ``spots_share`` of
    the blob area sits in blobs smaller than ``spot_area`` cells, "stripes" when at
    most ``stripes_share`` does, "mixed" in between.
    """
    b, h, w = v.shape
    low, high = v.amin(dim=(1, 2)), v.amax(dim=(1, 2))
    on = v > ((low + high) / 2)[:, None, None]
    labels = label_components(on, connectivity=4, wrap=True)
    offset = (torch.arange(b) * (h * w + 1))[:, None, None]
    sizes = torch.bincount((labels + offset).flatten(), minlength=b * (h * w + 1))
    area_of = sizes[(labels + offset)]  # each cell: the area of its blob
    small = ((area_of < spot_area) & on).sum(dim=(1, 2)).double()
    fraction = small / on.sum(dim=(1, 2)).clamp_min(1).double()
    cls = torch.where(fraction >= spots_share, 1, torch.where(fraction <= stripes_share, 2, 3))
    return torch.where(high - low < flat, 0, cls)


# ---------------------------------------------------------------- a texture dataset
TEXTURE_CLASSES = {"spots": (0.030, 0.062), "worms": (0.058, 0.065),
                   "mazes": (0.029, 0.057), "holes": (0.039, 0.058)}
TEXTURE_GRID, TEXTURE_STEPS = 64, 3000
TEXTURE_SEEDS = {"train": (0, 1, 2, 3, 4), "test": (5, 6)}
TEXTURE_V_MAX = 0.5  # v stays in [0, 0.5) in these regimes


@lru_cache(maxsize=None)
def _texture_fields():
    """-> (classes, seeds, G, G) float32 v after TEXTURE_STEPS steps, computed once per process."""
    fk = torch.tensor(list(TEXTURE_CLASSES.values()), dtype=torch.float64)
    n_seeds = sum(len(s) for s in TEXTURE_SEEDS.values())
    # grid (class c, seed s) depends only on (c, s): gray_scott_seed seeds each grid alone
    u, v = gray_scott_seed(len(fk) * n_seeds, TEXTURE_GRID, seed=7, patches=16)
    F = fk[:, 0].repeat_interleave(n_seeds)
    k = fk[:, 1].repeat_interleave(n_seeds)
    _, v = gray_scott(u, v, F, k, TEXTURE_STEPS)
    return v.reshape(len(fk), n_seeds, TEXTURE_GRID, TEXTURE_GRID)


def texture_dataset(split="train", size=32, stride=16):
    """(N, 1, size, size) float32 Gray-Scott textures in [-1, 1] and (N,) int64 class ids (TEXTURE_CLASSES order).

    Crops of ``size`` cells every ``stride`` cells (wrapping around: the simulations
    are periodic) from 64x64 simulations; "train" uses seeds 0-4 (320 crops), "test"
    seeds 5-6 (128 crops): other simulations of the same four regimes.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    if not (isinstance(size, int) and isinstance(stride, int) and 4 <= size <= TEXTURE_GRID
            and 1 <= stride <= TEXTURE_GRID):
        raise ValueError(f"need integers 4 <= size <= {TEXTURE_GRID} and 1 <= stride <= "
                         f"{TEXTURE_GRID}; got size={size!r}, stride={stride!r}")
    fields = _texture_fields()
    seeds = TEXTURE_SEEDS["train"] + TEXTURE_SEEDS["test"] if split == "all" else TEXTURE_SEEDS[split]
    starts = range(0, TEXTURE_GRID, stride)
    images, labels = [], []
    for label in range(fields.shape[0]):
        for s in seeds:
            for r in starts:
                for c in starts:
                    shifted = torch.roll(fields[label, s], (-r, -c), (0, 1))
                    images.append(shifted[:size, :size])
                    labels.append(label)
    x = torch.stack(images)[:, None] / TEXTURE_V_MAX * 2 - 1
    return x.clamp(-1, 1).contiguous(), torch.tensor(labels, dtype=torch.int64)
