"""Lesson 05, equivariance: a shift test for denoisers, the ELS weights of one pixel, the admissible positions at a zero-padded border."""
import torch
import torch.nn.functional as F

from .core import CheckFailed, Mistake, compare_tensors, exercise


def shift(images, rows, cols):
    """(B, C, H, W) -> (B, C, H, W) circularly shifted down by ``rows`` and right by ``cols``."""
    return torch.roll(images, shifts=(rows, cols), dims=(2, 3))


def _depthwise(x, kernel, padding_mode):
    """(B, C, H, W) -> (B, C, H, W): the same 3x3 kernel on every channel."""
    channels = x.shape[1]
    weight = kernel.to(x.dtype).expand(channels, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=padding_mode), weight, groups=channels)


def _blur(x, noise_var):
    """A circular 3x3 blur: equivariant under circular shifts."""
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    return _depthwise(x, kernel, "circular") * (1 - noise_var)


def _vignette(x, noise_var):
    """A position-dependent gain: not equivariant."""
    rows = torch.linspace(0.2, 1.0, x.shape[2], dtype=x.dtype)
    return x * rows[:, None] * (1 - noise_var) ** 0.5


def _zero_padded_blur(x, noise_var):
    """Like _blur but zero-padded: equivariant in the interior only."""
    return _depthwise(x, torch.full((3, 3), 1 / 9), "constant")


def _shift_cases(seed):
    """Non-square images with two channels, shifts along either axis or both."""
    gen = torch.Generator().manual_seed(5000 + seed)
    x = torch.randn(2, 2, 6, 9, generator=gen, dtype=torch.float64)
    return [{"denoiser": _blur, "x": x, "noise_var": 0.5, "rows": 3, "cols": -2},
            {"denoiser": _vignette, "x": x, "noise_var": 0.3, "rows": 1, "cols": 0},
            {"denoiser": _zero_padded_blur, "x": x, "noise_var": 0.3, "rows": 2, "cols": 5},
            {"denoiser": _vignette, "x": -x, "noise_var": 0.6, "rows": 2, "cols": 4}]


def _one_number(answer, expected, case=None):
    if answer is None:
        raise CheckFailed("your function returned None: did you forget `return`?")
    if isinstance(answer, torch.Tensor) and answer.numel() != 1:
        raise CheckFailed(f"return one number, the largest absolute difference (e.g. "
                          f"`.abs().max().item()`), not a tensor of shape {tuple(answer.shape)}")
    if isinstance(answer, torch.Tensor):
        answer = answer.detach().reshape(()).double()
    elif isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = torch.tensor(float(answer), dtype=torch.float64)
    else:
        raise CheckFailed(f"return one number (a Python float), not a {type(answer).__name__}")
    compare_tensors(answer, torch.as_tensor(expected, dtype=torch.float64).reshape(()), case,
                    rtol=1e-6, atol=1e-9)


def _error(denoiser, x, noise_var, rows, cols, dims=(2, 3), back=1, reduce="max", absolute=True,
           shift_output=True):
    moved = denoiser(torch.roll(x, shifts=(rows, cols), dims=dims), noise_var)
    out = denoiser(x, noise_var)
    if shift_output:
        out = torch.roll(out, shifts=(back * rows, back * cols), dims=dims)
    diff = moved - out
    diff = diff.abs() if absolute else diff
    return (diff.max() if reduce == "max" else diff.mean()).item()


@exercise("05.equivariance_error", name="equivariance_error", cases=_shift_cases, points=2,
          compare=_one_number,
          hint="shift the input and denoise it; denoise the input and shift the result the same "
               "way; the error is how far apart the two are at their worst pixel, as one number",
          formula="error = max over every entry of |D(S x, b) - S D(x, b)|, S the "
                  "circular shift by rows along H and cols along W",
          mistakes=[
              Mistake("no abs(): the largest signed difference, not the largest absolute one",
                      lambda denoiser, x, noise_var, rows, cols:
                      _error(denoiser, x, noise_var, rows, cols, absolute=False)),
              Mistake("the mean difference instead of the largest",
                      lambda denoiser, x, noise_var, rows, cols:
                      _error(denoiser, x, noise_var, rows, cols, reduce="mean")),
              Mistake("rows and cols swapped: rows shift dim 2 (down), cols dim 3 (right)",
                      lambda denoiser, x, noise_var, rows, cols:
                      _error(denoiser, x, noise_var, rows, cols, dims=(3, 2))),
              Mistake("D(x) is not shifted: compare D(S x) with S D(x), not with D(x)",
                      lambda denoiser, x, noise_var, rows, cols:
                      _error(denoiser, x, noise_var, rows, cols, shift_output=False)),
              Mistake("D(x) shifted the opposite way (-rows, -cols)",
                      lambda denoiser, x, noise_var, rows, cols:
                      _error(denoiser, x, noise_var, rows, cols, back=-1)),
          ])
def equivariance_error(denoiser, x, noise_var, rows, cols):
    """denoiser(x, b), (B, C, H, W) x, shift -> float max |D(shift x) - shift D(x)|."""
    return _error(denoiser, x, noise_var, rows, cols)


# (b, k, channels, (row, col)): b = 1, tiny b, several channels, pixels at the border;
# col < H, so that a swapped (col, row) still runs and is recognised
ELS_CASES = ((0.3, 5, 3, (0, 4)), (1.0, 3, 1, (2, 4)), (1e-4, 3, 2, (4, 0)), (0.05, 5, 1, (3, 1)))
HIDDEN_ELS_CASES = ((0.6, 3, 1, (0, 0)), (1.0, 5, 2, (1, 3)), (1e-5, 5, 3, (4, 2)), (0.1, 3, 2, (2, 4)))


def _weight_cases(seed, settings=ELS_CASES):
    """Non-square 5 x 7 images (so that swapped H and W show)."""
    gen = torch.Generator().manual_seed(5100 + seed)
    cases = []
    for noise_var, k, channels, (row, col) in settings:
        train = torch.rand(4, channels, 5, 7, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(1, channels, 5, 7, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var, "k": k,
                      "row": row, "col": col})
    return cases


def _els(x, train, noise_var, k, row, col, mode="circular", a=None, temperature=None,
         per_image=False, naive=False):
    r = k // 2
    a = (1 - noise_var) ** 0.5 if a is None else a
    temperature = 2 * noise_var if temperature is None else temperature
    query = F.pad(x, (r, r, r, r), mode=mode)[0, :, row:row + k, col:col + k].reshape(-1)
    patches = F.unfold(F.pad(train, (r, r, r, r), mode=mode), k).transpose(1, 2)  # (N, HW, Ckk)
    logits = -((query - a * patches) ** 2).sum(-1) / temperature                   # (N, HW)
    if per_image:
        weights = torch.softmax(logits, dim=1)
    elif naive:
        weights = torch.exp(logits) / torch.exp(logits).sum()
    else:
        weights = torch.softmax(logits.flatten(), dim=0)
    return weights.reshape(train.shape[0], *train.shape[2:])


@exercise("05.els_weights", name="els_weights", cases=_weight_cases, points=3,
          hint="the library is every k x k window (all channels) of every training image at "
               "every position, with the image wrapping around at its edges; one softmax over "
               "all of them together, so the (N, H, W) result sums to 1",
          formula="w_mu,q = softmax over every (mu, q) together of -|x_[p] - a "
                  "phi_mu,[q]|^2 / (2 b), p = (row, col), windows k x k over all "
                  "channels with the image wrapping around, a = sqrt(1 - b); shape "
                  "(N, H, W)",
          hidden_cases=lambda: _weight_cases(66, HIDDEN_ELS_CASES),
          mistakes=[
              Mistake("zero padding instead of circular padding",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, row, col, mode="constant")),
              Mistake("one softmax per training image (over q only) instead of one over all (mu, q)",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, row, col, per_image=True)),
              Mistake("row and col swapped: the query window is centred on (col, row)",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, col, row)),
              Mistake("temperature b instead of 2b in the exponent",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, row, col, temperature=noise_var)),
              Mistake("only the first channel is compared: windows must hold every channel",
                      lambda x, train, noise_var, k, row, col:
                      _els(x[:, :1], train[:, :1], noise_var, k, row, col)),
              Mistake("a = 1: the training windows are not scaled by sqrt(1 - b)",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, row, col, a=1.0)),
              Mistake("exp() then a division: exp underflows to 0 at small b and 0/0 = NaN; "
                      "use torch.softmax",
                      lambda x, train, noise_var, k, row, col:
                      _els(x, train, noise_var, k, row, col, naive=True)),
          ])
def els_weights(x, train, noise_var, k, row, col):
    """(1, C, H, W) noisy, (N, C, H, W) training -> (N, H, W) ELS weights of pixel (row, col) over (mu, q)."""
    return _els(x, train, noise_var, k, row, col)


def _mask_cases(seed):
    """6 x 7 images (non-square); (k, row, col): a corner, an edge pixel one in, the interior,
    the bottom edge, and k = 1 (no padding at all). At seed 0 row, col < 6, so that a swapped
    (col, row) still runs and is recognised."""
    settings = ((5, 0, 0), (5, 1, 3), (5, 3, 2), (3, 5, 4), (1, 0, 5))
    if seed:
        gen = torch.Generator().manual_seed(5200 + seed)
        pick = lambda low, high: int(torch.randint(low, high, (1,), generator=gen))  # noqa: E731
        settings = ((5, 5 * pick(0, 2), 6 * pick(0, 2)), (5, 1, pick(2, 5)), (5, pick(2, 4), pick(2, 5)),
                    (3, 5, pick(1, 6)), (1, pick(0, 6), pick(0, 7)))
    return [{"height": 6, "width": 7, "k": k, "row": row, "col": col} for k, row, col in settings]


def _border_key(index, size, k, cap=None, one_sided=False):
    """Distance of ``index`` to each end of an axis of ``size``, capped at k // 2 (``cap``)."""
    cap = k // 2 if cap is None else cap
    near, far = min(index, cap), min(size - 1 - index, cap)
    return (min(near, far),) if one_sided else (near, far)


def _mask(height, width, k, row, col, cap=None, one_sided=False, rows_only=False, locked=False,
          everywhere=False):
    if everywhere:
        return torch.ones(height, width, dtype=torch.bool)
    mask = torch.zeros(height, width, dtype=torch.bool)
    if locked:
        mask[row, col] = True
        return mask
    row_key = _border_key(row, height, k, cap, one_sided)
    col_key = _border_key(col, width, k, cap, one_sided)
    for r in range(height):
        for c in range(width):
            same_cols = rows_only or _border_key(c, width, k, cap, one_sided) == col_key
            mask[r, c] = _border_key(r, height, k, cap, one_sided) == row_key and same_cols
    return mask


@exercise("05.admissible_mask", name="admissible_mask", cases=_mask_cases, points=2,
          hint="work one axis at a time: a pixel closer to a border than k // 2 sees padding on "
               "that side, and only windows exactly as close to that same border see the same "
               "padding; a pixel farther than that from both borders may borrow from any such "
               "interior position. Return a boolean (H, W) tensor",
          formula="q admissible for p when, along rows and along columns alike, min(distance of "
                  "q to the first border, k // 2) and min(distance of q to the last border, "
                  "k // 2) equal those of p",
          hidden_cases=lambda: [{"height": 7, "width": 5, "k": k, "row": row, "col": col}
                                for k, row, col in ((3, 0, 4), (5, 6, 1), (3, 2, 2), (7, 3, 0), (1, 4, 3))],
          mistakes=[
              Mistake("every position allowed: that is circular padding, where no window sees a "
                      "border",
                      lambda height, width, k, row, col: _mask(height, width, k, row, col,
                                                               everywhere=True)),
              Mistake("only the same position, as in the LS machine: an interior pixel may borrow "
                      "from every interior position",
                      lambda height, width, k, row, col: _mask(height, width, k, row, col,
                                                               locked=True)),
              Mistake("off by one: a pixel exactly k // 2 from the border does not see the padding "
                      "(its window just reaches the image edge), so it is an interior pixel",
                      lambda height, width, k, row, col: _mask(height, width, k, row, col,
                                                               cap=k // 2 + 1)),
              Mistake("the distance to the nearest border only: a window near the top border and "
                      "one near the bottom see the padding on different sides",
                      lambda height, width, k, row, col: _mask(height, width, k, row, col,
                                                               one_sided=True)),
              Mistake("only the rows are checked: the columns must match the same way",
                      lambda height, width, k, row, col: _mask(height, width, k, row, col,
                                                               rows_only=True)),
              Mistake("row and col swapped: the mask is that of pixel (col, row)",
                      lambda height, width, k, row, col: _mask(height, width, k, col, row)),
          ])
def admissible_mask(height, width, k, row, col):
    """image size, odd k, pixel (row, col) -> (H, W) bool: the positions q whose zero-padded k x k window overlaps the padding as p's does."""
    return _mask(height, width, k, row, col)
