"""Lesson 06, a real network: receptive fields of conv stacks and the noise-prediction loss."""
import torch

from .core import CheckFailed, Mistake, compare_tensors, exercise
from .lesson04 import receptive_field, receptive_field_checks


def _stack_cases(seed):
    gen = torch.Generator().manual_seed(600 + seed)
    cases = [{"kernel_sizes": [3] * 5}, {"kernel_sizes": [3, 5, 3]}, {"kernel_sizes": [1]},
             {"kernel_sizes": []}]
    sizes = (1 + 2 * torch.randint(0, 4, (int(torch.randint(1, 9, (1,), generator=gen)),),
                                   generator=gen)).tolist()
    return cases + [{"kernel_sizes": [7, *sizes]}]


# Lesson 04's exercise asked again of the network's own stack: the same answer and checks.
exercise("06.stack_receptive_field", name="stack_receptive_field", cases=_stack_cases,
         **receptive_field_checks())(receptive_field)


class _AffineNet(torch.nn.Module):
    """A fixed stand-in network with two weights: eps_hat = w * x + v * b (per sample)."""

    def __init__(self, w, v):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(w)))
        self.v = torch.nn.Parameter(torch.tensor(float(v)))

    def forward(self, x, noise_var):
        return self.w * x + self.v * noise_var.reshape(-1, *([1] * (x.ndim - 1)))


def _loss_cases(seed):
    gen = torch.Generator().manual_seed(610 + seed)
    cases = []
    for batch, (w, v) in zip((4, 1, 7), ((0.8, -0.3), (1.1, 0.5), (0.6, 0.2))):
        shape = (batch, 1, 6, 6)
        cases.append({"model": _AffineNet(w, v), "x0": torch.rand(shape, generator=gen) * 2 - 1,
                      "noise_var": torch.rand(batch, generator=gen) * 0.98 + 0.01,
                      "eps": torch.randn(shape, generator=gen)})
    return cases


def _with_gradient(loss, case):
    """What a loss is judged by: (its value, the gradient it sends to the model's two weights)."""
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad or loss.numel() != 1:
        return loss, None
    model = case["model"]
    grads = torch.autograd.grad(loss.reshape(()), [model.w, model.v], allow_unused=True)
    if any(g is None for g in grads):
        return loss.detach(), None
    return loss.detach(), torch.stack(grads)


def _compare_loss(answer, expected, case=None):
    if not isinstance(answer, tuple) or len(answer) != 2:  # never from ``run``; a foreign record
        raise CheckFailed("the answer was not recorded as a loss")
    loss, grads = answer
    if isinstance(loss, (int, float)) and not isinstance(loss, bool):
        raise CheckFailed("return the loss as a tensor, not a number (.item()): training needs "
                          "its gradient")
    compare_tensors(loss, expected[0], case)
    if grads is None:
        raise CheckFailed("the loss has the right value but no gradient reaches the model: do not "
                          "compute it under torch.no_grad() or .detach() it")
    try:
        compare_tensors(grads, expected[1], case)
    except CheckFailed as err:
        raise CheckFailed(f"the loss's gradient with respect to the model's weights is wrong: {err}") \
            from None


def _loss(model, x0, noise_var, eps, per_sample=True, target="eps", reduce="mean", clean_input=False,
          root=0.5):
    b = noise_var.reshape(-1, 1, 1, 1) if per_sample else noise_var[0]
    x = x0 if clean_input else (1 - b) ** root * x0 + b ** root * eps
    error = (model(x, noise_var) - (eps if target == "eps" else x0)) ** 2
    return error.mean() if reduce == "mean" else error.sum()


def _no_grad_loss(model, x0, noise_var, eps):
    with torch.no_grad():
        return _loss(model, x0, noise_var, eps)


@exercise("06.diffusion_loss", name="diffusion_loss", cases=_loss_cases, points=2,
          compare=_compare_loss, observe=_with_gradient,
          hint="noise each clean image with its own b (lesson 03's forward process), ask the model "
               "which noise it sees, and score it against the true noise; keep the gradient",
          formula="x_i = sqrt(1 - b_i) x0_i + sqrt(b_i) eps_i for each image i with "
                  "its own b_i; loss = mean over every entry of (model(x, b) - eps)^2",
          mistakes=[
              Mistake("one noise level for the whole batch: each image has its own b "
                      "(reshape b to (B, 1, 1, 1))",
                      lambda model, x0, noise_var, eps: _loss(model, x0, noise_var, eps,
                                                              per_sample=False)),
              Mistake("the prediction is compared with x0: the model predicts the noise eps",
                      lambda model, x0, noise_var, eps: _loss(model, x0, noise_var, eps, target="x0")),
              Mistake("sum instead of mean of the squared errors",
                      lambda model, x0, noise_var, eps: _loss(model, x0, noise_var, eps, reduce="sum")),
              Mistake("the model sees the clean x0, not the noisy x",
                      lambda model, x0, noise_var, eps: _loss(model, x0, noise_var, eps,
                                                              clean_input=True)),
              Mistake("b and 1 - b without square roots in the forward process",
                      lambda model, x0, noise_var, eps: _loss(model, x0, noise_var, eps, root=1.0)),
              Mistake("computed under torch.no_grad() (or detached): no gradient reaches the model",
                      _no_grad_loss),
          ])
def diffusion_loss(model, x0, noise_var, eps):
    """model(x, b) -> eps_hat; (B, C, H, W) clean, (B,) noise variances, (B, C, H, W) noise -> scalar MSE."""
    return _loss(model, x0, noise_var, eps)
