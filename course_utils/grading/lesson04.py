"""Lesson 04, locality: receptive fields, the local score machine, non-local means."""
import math

import torch
import torch.nn.functional as F

from .core import Mistake, compare_int, exercise


def _field_cases(seed):
    gen = torch.Generator().manual_seed(4000 + seed)
    random = [int(k) for k in 2 * torch.randint(0, 4, (5,), generator=gen) + 1]
    return [{"kernel_sizes": [3, 3, 3, 3]}, {"kernel_sizes": [5, 3, 1]}, {"kernel_sizes": random},
            {"kernel_sizes": [7]}, {"kernel_sizes": []}]


def receptive_field_checks():
    """The grading of every exercise that asks for a receptive field (lessons 04 and 06)."""
    mistakes = [
        Mistake("the sum of the kernel sizes: consecutive layers overlap, each adds only k - 1",
                lambda kernel_sizes: sum(kernel_sizes)),
        Mistake("off by one: the centre pixel itself (the 1 in 1 + sum(k - 1)) is missing",
                lambda kernel_sizes: sum(k - 1 for k in kernel_sizes)),
        Mistake("half-widths: each layer adds k - 1 pixels in all, (k - 1) / 2 on each side",
                lambda kernel_sizes: 1 + sum((k - 1) // 2 for k in kernel_sizes)),
        Mistake("the product of the kernel sizes: fields add up, they do not multiply",
                lambda kernel_sizes: math.prod(kernel_sizes)),
        Mistake("every layer taken to have the first layer's kernel size",
                lambda kernel_sizes: 1 + len(kernel_sizes) * (kernel_sizes[0] - 1)),
    ]
    return dict(points=1, compare=compare_int, mistakes=mistakes,
                hint="one pixel sees 1 pixel; each stride-1 layer widens what it sees on both "
                     "sides; an empty stack sees only itself. Return an int",
                formula="field = 1 + sum over the layers of (k - 1)")


@exercise("04.receptive_field", name="receptive_field", cases=_field_cases, **receptive_field_checks())
def receptive_field(kernel_sizes):
    """list of odd kernel sizes of stacked stride-1 convolutions -> side of the receptive field (int)."""
    return 1 + sum(k - 1 for k in kernel_sizes)


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
