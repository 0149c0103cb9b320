"""Lesson 09, beyond locality: one head of self-attention, and how much of a mosaic a sample keeps."""
import torch

from .core import Mistake, compare_parts, exercise


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


def _attention(tokens, wq, wk, wv, scale=None, dim=-1, naive=False, transposed=False, values=True):
    q, k, v = tokens @ wq, tokens @ wk, tokens @ wv
    scale = wq.shape[1] ** 0.5 if scale is None else scale
    scores = (k @ q.transpose(1, 2) if transposed else q @ k.transpose(1, 2)) / scale
    if naive:
        weights = torch.exp(scores) / torch.exp(scores).sum(dim, keepdim=True)
    else:
        weights = torch.softmax(scores, dim=dim)
    return weights @ (v if values else tokens)


@exercise("09.self_attention", name="self_attention", cases=_attention_cases, points=2,
          hint="every token asks (query) and offers (key) and carries a value; its output is the "
               "average of all values, weighted by a softmax over how well its query matches "
               "each key, scaled so that the match does not grow with the projection width D",
          formula="out = softmax over the keys of (Q K^T / sqrt(D)) V, with Q = "
                  "tokens wq, K = tokens wk, V = tokens wv",
          mistakes=[
              Mistake("no 1 / sqrt(D) scaling of Q K^T",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv, scale=1.0)),
              Mistake("scaled by 1 / D instead of 1 / sqrt(D)",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv, scale=wq.shape[1])),
              Mistake("scaled by sqrt(C), the token width, instead of sqrt(D), the projection width",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv,
                                                            scale=wq.shape[0] ** 0.5)),
              Mistake("softmax over the wrong axis (the queries, dim=1): each query's weights over "
                      "the keys must sum to 1", lambda tokens, wq, wk, wv:
                      _attention(tokens, wq, wk, wv, dim=1)),
              Mistake("K Q^T instead of Q K^T: the scores are transposed",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv, transposed=True)),
              Mistake("exp() then a division: exp overflows to inf for large scores and inf/inf = "
                      "NaN; use torch.softmax",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv, naive=True)),
              Mistake("the weights average the tokens instead of the values V = tokens @ wv",
                      lambda tokens, wq, wk, wv: _attention(tokens, wq, wk, wv, values=False)),
          ])
def self_attention(tokens, wq, wk, wv):
    """(B, L, C) tokens, (C, D) projections -> (B, L, D): one head of scaled dot-product self-attention."""
    return _attention(tokens, wq, wk, wv)


def _overlap_cases(seed):
    gen = torch.Generator().manual_seed(910 + seed)
    cases = [{"sample": torch.rand(5, 1, 8, 8, generator=gen) * 2 - 1,
              "mosaic": torch.rand(5, 1, 8, 8, generator=gen) * 2 - 1}]
    blank = -torch.ones(3, 1, 6, 6)
    ink = blank.clone()
    ink[:, :, 2:4, 1:5] = 1.0
    part = blank.clone()
    part[:, :, 2:4, 1:3] = 0.5
    # a background of exact zeros is no ink: ink is strictly above 0
    zero_ground = torch.zeros(3, 1, 6, 6)
    zero_ground[:, :, 1:3, 2:5] = 1.0
    # an empty sample or mosaic has nothing to compare: the convention is 0, not NaN
    cases.append({"sample": part, "mosaic": ink})
    cases.append({"sample": zero_ground, "mosaic": ink})
    cases.append({"sample": blank, "mosaic": ink})
    cases.append({"sample": ink, "mosaic": blank})
    return cases


def _overlap(sample, mosaic, threshold=0.0, strict=True, clamp=True, union=False):
    a = sample.flatten(1) > threshold if strict else sample.flatten(1) >= threshold
    b = mosaic.flatten(1) > threshold if strict else mosaic.flatten(1) >= threshold
    shared = ((a | b) if union else (a & b)).sum(1).double()
    low = 1 if clamp else 0
    return shared / a.sum(1).clamp(min=low), shared / b.sum(1).clamp(min=low)


@exercise("09.ink_overlap", name="ink_overlap", cases=_overlap_cases, points=2,
          compare=compare_parts("kept", "covered"),
          hint="ink is a pixel strictly above 0; count the pixels inked in both images, as a share "
               "of the sample's ink (kept) and of the mosaic's ink (covered); an image without "
               "ink shares nothing: 0, not NaN",
          formula="ink = pixels > 0; kept = |sample ink AND mosaic ink| / |sample "
                  "ink|, covered = |sample ink AND mosaic ink| / |mosaic ink|, per "
                  "image; 0 where a denominator is 0",
          mistakes=[
              Mistake(">= 0 counts as ink: a pixel of exactly 0 is background, ink is > 0",
                      lambda sample, mosaic: _overlap(sample, mosaic, strict=False)),
              Mistake("kept and covered swapped: kept divides by the sample's ink",
                      lambda sample, mosaic: _overlap(sample, mosaic)[::-1]),
              Mistake("0 / 0 = NaN for an image without ink: the convention is 0 (.clamp(min=1))",
                      lambda sample, mosaic: _overlap(sample, mosaic, clamp=False)),
              Mistake("the union (OR) of the inks instead of the shared ink (AND)",
                      lambda sample, mosaic: _overlap(sample, mosaic, union=True)),
              Mistake("one ratio over the whole batch: return one value per image, shape (B,)",
                      lambda sample, mosaic: tuple(r[0] for r in _overlap(sample.reshape(1, -1),
                                                                          mosaic.reshape(1, -1)))),
          ])
def ink_overlap(sample, mosaic):
    """(B, C, H, W) sample and mosaic -> (kept, covered), each (B,) float: shares of shared ink."""
    return _overlap(sample, mosaic)
