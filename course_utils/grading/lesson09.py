"""Lesson 09, beyond locality: one head of self-attention, and how much of a mosaic a sample keeps."""
import torch

from .core import CheckFailed, compare_tensors, exercise


def _attention_cases(seed):
    gen = torch.Generator().manual_seed(900 + seed)
    cases = []
    for batch, length, channels, dim in ((2, 16, 4, 3), (1, 36, 8, 8), (3, 5, 2, 6)):
        cases.append({"tokens": torch.randn(batch, length, channels, generator=gen),
                      "wq": torch.randn(channels, dim, generator=gen),
                      "wk": torch.randn(channels, dim, generator=gen),
                      "wv": torch.randn(channels, dim, generator=gen)})
    # large logits: exp overflows unless the softmax subtracts its maximum
    big = torch.randn(1, 9, 4, generator=gen)
    cases.append({"tokens": 30 * big, "wq": torch.eye(4), "wk": torch.eye(4), "wv": torch.eye(4)})
    return cases


@exercise("09.self_attention", name="self_attention", cases=_attention_cases, points=2,
          hint="Q = tokens @ wq, K = tokens @ wk, V = tokens @ wv; weights = softmax over the "
               "last axis of Q K^T / sqrt(D) (torch.softmax, dim=-1); return weights @ V")
def self_attention(tokens, wq, wk, wv):
    """(B, L, C) tokens, (C, D) projections -> (B, L, D): one head of scaled dot-product self-attention."""
    q, k, v = tokens @ wq, tokens @ wk, tokens @ wv
    weights = torch.softmax(q @ k.transpose(1, 2) / wq.shape[1] ** 0.5, dim=-1)
    return weights @ v


def _overlap_cases(seed):
    gen = torch.Generator().manual_seed(910 + seed)
    cases = [{"sample": torch.rand(5, 1, 8, 8, generator=gen) * 2 - 1,
              "mosaic": torch.rand(5, 1, 8, 8, generator=gen) * 2 - 1}]
    blank = -torch.ones(3, 1, 6, 6)
    ink = blank.clone()
    ink[:, :, 2:4, 1:5] = 1.0
    part = blank.clone()
    part[:, :, 2:4, 1:3] = 0.5
    # an empty sample or mosaic has nothing to compare: the convention is 0, not NaN
    cases.append({"sample": part, "mosaic": ink})
    cases.append({"sample": blank, "mosaic": ink})
    cases.append({"sample": ink, "mosaic": blank})
    return cases


def _compare_overlap(answer, expected, case=None):
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise CheckFailed("return a pair (kept, covered) of (B,) tensors")
    names = ("kept", "covered")
    for name, got, want in zip(names, answer, expected):
        try:
            compare_tensors(got, want, case)
        except CheckFailed as err:
            raise CheckFailed(f"{name}: {err}") from None


@exercise("09.ink_overlap", name="ink_overlap", cases=_overlap_cases, points=2,
          compare=_compare_overlap,
          hint="ink = pixels > 0; kept = |sample ink AND mosaic ink| / |sample ink|, covered = "
               "|sample ink AND mosaic ink| / |mosaic ink|, per image (sum over C, H, W); "
               "where a denominator is 0 return 0 (e.g. divide by .clamp(min=1))")
def ink_overlap(sample, mosaic):
    """(B, C, H, W) sample and mosaic -> (kept, covered), each (B,) float: shares of shared ink."""
    a, b = sample.flatten(1) > 0, mosaic.flatten(1) > 0
    both = (a & b).sum(1).double()
    return both / a.sum(1).clamp(min=1), both / b.sum(1).clamp(min=1)
