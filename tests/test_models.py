"""Networks: exact receptive fields, equivariance, the denoiser wrapper."""

import pytest
import torch

from course_utils.diffusion import add_noise
from course_utils.models import (ResNet, UNet, as_denoiser, build_model, gradient_map, network_denoise,
                                 receptive_field)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_resnet_receptive_field_is_two_depth_plus_one(depth):
    torch.manual_seed(0)
    assert receptive_field(ResNet(width=8, depth=depth)) == 2 * depth + 1


def test_receptive_field_probes_a_float64_network_in_float64():
    torch.manual_seed(0)
    model = ResNet(width=8, depth=3)
    single = gradient_map(model, size=16)
    model.double()
    double = gradient_map(model, size=16)
    assert double.dtype == torch.float64 and receptive_field(model) == 7
    assert torch.allclose(double.float(), single, rtol=1e-4, atol=1e-6)


def test_unet_sees_the_whole_digit():
    torch.manual_seed(0)
    model = UNet(widths=(8, 16, 16))
    assert receptive_field(model, size=16) == 16
    assert receptive_field(model, size=64) > 2 * 5 + 1


def test_gradient_map_is_zero_outside_the_field():
    torch.manual_seed(0)
    grad = gradient_map(ResNet(width=8, depth=3), size=16)
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[8 - 3:8 + 4, 8 - 3:8 + 4] = True
    assert (grad[~inside] == 0).all() and (grad[inside] > 0).all()


def test_circular_resnet_commutes_with_shifts():
    torch.manual_seed(0)
    model = ResNet(width=8, depth=4, padding="circular").eval()
    x = torch.randn(2, 1, 12, 12)
    shifted = model(torch.roll(x, (3, -5), (2, 3)), 0.3)
    assert torch.allclose(shifted, torch.roll(model(x, 0.3), (3, -5), (2, 3)), atol=1e-5)


@pytest.mark.parametrize("config", [{"arch": "resnet", "width": 8, "depth": 3},
                                    {"arch": "unet", "widths": [8, 16, 16]},
                                    {"arch": "unet", "widths": [8, 16, 16], "attention": True}])
def test_outputs_do_not_depend_on_the_batch(config):
    torch.manual_seed(0)
    model = build_model({"channels": 1, **config}).eval()
    x, b = torch.randn(5, 1, 16, 16), torch.rand(5) * 0.9 + 0.05
    with torch.no_grad():
        whole = model(x, b)
        one_by_one = torch.cat([model(x[i:i + 1], b[i:i + 1]) for i in range(5)])
    assert torch.allclose(whole, one_by_one, atol=1e-5)


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="padding must be one of"):
        ResNet(padding="reflect")
    with pytest.raises(ValueError, match="one value per batch element"):
        ResNet(width=8, depth=2)(torch.zeros(3, 1, 8, 8), torch.rand(2))
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet(widths=(8, 16, 16))(torch.zeros(1, 1, 10, 10), 0.5)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model({"arch": "vit"})


class _Oracle(torch.nn.Module):
    """Predicts the true noise of one known clean batch: its denoiser must return that batch."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0

    def forward(self, x, b):
        b = b.reshape(-1, 1, 1, 1)
        return (x - torch.sqrt(1 - b) * self.x0) / torch.sqrt(b)


@pytest.mark.parametrize("noise_var", [0.01, 0.5, 0.99])
def test_denoiser_wrapper_inverts_the_noise_prediction(noise_var):
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 1, 8, 8, generator=gen), torch.randn(3, 1, 8, 8, generator=gen)
    denoiser = as_denoiser(_Oracle(x0))
    assert torch.allclose(denoiser(add_noise(x0, noise_var, eps), noise_var), x0, atol=1e-4)




def test_network_denoise_keeps_the_gradient_and_clamps_b_at_one():
    gen = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(2, 1, 8, 8, generator=gen), torch.randn(2, 1, 8, 8, generator=gen)
    x = add_noise(x0, torch.tensor([0.3, 0.7]), eps).requires_grad_(True)
    out = network_denoise(_Oracle(x0), x, torch.tensor([0.3, 0.7]))
    assert torch.allclose(out, x0, atol=1e-4) and out.requires_grad
    at_one = network_denoise(_Oracle(x0), torch.randn(2, 1, 8, 8, generator=gen), 1.0)
    assert torch.isfinite(at_one).all()  # b = 1 is clamped to MAX_NOISE_VAR, never 0 / 0
