"""Reaction-diffusion (lessons 01-02): kernels against float64 brute-force loops, stability, dispersion maths."""
import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import turing
from course_utils.turing import (check_dt, count_digits, digit_runs, dominant_wavelength, fastest_mode,
                                 gray_scott, gray_scott_seed, growth_rate, laplacian,
                                 noflux_laplacian, pattern_class, schnakenberg,
                                 schnakenberg_jacobian, texture_dataset, turing_unstable)


# ------------------------------------------------------------ brute-force references
def _lap_loop(x, i, j):
    h, w = len(x), len(x[0])
    return x[(i - 1) % h][j] + x[(i + 1) % h][j] + x[i][(j - 1) % w] + x[i][(j + 1) % w] - 4 * x[i][j]


def _gray_scott_loop(u, v, F, k, steps, Du, Dv, dt):
    """One grid, plain Python floats: the update written out cell by cell."""
    u, v = u.tolist(), v.tolist()
    h, w = len(u), len(u[0])
    for _ in range(steps):
        nu = [[0.0] * w for _ in range(h)]
        nv = [[0.0] * w for _ in range(h)]
        for i in range(h):
            for j in range(w):
                uvv = u[i][j] * v[i][j] * v[i][j]
                nu[i][j] = u[i][j] + dt * (Du * _lap_loop(u, i, j) - uvv + F * (1 - u[i][j]))
                nv[i][j] = v[i][j] + dt * (Dv * _lap_loop(v, i, j) + uvv - (F + k) * v[i][j])
        u, v = nu, nv
    return torch.tensor(u, dtype=torch.float64), torch.tensor(v, dtype=torch.float64)


def _noflux_loop(x, mask):
    h, w = len(x), len(x[0])
    out = [[0.0] * w for _ in range(h)]
    for i in range(h):
        for j in range(w):
            if not mask[i][j]:
                continue
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if 0 <= a < h and 0 <= b < w and mask[a][b]:
                    out[i][j] += x[a][b] - x[i][j]
    return torch.tensor(out, dtype=torch.float64)


def _random_fields(batch=3, h=7, w=9, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    u = 1 - 0.5 * torch.rand(batch, h, w, generator=gen, dtype=torch.float64)
    v = 0.4 * torch.rand(batch, h, w, generator=gen, dtype=torch.float64)
    return u.to(dtype), v.to(dtype)


# ------------------------------------------------------------ Laplacians and Gray-Scott
def test_laplacian_matches_loop():
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    expected = torch.tensor([[[_lap_loop(g.tolist(), i, j) for j in range(6)] for i in range(5)]
                             for g in x], dtype=torch.float64)
    torch.testing.assert_close(laplacian(x), expected, rtol=0, atol=1e-12)


def test_gray_scott_float64_matches_loop_per_grid_parameters():
    u, v = _random_fields()
    F = torch.tensor([0.03, 0.055, 0.0367], dtype=torch.float64)
    k = torch.tensor([0.062, 0.062, 0.0649], dtype=torch.float64)
    got_u, got_v = gray_scott(u, v, F, k, steps=6, Du=0.16, Dv=0.08, dt=0.9)
    for i in range(3):
        ref_u, ref_v = _gray_scott_loop(u[i], v[i], float(F[i]), float(k[i]), 6, 0.16, 0.08, 0.9)
        torch.testing.assert_close(got_u[i], ref_u, rtol=0, atol=1e-12)
        torch.testing.assert_close(got_v[i], ref_v, rtol=0, atol=1e-12)


def test_gray_scott_float32_close_to_float64_reference():
    u, v = _random_fields(batch=1)
    got_u, got_v = gray_scott(u.float(), v.float(), 0.04, 0.06, steps=20)
    ref_u, ref_v = _gray_scott_loop(u[0], v[0], 0.04, 0.06, 20, 0.16, 0.08, 1.0)
    assert (got_u[0].double() - ref_u).abs().max() < 1e-5
    assert (got_v[0].double() - ref_v).abs().max() < 1e-5


def test_gray_scott_does_not_modify_inputs_and_zero_steps_is_identity():
    u, v = _random_fields()
    u0, v0 = u.clone(), v.clone()
    same_u, same_v = gray_scott(u, v, 0.03, 0.06, steps=0)
    gray_scott(u, v, 0.03, 0.06, steps=3)
    assert torch.equal(u, u0) and torch.equal(v, v0)
    assert torch.equal(same_u, u0) and torch.equal(same_v, v0)


@pytest.mark.parametrize("size", [(13, 17), (64, 64)])
def test_gray_scott_result_does_not_depend_on_batch(size):
    u, v = gray_scott_seed(4, size, seed=3)
    F = torch.tensor([0.030, 0.055, 0.029, 0.0367])
    k = torch.tensor([0.062, 0.062, 0.057, 0.0649])
    batch_u, batch_v = gray_scott(u, v, F, k, steps=50)
    for i in range(4):
        one_u, one_v = gray_scott(u[i:i + 1], v[i:i + 1], float(F[i]), float(k[i]), steps=50)
        assert torch.equal(one_u[0], batch_u[i]) and torch.equal(one_v[0], batch_v[i])


def test_seed_is_deterministic_and_independent_of_batch():
    u3, v3 = gray_scott_seed(3, 32, seed=5)
    u1, v1 = gray_scott_seed(1, 32, seed=5)
    again_u, _ = gray_scott_seed(3, 32, seed=5)
    other_u, _ = gray_scott_seed(3, 32, seed=6)
    assert torch.equal(u3, again_u) and torch.equal(u3[:1], u1) and torch.equal(v3[:1], v1)
    assert not torch.equal(u3, other_u)


# ------------------------------------------------------------ stability of explicit Euler
def test_check_dt_names_the_limit_and_the_fix():
    check_dt(1.5625, (0.16, 0.08))  # exactly at the limit dx^2 / (4 D)
    with pytest.raises(ValueError, match=r"dt <= dx\^2 / \(4 D\) = 1.562"):
        check_dt(1.6, (0.16, 0.08))
    with pytest.raises(ValueError, match="smaller diffusion|more steps"):
        gray_scott(*_random_fields(), 0.03, 0.06, steps=1, dt=2.0)
    with pytest.raises(ValueError, match="positive"):
        check_dt(-0.1, (0.1,))


def test_the_stability_limit_is_real():
    """A checkerboard decays under diffusion just below the limit and explodes just above it."""
    board = torch.tensor([[(-1.0) ** (i + j) for j in range(8)] for i in range(8)],
                         dtype=torch.float64)[None]
    D, limit = 0.16, turing.max_stable_dt(0.16)
    for dt, grows in ((0.99 * limit, False), (1.01 * limit, True)):
        x = board.clone()
        for _ in range(200):
            x = x + dt * D * laplacian(x)
        assert (x.abs().max() > 1) == grows


@pytest.mark.parametrize("bad, message", [
    (dict(u=torch.ones(4, 4), v=torch.ones(4, 4)), "shape \\(B, H, W\\)"),
    (dict(u=torch.ones(1, 4, 4), v=torch.ones(1, 4, 5)), "shape \\(B, H, W\\)"),
    (dict(F=torch.tensor([0.03, 0.04])), "F has shape"),
    (dict(k=float("nan")), "k must be finite"),
    (dict(steps=-1), "steps must be an integer"),
    (dict(steps=2.5), "steps must be an integer"),
])
def test_gray_scott_bad_input(bad, message):
    args = dict(u=torch.ones(1, 4, 4), v=torch.zeros(1, 4, 4), F=0.03, k=0.06, steps=1)
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        gray_scott(**args)


# ------------------------------------------------------------ no-flux domains
def test_noflux_laplacian_matches_loop_and_conserves_mass():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 7, generator=gen, dtype=torch.float64)
    mask = torch.rand(2, 6, 7, generator=gen) > 0.3
    got = noflux_laplacian(x, mask)
    for b in range(2):
        torch.testing.assert_close(got[b], _noflux_loop(x[b].tolist(), mask[b].tolist()),
                                   rtol=0, atol=1e-12)
    assert got.sum().abs() < 1e-12  # what leaves one cell enters a neighbour


def test_schnakenberg_masked_diffusion_conserves_and_leaves_outside_alone():
    gen = torch.Generator().manual_seed(2)
    u = torch.rand(1, 9, 11, generator=gen, dtype=torch.float64)
    v = torch.rand(1, 9, 11, generator=gen, dtype=torch.float64)
    mask = torch.zeros(1, 9, 11, dtype=torch.bool)
    mask[:, 2:7, 1:9] = True
    new_u, new_v = schnakenberg(u, v, 300, gamma=0.0, mask=mask)  # pure diffusion
    for old, new in ((u, new_u), (v, new_v)):
        torch.testing.assert_close(new[mask].sum(), old[mask].sum(), rtol=1e-12, atol=0)
        assert torch.equal(new[~mask], old[~mask])
    assert new_v[mask].std() < 1e-3 * v[mask].std()  # Dv = 1 flattens it


def test_schnakenberg_periodic_matches_loop():
    gen = torch.Generator().manual_seed(3)
    u = 1 + 0.1 * torch.rand(1, 5, 6, generator=gen, dtype=torch.float64)
    v = 0.9 + 0.1 * torch.rand(1, 5, 6, generator=gen, dtype=torch.float64)
    a, b, Du, Dv, g, dt = 0.1, 0.9, 0.05, 1.0, 0.06, 0.2
    got_u, got_v = schnakenberg(u, v, 5, a=a, b=b, Du=Du, Dv=Dv, gamma=g, dt=dt)
    uu, vv = u[0].tolist(), v[0].tolist()
    for _ in range(5):
        nu = [[uu[i][j] + dt * (Du * _lap_loop(uu, i, j) + g * (a - uu[i][j] + uu[i][j] ** 2 * vv[i][j]))
               for j in range(6)] for i in range(5)]
        nv = [[vv[i][j] + dt * (Dv * _lap_loop(vv, i, j) + g * (b - uu[i][j] ** 2 * vv[i][j]))
               for j in range(6)] for i in range(5)]
        uu, vv = nu, nv
    torch.testing.assert_close(got_u[0], torch.tensor(uu, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(got_v[0], torch.tensor(vv, dtype=torch.float64), rtol=0, atol=1e-12)


# ------------------------------------------------------------ dispersion relation
def test_growth_rate_is_the_largest_real_eigenvalue():
    jac = schnakenberg_jacobian(0.1, 0.9, 0.06)
    q2 = torch.linspace(0, 2, 101, dtype=torch.float64)
    for Du, Dv in ((0.05, 1.0), (1.0, 1.0), (0.5, 0.01)):
        eig = torch.stack([torch.linalg.eigvals(jac - s * torch.diag(torch.tensor([Du, Dv],
                                                                                 dtype=torch.float64)))
                           .real.max() for s in q2])
        torch.testing.assert_close(growth_rate(q2, jac, Du, Dv), eig, rtol=0, atol=1e-12)


def test_schnakenberg_steady_state_balances_and_turing_needs_unequal_diffusion():
    a, b = 0.1, 0.9
    u, v = turing.schnakenberg_steady_state(a, b)
    assert abs(a - u + u * u * v) < 1e-12 and abs(b - u * u * v) < 1e-12
    jac = schnakenberg_jacobian(a, b)
    assert turing_unstable(jac, 0.05, 1.0)
    assert not turing_unstable(jac, 1.0, 1.0)  # equal diffusion cannot destabilise a stable state
    assert growth_rate(torch.tensor([0.0]), jac, 0.05, 1.0) < 0  # stable without diffusion


def test_fastest_mode_matches_a_dense_scan():
    jac = schnakenberg_jacobian(0.1, 0.9, 0.06)
    q, rate = fastest_mode(jac, 0.05, 1.0)
    dense = torch.linspace(1e-4, math.pi, 200_001, dtype=torch.float64)
    rates = growth_rate(dense ** 2, jac, 0.05, 1.0)
    assert abs(q - float(dense[torch.argmax(rates)])) < 1e-4
    assert abs(rate - float(rates.max())) < 1e-9


def test_dominant_wavelength_of_plane_waves():
    n = 128
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    for wavelength in (8.0, 16.0, 32.0):
        wave = torch.cos(2 * math.pi * x / wavelength)
        assert dominant_wavelength(wave) == pytest.approx(wavelength, rel=1e-9)
    # a diagonal wave: |q| = sqrt(5) * 8 / 128 per cell, between two rings
    diagonal = torch.cos(2 * math.pi * (8 * x + 16 * y) / n)
    assert dominant_wavelength(diagonal) == pytest.approx(n / math.hypot(8, 16), rel=0.03)
    with pytest.raises(ValueError, match="square"):
        dominant_wavelength(torch.zeros(8, 10))


def test_simulated_wavelength_agrees_with_the_dispersion_relation():
    p = turing.SCHNAKENBERG
    q, _ = fastest_mode(schnakenberg_jacobian(p["a"], p["b"], p["gamma"]), p["Du"], p["Dv"])
    u, v = turing.turing_seed(1, 64, seed=0)
    u, _ = schnakenberg(u, v, 3000)
    assert dominant_wavelength(u[0]) == pytest.approx(2 * math.pi / q, rel=0.1)


# ------------------------------------------------------------ digits and patterns
@pytest.mark.parametrize("profile, digits", [
    ([0, 1, 0, 1, 0], 2), ([1, 1, 0, 0, 1], 2), ([0, 0, 0, 1], 1), ([3, 3, 3], 0),
    ([0, 2, 0, 2, 0, 2, 0, 2, 0, 2, 0], 5),
])
def test_count_digits(profile, digits):
    assert count_digits(torch.tensor(profile, dtype=torch.float64)) == digits


def test_count_digits_ignores_cells_outside_the_limb():
    profile = torch.tensor([5.0, 0, 1, 0, 1, 0, 1, 0, 5])
    mask = torch.tensor([False] + [True] * 7 + [False])
    assert count_digits(profile, mask) == 3 and count_digits(profile) == 2


def test_critical_ratio_is_where_turing_instability_starts():
    for jac in (schnakenberg_jacobian(0.1, 0.9, 0.06), schnakenberg_jacobian(0.2, 1.3),
                torch.tensor([[0.6, -1.5], [1.5, -1.0]], dtype=torch.float64)):
        d_c = turing.critical_ratio(jac)
        assert turing_unstable(jac, 1.0, 1.001 * d_c) and not turing_unstable(jac, 1.0, 0.999 * d_c)
    assert abs(turing.critical_ratio(schnakenberg_jacobian(0.1, 0.9, 0.06)) - 8.5676) < 1e-4
    with pytest.raises(ValueError, match="stable without diffusion"):
        turing.critical_ratio(torch.tensor([[1.0, 1.0], [-1.0, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="f_u > 0 > g_v"):
        turing.critical_ratio(torch.tensor([[-1.0, 1.0], [-1.0, 0.5]], dtype=torch.float64))


def test_an_unpatterned_profile_has_no_digits():
    # exactly flat: nothing is above the midpoint
    assert digit_runs(torch.full((12,), 1.0)) == []
    # the bud before it patterns: 1 % seed noise around u* = 1 splits at its midpoint into
    # spurious runs unless the amplitude floor calls it flat
    noisy = 1 + 0.01 * torch.randn(40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert count_digits(noisy) > 1
    assert count_digits(noisy, **turing.LIMB_DIGITS) == 0
    # a gentle slope (one side of a half wavelength) is one run without the floor
    assert count_digits(torch.linspace(0.98, 1.02, 6)) == 1
    assert count_digits(torch.linspace(0.98, 1.02, 6), min_amplitude=0.1) == 0
    # a grown pattern passes the floor unchanged
    grown = 1 - 0.9 * torch.cos(torch.arange(60.0) * 2 * torch.pi / 12)  # five peaks, none at a wall
    assert count_digits(grown, **turing.LIMB_DIGITS) == count_digits(grown) == 5


def test_digit_runs_locates_runs_inside_the_limb():
    profile = torch.tensor([5.0, 1, 1, 0, 0, 1, 0, 5])
    mask = torch.tensor([False] + [True] * 6 + [False])
    assert digit_runs(profile, mask) == [(0, 2), (4, 5)]


def test_slivers_at_the_wall_are_not_digits():
    # a half-peak of 1 cell at each wall, three full digits of 4 cells
    profile = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1])
    assert count_digits(profile) == 5
    assert count_digits(profile, min_width_share=0.5) == 3
    assert digit_runs(profile, min_width_share=0.5) == [(3, 7), (9, 13), (15, 19)]
    assert count_digits(torch.full((20,), 0.3), min_width_share=0.5) == 0


def test_wider_buds_grow_more_digits():
    record, shape = turing.limb_bud([12.0, 36.0, 60.0], rows=40, steps_per_row=150)
    counts = [count_digits(r[-1], m[-1]) for r, m in zip(record, shape)]
    assert counts[0] == 1 and counts[0] < counts[1] < counts[2]
    assert shape[:, 0].sum(1).tolist() < shape[:, -1].sum(1).tolist()  # the bud widened


def test_pattern_class_on_drawn_patterns():
    n = 48
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                          indexing="ij")
    spots = ((torch.cos(2 * math.pi * (x - 6) / 12) + torch.cos(2 * math.pi * y / 12)) > 1.2).double()
    stripes = (torch.cos(2 * math.pi * x / 12) > 0).double()
    mixed = torch.where(y < n / 2, spots, stripes)
    flat = torch.full((n, n), 0.3, dtype=torch.float64) + 0.001 * torch.cos(x)
    got = pattern_class(torch.stack([flat, spots * 0.4, stripes * 0.4, mixed * 0.4]))
    assert [turing.PATTERN_CLASSES[i] for i in got] == ["uniform", "spots", "stripes", "mixed"]


# ------------------------------------------------------------ texture dataset
def test_texture_dataset_is_well_formed():
    # Deterministic by construction: its seeds and its batched simulation are tested above
    # (test_seed_is_deterministic..., test_gray_scott_result_does_not_depend_on_batch).
    x, y = texture_dataset("train")
    assert x.shape == (320, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert torch.bincount(y).tolist() == [80] * len(turing.TEXTURE_CLASSES)
    test_x, _ = texture_dataset("test")
    assert test_x.shape[0] == 128
    # held-out crops come from other simulations
    dist = torch.cdist(test_x.flatten(1), x.flatten(1)).min(dim=1).values
    assert dist.min() > 1.0
    for cls in range(len(turing.TEXTURE_CLASSES)):  # every class has a pattern, not a flat field
        assert x[y == cls].std(dim=(1, 2, 3)).min() > 0.1


def test_texture_dataset_through_the_registry_and_bad_split():
    from course_utils.data import load_dataset
    x, y = load_dataset("textures", "test")
    assert x.shape == (128, 1, 32, 32) and y.shape == (128,)
    with pytest.raises(ValueError, match="split must be"):
        texture_dataset("validation")
    with pytest.raises(ValueError, match="size"):
        texture_dataset("train", size=100)


# ------------------------------------------------------------ the explorer
def test_explorer_reacts_to_sliders_and_presets():
    from course_utils.widgets import GrayScottExplorer, field_to_png
    explorer = GrayScottExplorer(size=32, warmup=400, steps_on_change=100)
    before = explorer.image.value
    explorer.F.value = round(explorer.F.value + 0.001, 4)
    assert explorer.image.value != before and explorer.steps == 500
    explorer.preset.value = "worms"
    assert (explorer.F.value, explorer.k.value) == turing.PRESETS["worms"]
    assert explorer.steps == 400  # reseeded and warmed up once, not simulated twice
    explorer.play.value += 1
    assert explorer.steps == 400 + explorer.steps_per_frame
    picture = Image.open(io.BytesIO(explorer.image.value))
    assert picture.size == (32, 32)
    assert "text/plain" in explorer._repr_mimebundle_()
    with pytest.raises(ValueError, match="preset"):
        GrayScottExplorer(preset="zebra")
    with pytest.raises(ValueError, match="2-D"):
        field_to_png(np.zeros((2, 3, 4)))


def test_explorer_reseeds_a_dead_pattern():
    from course_utils.widgets import GrayScottExplorer
    explorer = GrayScottExplorer(size=32, warmup=100)
    explorer.u, explorer.v = torch.ones_like(explorer.u), torch.zeros_like(explorer.v)
    explorer.k.value = round(explorer.k.value + 0.001, 4)
    assert float(explorer.v.amax()) > 0.05 and explorer.steps == 100


def test_benchmark_baselines_run_the_same_update():
    from benchmarks.bench_turing import cell_loop_steps, numpy_steps
    u, v = _random_fields(batch=1, h=6, w=5)
    want_u, want_v = gray_scott(u, v, 0.03, 0.062, steps=3)
    np_u, np_v = numpy_steps(u[0].numpy(), v[0].numpy(), 3, F=0.03, k=0.062)
    cell_u, cell_v = cell_loop_steps(u[0].tolist(), v[0].tolist(), 3, F=0.03, k=0.062)
    for got_u, got_v in ((np_u, np_v), (cell_u, cell_v)):
        torch.testing.assert_close(torch.tensor(got_u, dtype=torch.float64), want_u[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(torch.tensor(got_v, dtype=torch.float64), want_v[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: turing.limb_bud([4.0]), "widths must be >= start_width"),
    (lambda: turing.limb_bud([20.0], rows=1), "rows must be an integer"),
    (lambda: turing.limb_bud([20.0], Dw=0.1), "unknown kinetic parameters"),
    (lambda: turing.limb_bud([20.0], a=torch.tensor([0.1])), "a and b must be floats"),
    (lambda: turing.gray_scott_seed(1, 4), "at least 8x8"),
    (lambda: schnakenberg(*turing.turing_seed(1, 8), 1, mask=torch.ones(1, 8, 8)), "bool tensor"),
    (lambda: schnakenberg(*turing.turing_seed(1, 8), 1, dt=0.3), "dt <= dx"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_field_to_png_refuses_an_empty_colour_scale():
    from course_utils.widgets import field_to_png
    with pytest.raises(ValueError, match="vmax > vmin"):
        field_to_png(torch.zeros(4, 4), vmin=0.5, vmax=0.5)


def test_limb_bud_explorer_counts_digits_live():
    from course_utils.widgets import LimbBudExplorer
    explorer = LimbBudExplorer(width=24, ratio=20.0, rows=40, steps_per_row=150)
    record, shape = turing.limb_bud([24.0], rows=40, steps_per_row=150, seed=0, Du=0.05)
    assert explorer.digits == count_digits(record[0, -1], shape[0, -1], **turing.LIMB_DIGITS) >= 1
    before = explorer.image.value
    explorer.width.value = 60
    assert explorer.digits > count_digits(record[0, -1], shape[0, -1], **turing.LIMB_DIGITS)
    assert explorer.image.value != before and f"{explorer.digits} digits" in explorer.status.value
    explorer.ratio.value = 6.0  # below the critical ratio: nothing patterns, no digit
    assert explorer.digits == 0 and "below the critical ratio 8.57" in explorer.status.value
    picture = Image.open(io.BytesIO(explorer.image.value))
    assert picture.size == (explorer.width.max + 4, 40)  # one canvas for every width
    assert "text/plain" in explorer._repr_mimebundle_()
