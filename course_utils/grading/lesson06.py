"""Lesson 06, a real network: its effective receptive field, the noise-prediction loss, the denoiser."""
import torch

from ..models import MAX_NOISE_VAR, noise_level
from .core import CheckFailed, Mistake, compare_int, compare_tensors, exercise


def _dyadic_map(gen, height, width, spread, at):
    """(H, W) float32 made of multiples of 1/64 (sums are exact), mass falling off around ``at``."""
    rows = torch.arange(height, dtype=torch.float32)[:, None] - at[0]
    cols = torch.arange(width, dtype=torch.float32)[None, :] - at[1]
    bump = torch.exp(-(rows ** 2 + cols ** 2) / (2 * spread ** 2))
    noisy = bump * (0.5 + torch.rand(height, width, generator=gen))
    return (noisy * 64).round() / 64


def _field_cases(seed):
    """Centre, corner (the window is cut by the border), a non-square map, an exact tie, a point."""
    gen = torch.Generator().manual_seed(600 + seed)
    tie = torch.zeros(9, 9)
    tie[4, 4] = tie[4, 6] = 1.0  # the 1 x 1 window holds exactly half
    point = torch.zeros(7, 7)
    point[2, 5] = 0.75
    return [{"grad": _dyadic_map(gen, 16, 16, 2.0 + seed % 2, (8, 8)), "row": 8, "col": 8,
             "fraction": 0.9},
            {"grad": _dyadic_map(gen, 16, 16, 3.0, (0, 0)), "row": 0, "col": 0, "fraction": 0.8},
            {"grad": _dyadic_map(gen, 12, 20, 2.5, (3, 15)), "row": 3, "col": 15, "fraction": 0.5},
            {"grad": tie, "row": 4, "col": 4, "fraction": 0.5},
            {"grad": point, "row": 2, "col": 5, "fraction": 0.99}]


def _window_sum(grad, row, col, half, clip=True):
    top, left = (max(row - half, 0), max(col - half, 0)) if clip else (row - half, col - half)
    return grad[top:row + half + 1, left:col + half + 1].sum()


def _field(grad, row, col, fraction, step=2, strict=False, give="side", **window):
    total = float(grad.sum())
    side = 1
    for _ in range(2 * max(grad.shape) + 2):  # a bound, not a while: a wrong rule never hangs
        held = float(_window_sum(grad, row, col, side // 2, **window))
        if held > fraction * total if strict else held >= fraction * total:
            break
        side += step
    return (side - 1) // 2 if give == "half" else side


def _support_side(grad, row, col, fraction):
    seen = grad > 0
    rows = torch.nonzero(seen.any(1)).flatten()
    cols = torch.nonzero(seen.any(0)).flatten()
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


@exercise("06.effective_field", name="effective_field", cases=_field_cases, points=2,
          compare=compare_int,
          hint="grow a square window centred on (row, col), one pixel more on every side each "
               "time, until it holds the asked fraction of the whole map; near a border the window "
               "is cut where the image ends. Return its side, an odd int",
          formula="the smallest odd s for which the s x s window centred on (row, col), cut at "
                  "the image border, holds at least fraction x (the sum of the whole map)",
          mistakes=[
              Mistake("near the border the window's start index went negative, and Python slicing "
                      "then counts from the other end: cut the window at 0",
                      lambda grad, row, col, fraction: _field(grad, row, col, fraction, clip=False)),
              Mistake("the side grew by one pixel at a time: a window centred on a pixel has an odd "
                      "side (one more pixel on every side: + 2)",
                      lambda grad, row, col, fraction: _field(grad, row, col, fraction, step=1)),
              Mistake("'more than' the fraction: a window that holds exactly the fraction is enough "
                      "(at least)",
                      lambda grad, row, col, fraction: _field(grad, row, col, fraction, strict=True)),
              Mistake("the half-width (pixels on each side of the centre) instead of the side",
                      lambda grad, row, col, fraction: _field(grad, row, col, fraction, give="half")),
              Mistake("row and col swapped",
                      lambda grad, row, col, fraction: _field(grad, col, row, fraction)),
              Mistake("the whole receptive field (every pixel with a non-zero gradient): the "
                      "effective field is the window holding the fraction asked", _support_side),
          ])
def effective_field(grad, row, col, fraction):
    """(H, W) non-negative map, output pixel (row, col), fraction in (0, 1) -> odd side (int) of
    the smallest centred square window (cut at the border) holding that fraction of the map's sum."""
    return _field(grad, row, col, fraction)


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


class _NoisePredictor(torch.nn.Module):
    """A fixed stand-in network that takes b as the shipped ones do (float or (B,), clamped):
    eps_hat = w * x + v * b."""

    def __init__(self, w, v):
        super().__init__()
        self.w, self.v = float(w), float(v)

    def forward(self, x, noise_var):
        b = noise_level(noise_var, x.shape[0]).to(x)
        return self.w * x + self.v * b.reshape(-1, *([1] * (x.ndim - 1)))


def _denoise_cases(seed):
    """A float b and a (B,) b; b = 1 (the sampler's first step); a batch of one; C = 3, non-square."""
    gen = torch.Generator().manual_seed(620 + seed)
    cases = []
    for shape, noise_var, (w, v) in (((4, 1, 6, 6), 0.3, (0.5, 0.2)),
                                     ((3, 1, 8, 8), torch.tensor([0.05, 0.5, 0.9]), (0.8, -0.4)),
                                     ((2, 1, 6, 6), 1.0, (0.9, 0.1)),
                                     ((1, 3, 4, 6), torch.tensor([0.6]), (0.3, 0.7))):
        cases.append({"model": _NoisePredictor(w, v), "noise_var": noise_var,
                      "x": torch.randn(shape, generator=gen)})
    return cases


def _denoise(model, x, noise_var, clamp=True, root=0.5, divide=True, give="x0"):
    b = noise_level(noise_var, x.shape[0]) if clamp else torch.as_tensor(noise_var).expand(x.shape[0])
    b = b.to(x)
    eps_hat = model(x, b)
    if give == "eps":
        return eps_hat
    b4 = b.reshape(-1, *([1] * (x.ndim - 1)))
    cleaned = x - b4 ** root * eps_hat
    return cleaned / (1 - b4) ** root if divide else cleaned


@exercise("06.network_denoise", name="network_denoise", cases=_denoise_cases, points=2,
          hint="solve lesson 03's forward process for the clean image, with the network's guess in "
               "place of the true noise; b may be one float or one value per image, and at the "
               "sampler's first step b = 1: do what the network itself does with b",
          formula="x = sqrt(1 - b) x0 + sqrt(b) eps, solved for x0 with eps_hat = model(x, b) in "
                  "place of eps; b clamped to at most models.MAX_NOISE_VAR first",
          mistakes=[
              Mistake(f"at b = 1 (the sampler's first step) you divide by sqrt(1 - b) = 0: clamp b "
                      f"to the range the network was trained on (models.MAX_NOISE_VAR = "
                      f"{MAX_NOISE_VAR}), as the network does itself",
                      lambda model, x, noise_var: _denoise(model, x, noise_var, clamp=False)),
              Mistake("b and 1 - b without square roots",
                      lambda model, x, noise_var: _denoise(model, x, noise_var, root=1.0)),
              Mistake("x - sqrt(b) eps_hat is sqrt(1 - b) x0, not x0: divide by sqrt(1 - b)",
                      lambda model, x, noise_var: _denoise(model, x, noise_var, divide=False)),
              Mistake("that is the network's noise prediction eps_hat; the denoiser returns the "
                      "clean image it implies",
                      lambda model, x, noise_var: _denoise(model, x, noise_var, give="eps")),
          ])
def network_denoise(model, x, noise_var):
    """model(x, b) -> eps_hat; (B, C, H, W) noisy, float or (B,) b -> (B, C, H, W) E[x0 | x]."""
    return _denoise(model, x, noise_var)
