"""Lesson 04, locality: an influence map (a receptive field measured), the local score machine, non-local means."""

import torch
import torch.nn.functional as F

from .core import Mistake, exercise


def _box_blur(x, noise_var):
    """A zero-padded 3x3 mean: linear and local, the influence is delta / 9 on the 3x3 square."""
    return F.conv2d(x, torch.full((1, 1, 3, 3), 1 / 9, dtype=x.dtype), padding=1) * (1 - noise_var)


def _lopsided_tanh(x, noise_var):
    """A nonlinear 3x3 filter with unequal, signed weights: a transposed or mirrored map shows."""
    kernel = torch.tensor([[0.1, -0.4, 0.0], [0.3, 1.0, 0.0], [0.0, 0.2, -0.6]], dtype=x.dtype)
    return torch.tanh(F.conv2d(x, kernel[None, None], padding=1) / (1 + noise_var))


def _whole_image(x, noise_var):
    """Every output pixel reads the whole image (through its mean), like the IS machine."""
    return torch.tanh(2 * x + x.mean(dim=(1, 2, 3), keepdim=True) ** 2 / noise_var)


def _influence_cases(seed):
    """6 x 7 images (non-square, so a transposed map shows); output pixels inside and on the border."""
    gen = torch.Generator().manual_seed(4000 + seed)
    settings = ((_box_blur, 0.5, 2, 3, 0.1), (_lopsided_tanh, 0.3, 0, 5, -0.5),
                (_whole_image, 0.2, 4, 1, 1.0), (_lopsided_tanh, 0.7, 5, 2, 0.05))
    return [{"denoiser": denoiser, "x": torch.randn(1, 1, 6, 7, generator=gen, dtype=torch.float64),
             "noise_var": noise_var, "row": row, "col": col, "delta": delta}
            for denoiser, noise_var, row, col, delta in settings]


def _influence(denoiser, x, noise_var, row, col, delta, absolute=True, baseline=True, rate=False,
               every_output=False, accumulate=False):
    height, width = x.shape[2:]
    pixels = height * width
    nudged = x.repeat(pixels, 1, 1, 1)
    nudges = torch.eye(pixels, dtype=x.dtype) * delta
    if accumulate:  # the nudges of earlier pixels never undone
        nudges = nudges.cumsum(0)
    nudged = nudged + nudges.reshape(pixels, 1, height, width)
    out, base = denoiser(nudged, noise_var), denoiser(x, noise_var)
    if every_output:
        change = (out - base * baseline).sum(dim=(1, 2, 3))
    else:
        change = out[:, 0, row, col] - base[0, 0, row, col] * baseline
    change = change.abs() if absolute else change
    return (change / delta if rate else change).reshape(height, width)


@exercise("04.influence_map", name="influence_map", cases=_influence_cases, points=2,
          hint="copy x, nudge one input pixel q by delta, denoise, and record how far output "
               "pixel (row, col) moved from its value for the untouched x; the map holds that "
               "change for every q, laid out like the image",
          formula="map[q] = |D(x + delta e_q)[row, col] - D(x)[row, col]|, e_q the image that "
                  "is 1 at pixel q and 0 elsewhere; shape (H, W)",
          hidden_cases=lambda: _influence_cases(55),
          mistakes=[
              Mistake("no abs(): the signed change, not how far the output moved",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, row, col, delta, absolute=False)),
              Mistake("D(x) not subtracted: the output itself, not its change",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, row, col, delta, baseline=False)),
              Mistake("divided by delta: the map is the change itself, not a derivative",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, row, col, delta, rate=True)),
              Mistake("the change of every output pixel summed, not of output pixel (row, col) alone",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, row, col, delta, every_output=True)),
              Mistake("nudges pile up: each pixel was nudged on the same copy of x without undoing "
                      "the previous nudge (x.clone() for each pixel)",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, row, col, delta, accumulate=True)),
              Mistake("row and col swapped: output pixel (col, row) was read",
                      lambda denoiser, x, noise_var, row, col, delta:
                      _influence(denoiser, x, noise_var, col, row, delta)),
          ])
def influence_map(denoiser, x, noise_var, row, col, delta):
    """denoiser(x, b), (1, 1, H, W) x, float b, output pixel, float delta -> (H, W) |change of D(x)[row, col]| per nudged input pixel."""
    return _influence(denoiser, x, noise_var, row, col, delta)


def _windows(images, k, mode="constant"):
    """(N, C, H, W) -> (N, H*W, C*k*k) zero-padded (or circular) windows centred on every pixel."""
    r = k // 2
    return F.unfold(F.pad(images, (r, r, r, r), mode=mode), k).transpose(1, 2)


LOCAL_CASES = ((1.0, 3), (0.3, 7), (1e-4, 1), (0.05, 5))  # (b, k): b = 1, tiny b, k = 1, k > H
HIDDEN_LOCAL_CASES = ((1.0, 5), (0.5, 7), (1e-5, 3), (0.2, 1))


def _local_cases(seed, settings=LOCAL_CASES):
    gen = torch.Generator().manual_seed(4100 + seed)
    cases = []
    for noise_var, k in settings:
        train = torch.rand(5, 1, 6, 6, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(2, 1, 6, 6, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var, "k": k})
    return cases


def _local(x, train, noise_var, k, mode="constant", a=None, temperature=None, dim=2, naive=False,
           scaled_centres=False):
    a = (1 - noise_var) ** 0.5 if a is None else a
    temperature = 2 * noise_var if temperature is None else temperature
    queries, patches = _windows(x, k, mode), _windows(train, k, mode)     # (B, P, kk), (N, P, kk)
    d2 = ((queries[:, :, None] - a * patches.transpose(0, 1)[None]) ** 2).sum(-1)  # (B, P, N)
    if naive:
        weights = torch.exp(-d2 / temperature)
        weights = weights / weights.sum(dim, keepdim=True)
    else:
        weights = torch.softmax(-d2 / temperature, dim=dim)
    centres = train.flatten(1).T * (a if scaled_centres else 1)          # (P, N)
    return (weights * centres[None]).sum(-1).reshape(x.shape)


@exercise("04.local_denoiser", name="local_denoiser", cases=_local_cases, points=3,
          hint="one softmax per pixel, over the training images: pixel p trusts digit mu as much "
               "as mu's k x k window at p explains x's window at p (zero padding at the edges); "
               "then average the digits' centre pixels",
          formula="D_p(x) = sum over mu of w_mu(p) phi_mu(p), w_mu(p) = softmax over "
                  "mu of -|x_[p] - a phi_mu,[p]|^2 / (2 b), with x_[p] the "
                  "zero-padded k x k window around p and a = sqrt(1 - b)",
          hidden_cases=lambda: _local_cases(77, HIDDEN_LOCAL_CASES),
          mistakes=[
              Mistake("circular padding instead of zero padding",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k, mode="circular")),
              Mistake("temperature b instead of 2b in the exponent",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k,
                                                            temperature=noise_var)),
              Mistake("a = 1: the training windows are not scaled by sqrt(1 - b)",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k, a=1.0)),
              Mistake("softmax over the pixels instead of over the training images",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k, dim=1)),
              Mistake("exp() then a division: exp underflows to 0 at small b and 0/0 = NaN; "
                      "use torch.softmax",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k, naive=True)),
              Mistake("the average of the scaled pixels a * phi instead of the clean phi",
                      lambda x, train, noise_var, k: _local(x, train, noise_var, k,
                                                            scaled_centres=True)),
          ])
def local_denoiser(x, train, noise_var, k):
    """(B, 1, H, W) noisy, (N, 1, H, W) training, float b, odd k -> (B, 1, H, W) LS estimate."""
    return _local(x, train, noise_var, k)


def _nlm_cases(seed, hs=(0.05, 1.0, 5.0)):
    gen = torch.Generator().manual_seed(4200 + seed)
    cases = []
    for h, k in zip(hs, (3, 5, 3)):
        y = torch.randn(2, 1, 6, 6, generator=gen, dtype=torch.float64)
        cases.append({"y": y, "k": k, "h": h})
    return cases


def _nlm(y, k, h, mode="constant", temperature=None, dim=2):
    temperature = h ** 2 if temperature is None else temperature
    windows = _windows(y, k, mode)                                        # (B, P, kk)
    weights = torch.softmax(-torch.cdist(windows, windows) ** 2 / temperature, dim=dim)
    return (weights @ y.flatten(2).transpose(1, 2)).reshape(y.shape)


@exercise("04.nonlocal_means", name="nonlocal_means", cases=_nlm_cases, points=2,
          hint="the noisy image is its own patch library: every pixel q of the same image votes "
               "for p with a weight that falls with the distance between their zero-padded "
               "windows; the weights over q sum to 1",
          formula="y_hat_p = sum over q of w_pq y_q, w_pq = softmax over q of -|y_[p] "
                  "- y_[q]|^2 / h^2, with y_[p] the zero-padded k x k window around p",
          hidden_cases=lambda: _nlm_cases(55, hs=(0.1, 0.5, 2.0)),
          mistakes=[
              Mistake("h instead of h**2 under the distance", lambda y, k, h: _nlm(y, k, h, temperature=h)),
              Mistake("2 h^2 instead of h^2 under the distance",
                      lambda y, k, h: _nlm(y, k, h, temperature=2 * h ** 2)),
              Mistake("circular padding instead of zero padding",
                      lambda y, k, h: _nlm(y, k, h, mode="circular")),
              Mistake("softmax over the wrong axis (over p, not over the voting pixels q)",
                      lambda y, k, h: _nlm(y, k, h, dim=1)),
          ])
def nonlocal_means(y, k, h):
    """(B, 1, H, W) noisy images, odd k, float h -> (B, 1, H, W): each pixel a patch-weighted mean of the image."""
    return _nlm(y, k, h)
