"""Lesson 04, locality: receptive fields, the local score machine, non-local means."""
import torch
import torch.nn.functional as F

from .core import exercise


def _field_cases(seed):
    gen = torch.Generator().manual_seed(4000 + seed)
    random = [int(k) for k in 2 * torch.randint(0, 4, (5,), generator=gen) + 1]
    return [{"kernel_sizes": [3, 3, 3, 3]}, {"kernel_sizes": [5, 3, 1]}, {"kernel_sizes": random}]


@exercise("04.receptive_field", name="receptive_field", cases=_field_cases, points=1,
          hint="each stride-1 layer of kernel size k widens the field by k - 1 pixels; "
               "a single pixel has a field of 1")
def receptive_field(kernel_sizes):
    """list of odd kernel sizes of stacked stride-1 convolutions -> side of the receptive field (int)."""
    return 1 + sum(k - 1 for k in kernel_sizes)


def _windows(images, k):
    """(N, C, H, W) -> (N, H*W, C*k*k) zero-padded windows centred on every pixel."""
    return F.unfold(images, k, padding=k // 2).transpose(1, 2)


def _local_cases(seed, noise_vars=(0.8, 0.3, 0.02), ks=(3, 5, 1)):
    gen = torch.Generator().manual_seed(4100 + seed)
    cases = []
    for noise_var, k in zip(noise_vars, ks):
        train = torch.rand(5, 1, 6, 6, generator=gen, dtype=torch.float64) * 2 - 1
        x = torch.randn(2, 1, 6, 6, generator=gen, dtype=torch.float64)
        cases.append({"x": x, "train": train, "noise_var": noise_var, "k": k})
    return cases


@exercise("04.local_denoiser", name="local_denoiser", cases=_local_cases, points=3,
          hint="unfold x and train into (B, H*W, k*k) and (N, H*W, k*k) windows "
               "(F.unfold(..., k, padding=k // 2)); logits per (b, pixel, mu) = "
               "-|x_win - a train_win|^2 / (2 b); softmax over mu; weight the centre pixels",
          hidden_cases=lambda: _local_cases(77, noise_vars=(1e-4, 0.5, 1.0), ks=(3, 7, 3)))
def local_denoiser(x, train, noise_var, k):
    """(B, 1, H, W) noisy, (N, 1, H, W) training, float b, odd k -> (B, 1, H, W) LS estimate."""
    a = (1 - noise_var) ** 0.5
    queries, patches = _windows(x, k), _windows(train, k)          # (B, P, kk), (N, P, kk)
    d2 = ((queries[:, :, None] - a * patches.transpose(0, 1)[None]) ** 2).sum(-1)  # (B, P, N)
    weights = torch.softmax(-d2 / (2 * noise_var), dim=2)
    centres = train.flatten(1).T                                     # (P, N)
    return (weights * centres[None]).sum(-1).reshape(x.shape)


def _nlm_cases(seed, hs=(0.5, 1.0, 2.0)):
    gen = torch.Generator().manual_seed(4200 + seed)
    cases = []
    for h, k in zip(hs, (3, 5, 3)):
        y = torch.randn(2, 1, 6, 6, generator=gen, dtype=torch.float64)
        cases.append({"y": y, "k": k, "h": h})
    return cases


@exercise("04.nonlocal_means", name="nonlocal_means", cases=_nlm_cases, points=2,
          hint="the same windows for queries and library: d2 between every pair of windows "
               "of one image (torch.cdist), weights = softmax over q of -d2 / h**2, then "
               "average the centre pixels y_q",
          hidden_cases=lambda: _nlm_cases(55, hs=(0.05, 0.2, 5.0)))
def nonlocal_means(y, k, h):
    """(B, 1, H, W) noisy images, odd k, float h -> (B, 1, H, W): each pixel a patch-weighted mean of the image."""
    windows = _windows(y, k)                                         # (B, P, kk)
    weights = torch.softmax(-torch.cdist(windows, windows) ** 2 / h ** 2, dim=2)
    return (weights @ y.flatten(2).transpose(1, 2)).reshape(y.shape)
