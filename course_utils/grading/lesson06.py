"""Lesson 06, a real network: receptive fields of conv stacks and the noise-prediction loss."""
import torch

from .core import exercise


def _stack_cases(seed):
    gen = torch.Generator().manual_seed(600 + seed)
    cases = [{"kernel_sizes": [3] * 5}, {"kernel_sizes": [3, 5, 3]}, {"kernel_sizes": [1]}]
    sizes = (1 + 2 * torch.randint(0, 4, (int(torch.randint(1, 9, (1,), generator=gen)),),
                                   generator=gen)).tolist()
    return cases + [{"kernel_sizes": sizes}]


@exercise("06.stack_receptive_field", name="stack_receptive_field", cases=_stack_cases, points=1,
          hint="each k x k convolution (stride 1) widens the field by k - 1 pixels: 1 + sum(k - 1)")
def stack_receptive_field(kernel_sizes):
    """List of odd kernel sizes of stacked stride-1 convolutions -> side of the receptive field."""
    return 1 + sum(k - 1 for k in kernel_sizes)


class _AffineNet(torch.nn.Module):
    """A fixed stand-in network: eps_hat = w * x + v * b (per sample)."""

    def __init__(self, w, v):
        super().__init__()
        self.w, self.v = w, v

    def forward(self, x, noise_var):
        return self.w * x + self.v * noise_var.reshape(-1, *([1] * (x.ndim - 1)))


def _loss_cases(seed):
    gen = torch.Generator().manual_seed(610 + seed)
    cases = []
    for batch in (4, 1, 7):
        shape = (batch, 1, 6, 6)
        cases.append({"model": _AffineNet(0.8, -0.3), "x0": torch.rand(shape, generator=gen) * 2 - 1,
                      "noise_var": torch.rand(batch, generator=gen) * 0.98 + 0.01,
                      "eps": torch.randn(shape, generator=gen)})
    return cases


@exercise("06.diffusion_loss", name="diffusion_loss", cases=_loss_cases, points=2,
          hint="noise x0 with its own b per sample (reshape b to (B, 1, 1, 1)), ask the model "
               "for eps_hat = model(x, b) and return the mean of (eps_hat - eps)^2")
def diffusion_loss(model, x0, noise_var, eps):
    """model(x, b) -> eps_hat; (B, C, H, W) clean, (B,) noise variances, (B, C, H, W) noise -> scalar MSE."""
    b = noise_var.reshape(-1, 1, 1, 1)
    x = torch.sqrt(1 - b) * x0 + torch.sqrt(b) * eps
    return ((model(x, noise_var) - eps) ** 2).mean()
