"""Cosine schedule, forward noising and the DDIM sampler."""
import math

import pytest
import torch

from course_utils.diffusion import (Trajectory, add_noise, cosine_noise_var, ddim_sample, ddim_step,
                                    denoised_from_eps, eps_from_denoised, sampling_noise_vars,
                                    score_from_denoised)
from course_utils.scores import ideal_denoise


def test_cosine_schedule_values():
    s = 0.008
    for t in (0.0, 0.25, 0.5, 0.9):
        expected = 1 - math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        assert float(cosine_noise_var(t)) == pytest.approx(expected, abs=1e-15)
        legacy = 1 - math.cos(t / (1 + s) * math.pi / 2) ** 2
        assert float(cosine_noise_var(t, legacy=True)) == pytest.approx(legacy, abs=1e-15)
    # the sampler starts from pure noise: b(1) is exactly 1, where every machine averages
    assert float(cosine_noise_var(1.0)) == 1.0
    assert float(cosine_noise_var(0.0, legacy=True)) == 0.0
    b = sampling_noise_vars(20)
    assert b.shape == (21,) and b.dtype == torch.float64
    assert (b[1:] > b[:-1]).all() and 0 < b[0] < 2e-4


def test_add_noise_broadcasts_per_sample_noise_over_all_other_axes():
    gen = torch.Generator().manual_seed(0)
    for shape in [(3, 2), (3, 1, 4, 5), (3, 2, 3, 4, 2)]:
        x0 = torch.randn(shape, generator=gen)
        eps = torch.randn(shape, generator=gen)
        b = torch.tensor([0.1, 0.5, 0.9])
        out = add_noise(x0, b, eps)
        for i in range(3):
            expected = math.sqrt(1 - b[i]) * x0[i] + math.sqrt(b[i]) * eps[i]
            assert torch.allclose(out[i], expected, atol=1e-6)
        assert torch.allclose(add_noise(x0, 0.3, eps),
                              add_noise(x0, torch.full((3,), 0.3), eps), atol=1e-7)
    with pytest.raises(ValueError, match="one value per batch element"):
        add_noise(x0, torch.tensor([0.1, 0.2]), eps)


def test_eps_score_and_denoised_are_consistent():
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(4, 1, 3, 3, generator=gen), torch.randn(4, 1, 3, 3, generator=gen)
    b = torch.tensor([0.05, 0.3, 0.6, 0.95])
    x = add_noise(x0, b, eps)
    assert torch.allclose(eps_from_denoised(x, x0, b), eps, atol=1e-5)
    assert torch.allclose(denoised_from_eps(x, eps, b), x0, atol=1e-5)
    score = score_from_denoised(x, x0, b)
    assert torch.allclose(score, -eps / torch.sqrt(b).reshape(-1, 1, 1, 1), atol=1e-4)


def test_ddim_step_with_the_true_clean_image_stays_on_its_noise_path():
    gen = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(2, 5, generator=gen), torch.randn(2, 5, generator=gen)
    x = add_noise(x0, 0.7, eps)
    assert torch.allclose(ddim_step(x, x0, 0.7, 0.2), add_noise(x0, 0.2, eps), atol=1e-6)


def test_ddim_with_the_ideal_denoiser_on_two_points_lands_on_them():
    points = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).reshape(2, 1, 1, 2)
    noise = torch.randn(64, 1, 1, 2, generator=torch.Generator().manual_seed(3))
    traj = Trajectory()
    out = ddim_sample(lambda x, b: ideal_denoise(x, points, b), noise, 20, callback=traj)
    last = torch.cdist(traj.denoised[-1].flatten(1), points.flatten(1))
    assert last.min(dim=1).values.max() < 1e-4
    # the sample itself keeps sqrt(b(0)) ~ 0.0125 times its predicted noise at t = 0
    dist = torch.cdist(out.flatten(1), points.flatten(1)).min(dim=1).values
    assert dist.max() < 0.1
    # and both points are reached: the sampler does not collapse onto one
    assert set(last.argmin(dim=1).tolist()) == {0, 1}


def test_the_sampler_visits_each_noise_level_once_and_the_callback_sees_every_step():
    calls = []

    def denoiser(x, b):
        calls.append(b)
        return torch.zeros_like(x)

    b = sampling_noise_vars(5).tolist()
    traj = Trajectory()
    x = ddim_sample(denoiser, torch.ones(1, 1, 2, 2), 5, callback=traj)
    assert calls == b[5:0:-1]
    assert traj.x.shape == (6, 1, 1, 2, 2) and traj.denoised.shape == (5, 1, 1, 2, 2)
    assert torch.equal(traj.x[-1], x) and traj.noise_vars.tolist() == b[::-1]
    # explicit levels: the same path as the step count that makes them
    assert torch.equal(ddim_sample(denoiser, torch.ones(1, 1, 2, 2), torch.tensor(b[::-1], dtype=torch.float64)), x)


@pytest.mark.parametrize("levels, message", [
    (0, "positive"), ([0.5], "at least two"), ([0.2, 0.5], "decreasing"), ([1.5, 0.2], r"\[0, 1\]")])
def test_the_sampler_rejects_levels_it_cannot_follow(levels, message):
    with pytest.raises(ValueError, match=message):
        ddim_sample(lambda x, b: x, torch.ones(1, 1, 2, 2), levels)
