"""Lesson 05, equivariance: a shift test for denoisers, the ELS weights of one pixel."""
import torch
import torch.nn.functional as F

from .core import exercise


def shift(images, rows, cols):
    """(B, C, H, W) -> (B, C, H, W) circularly shifted down by ``rows`` and right by ``cols``."""
    return torch.roll(images, shifts=(rows, cols), dims=(2, 3))


def _blur(x, noise_var):
    """A circular 3x3 blur: equivariant under circular shifts."""
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=x.dtype) / 16
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), kernel[None, None]) * (1 - noise_var)


def _vignette(x, noise_var):
    """A position-dependent gain: not equivariant."""
    rows = torch.linspace(0.2, 1.0, x.shape[2], dtype=x.dtype)
    return x * rows[:, None] * (1 - noise_var) ** 0.5


def _zero_padded_blur(x, noise_var):
    """Like _blur but zero-padded: equivariant in the interior only."""
    kernel = torch.full((3, 3), 1 / 9, dtype=x.dtype)
    return F.conv2d(x, kernel[None, None], padding=1)


def _shift_cases(seed):
    gen = torch.Generator().manual_seed(5000 + seed)
    x = torch.randn(2, 1, 8, 8, generator=gen, dtype=torch.float64)
    return [{"denoiser": _blur, "x": x, "noise_var": 0.5, "rows": 3, "cols": -2},
            {"denoiser": _vignette, "x": x, "noise_var": 0.3, "rows": 1, "cols": 0},
            {"denoiser": _zero_padded_blur, "x": x, "noise_var": 0.3, "rows": 2, "cols": 5}]


def _scalar_close(answer, expected, case=None):
    from .core import compare_tensors
    compare_tensors(torch.as_tensor(answer, dtype=torch.float64).reshape(()),
                    torch.as_tensor(expected, dtype=torch.float64).reshape(()), case,
                    rtol=1e-6, atol=1e-9)


@exercise("05.equivariance_error", name="equivariance_error", cases=_shift_cases, points=2,
          compare=_scalar_close,
          hint="compare denoiser(shift(x), b) with shift(denoiser(x, b), ...) using "
               "torch.roll(..., shifts=(rows, cols), dims=(2, 3)); return a Python float, "
               "the largest absolute difference")
def equivariance_error(denoiser, x, noise_var, rows, cols):
    """denoiser(x, b), (B, C, H, W) x, shift -> float max |D(shift x) - shift D(x)|."""
    return (denoiser(shift(x, rows, cols), noise_var)
            - shift(denoiser(x, noise_var), rows, cols)).abs().max().item()


def _weight_cases(seed, noise_vars=(0.9, 0.3, 0.05)):
    gen = torch.Generator().manual_seed(5100 + seed)
    cases = []
    for noise_var, k, (row, col) in zip(noise_vars, (3, 5, 3), ((2, 3), (0, 5), (5, 0))):
        train = torch.rand(4, 1, 6, 6, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(1, 1, 6, 6, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var, "k": k,
                      "row": row, "col": col})
    return cases


@exercise("05.els_weights", name="els_weights", cases=_weight_cases, points=3,
          hint="circular padding: F.pad(images, (r, r, r, r), mode='circular') with r = k // 2; "
               "F.unfold gives every training window; the query is the window of x at "
               "(row, col); one softmax over all N * H * W entries, reshaped to (N, H, W)",
          hidden_cases=lambda: _weight_cases(66, noise_vars=(1.0, 1e-4, 0.5)))
def els_weights(x, train, noise_var, k, row, col):
    """(1, C, H, W) noisy, (N, C, H, W) training -> (N, H, W) ELS weights of pixel (row, col) over (mu, q)."""
    r = k // 2
    a = (1 - noise_var) ** 0.5
    padded_x = F.pad(x, (r, r, r, r), mode="circular")
    query = padded_x[0, :, row:row + k, col:col + k].reshape(-1)
    patches = F.unfold(F.pad(train, (r, r, r, r), mode="circular"), k).transpose(1, 2)  # (N, HW, Ckk)
    d2 = ((query - a * patches) ** 2).sum(-1)
    weights = torch.softmax(-d2.flatten() / (2 * noise_var), dim=0)
    return weights.reshape(train.shape[0], *train.shape[2:])
