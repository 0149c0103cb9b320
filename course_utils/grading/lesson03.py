"""Lesson 03, diffusion from scratch: a DDIM step, the effective number of training images, memorisation ranked."""

import torch

from .core import Mistake, exercise

def _trajectory(gen, steps, batch, channels, height, width, n_train, noise_vars):
    """A random training set and states near it: xs (T, B, C, H, W), noise_vars (T,), train (N, C, H, W)."""
    # training images close together, so that the weights spread at moderate noise
    train = (torch.rand(n_train, channels, height, width, generator=gen, dtype=torch.float64) * 2 - 1) / 2
    levels = torch.tensor(noise_vars, dtype=torch.float64)
    targets = train[torch.randint(n_train, (batch,), generator=gen)]
    # the first sample heads for a blend of two training images: far from both, so that at
    # tiny b every exp() underflows
    targets[0] = (train[0] + train[1]) / 2
    eps = torch.randn(steps, batch, channels, height, width, generator=gen, dtype=torch.float64)
    a, b = (1 - levels).sqrt(), levels.sqrt()
    xs = a[:, None, None, None, None] * targets[None] + b[:, None, None, None, None] * eps
    return {"xs": xs, "noise_vars": levels, "train": train}


# (T, B, C, H, W, N, noise variances): b = 1 (all weigh the same), tiny b (exp underflows),
# a batch of one, C > 1, non-square images, a single state
COUNT_CASES = ((3, 4, 1, 4, 4, 6, (1.0, 0.3, 1e-4)), (2, 1, 3, 3, 5, 5, (0.95, 0.05)),
               (4, 2, 1, 4, 4, 8, (0.9, 0.5, 0.1, 0.00016)), (1, 3, 2, 2, 3, 4, (0.5,)))
HIDDEN_COUNT_CASES = ((3, 2, 1, 4, 4, 7, (1.0, 0.2, 1e-5)), (2, 1, 3, 5, 3, 6, (0.8, 0.01)),
                      (1, 4, 1, 3, 3, 5, (0.4,)))


def _count_cases(seed, settings=COUNT_CASES):
    gen = torch.Generator().manual_seed(3000 + seed)
    return [_trajectory(gen, *setting) for setting in settings]


def _counts(xs, noise_vars, train, a=None, temperature=None, naive=False, dim=1, reduce="inverse",
            flip=False, channels=None):
    """Lesson 03's N_eff along trajectories, and the variants its mistakes make."""
    levels = noise_vars.flip(0) if flip else noise_vars
    phi = train[:, :channels].flatten(1)
    counts = []
    for x, b in zip(xs, levels.tolist()):
        scale = (1 - b) ** 0.5 if a is None else a
        logits = -torch.cdist(x[:, :channels].flatten(1), scale * phi) ** 2 / (temperature or 2) / b
        if naive:
            w = torch.exp(logits)
            w = w / w.sum(dim, keepdim=True)
        else:
            w = torch.softmax(logits, dim=dim)
        counts.append({"inverse": lambda: 1 / (w ** 2).sum(1), "square": lambda: (w ** 2).sum(1),
                       "sum": lambda: 1 / w.sum(1), "max": lambda: 1 / w.max(1).values,
                       "entropy": lambda: torch.exp(-(w * torch.log(w.clamp_min(1e-300))).sum(1)),
                       }[reduce]())
    return torch.stack(counts)


@exercise("03.effective_counts", name="effective_counts", cases=_count_cases, points=2,
          hint="at each state of the trajectory, first compute the ideal denoiser's weights over "
               "the training images at that state's own noise level (a softmax, as in section 3), "
               "then turn the weights of each sample into one number that is N when they are all "
               "equal and 1 when one image takes everything",
          formula="for each step i and sample: w_mu = softmax over mu of -|x - sqrt(1 - b_i) phi_mu|^2 "
                  "/ (2 b_i), |.| over every pixel and channel; N_eff = 1 / sum_mu w_mu^2",
          hidden_cases=lambda: _count_cases(99, HIDDEN_COUNT_CASES),
          mistakes=[
              Mistake("exp() then a division: exp underflows to 0 at small b and 0/0 = NaN; "
                      "use torch.softmax", lambda xs, noise_vars, train: _counts(xs, noise_vars, train, naive=True)),
              Mistake("temperature b instead of 2b in the exponent",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, temperature=1)),
              Mistake("a = 1: the training images are not scaled by sqrt(1 - b)",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, a=1.0)),
              Mistake("softmax over the wrong axis (the samples, not the training images)",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, dim=0)),
              Mistake("sum of w^2 without the inverse: that is 1 / N_eff",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, reduce="square")),
              Mistake("1 / sum of w: the weights always sum to 1, so this is always 1; square them",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, reduce="sum")),
              Mistake("1 / (largest weight): it counts only the winner's share; use every weight "
                      "(1 / sum of w^2)", lambda xs, noise_vars, train: _counts(xs, noise_vars, train, reduce="max")),
              Mistake("exp(entropy) is another effective number; this exercise asks for 1 / sum of w^2",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, reduce="entropy")),
              Mistake("each state is paired with the wrong noise level (noise_vars reversed): "
                      "state i has noise variance noise_vars[i]",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, flip=True)),
              Mistake("only the first channel is compared: use every channel (flatten(1))",
                      lambda xs, noise_vars, train: _counts(xs, noise_vars, train, channels=1)),
          ])
def effective_counts(xs, noise_vars, train):
    """(T, B, C, H, W) states, (T,) noise variances, (N, C, H, W) training -> (T, B) N_eff."""
    return _counts(xs, noise_vars, train)


# (B, C, H, W, N, M): a sample that is an exact copy, a batch of one, C > 1, non-square
# images, a single held-out image
RANK_CASES = ((4, 1, 4, 4, 6, 5), (1, 3, 3, 5, 5, 1), (5, 1, 4, 4, 7, 8), (3, 2, 2, 3, 4, 6))
HIDDEN_RANK_CASES = ((6, 1, 4, 4, 5, 9), (2, 3, 5, 3, 6, 1), (3, 1, 3, 3, 8, 4))


def _rank_cases(seed, settings=RANK_CASES):
    gen = torch.Generator().manual_seed(3100 + seed)
    cases = []
    for batch, channels, height, width, n_train, n_held in settings:
        def images(count, spread):
            return torch.randn(count, channels, height, width, generator=gen, dtype=torch.float64) * spread

        train = images(n_train, 1.0)
        # held-out images near the training images, samples at every distance: exact copies,
        # near copies, as near as the held-out images, and far away
        near = train[torch.randint(n_train, (n_held,), generator=gen)]
        held_out = near + images(n_held, 0.5)
        spreads = torch.tensor([0.0, 0.05, 0.5, 2.0], dtype=torch.float64)[torch.arange(batch) % 4]
        samples = train[torch.randint(n_train, (batch,), generator=gen)]
        samples = samples + images(batch, 1.0) * spreads[:, None, None, None]
        cases.append({"samples": samples, "train": train, "held_out": held_out})
    return cases


def _rank(samples, train, held_out, reduce="min", compare="share", against=None, channels=None,
          farther=False):
    """Lesson 03's memorisation rank, and the variants its mistakes make."""
    def dist(images, reference):
        d = torch.cdist(images[:, :channels].flatten(1), reference[:, :channels].flatten(1))
        return d.min(1).values if reduce == "min" else d.mean(1)

    yardstick = dist(held_out, train)
    own = dist(samples, held_out if against == "held_out" else train)
    if compare == "median":
        return (yardstick.median() < own).double()
    below = (yardstick[None, :] > own[:, None]) if farther else (yardstick[None, :] < own[:, None])
    return below.double().sum(1) if compare == "count" else below.double().mean(1)


@exercise("03.held_out_rank", name="held_out_rank", cases=_rank_cases, points=2,
          hint="two steps: how far is each image from its nearest training image, and then, for "
               "each sample, what share of the held-out images are nearer to the training set "
               "than the sample is",
          formula="d(y) = min over training images phi of |y - phi| (any distance that grows with "
                  "|y - phi| gives the same rank); rank(sample) = (number of held-out h with "
                  "d(h) < d(sample)) / (number of held-out images)",
          hidden_cases=lambda: _rank_cases(99, HIDDEN_RANK_CASES),
          mistakes=[
              Mistake("the share of held-out images *farther* from the training set: count those "
                      "nearer (a copy must score 0)",
                      lambda samples, train, held_out: _rank(samples, train, held_out, farther=True)),
              Mistake("a count, not a share: divide by the number of held-out images",
                      lambda samples, train, held_out: _rank(samples, train, held_out, compare="count")),
              Mistake("compared with the held-out median only (0 or 1): rank against every held-out "
                      "distance", lambda samples, train, held_out: _rank(samples, train, held_out,
                                                                         compare="median")),
              Mistake("the mean distance to all training images, not the distance to the nearest one",
                      lambda samples, train, held_out: _rank(samples, train, held_out, reduce="mean")),
              Mistake("the samples are measured against the held-out images, not the training set",
                      lambda samples, train, held_out: _rank(samples, train, held_out, against="held_out")),
              Mistake("only the first channel is compared: use every channel (flatten(1))",
                      lambda samples, train, held_out: _rank(samples, train, held_out, channels=1)),
          ])
def held_out_rank(samples, train, held_out):
    """(B, C, H, W) samples, (N, C, H, W) training, (M, C, H, W) held-out -> (B,) share of held-out nearer."""
    return _rank(samples, train, held_out)


def _step_cases(seed):
    gen = torch.Generator().manual_seed(3200 + seed)
    cases = []
    for b, b_prev, channels in ((0.99, 0.9, 1), (0.5, 0.3, 3), (0.05, 1e-4, 1)):
        x = torch.randn(2, channels, 4, 4, generator=gen, dtype=torch.float64)
        denoised = torch.rand(2, channels, 4, 4, generator=gen, dtype=torch.float64) * 2 - 1
        cases.append({"x": x, "denoised": denoised, "noise_var": b, "noise_var_prev": b_prev})
    return cases


def _ddim(x, denoised, noise_var, noise_var_prev, a=None, root=0.5, renoise_root=0.5, reuse_x=False):
    a = (1 - noise_var) ** 0.5 if a is None else a
    eps = x if reuse_x else (x - a * denoised) / noise_var ** root
    return (1 - noise_var_prev) ** renoise_root * denoised + noise_var_prev ** renoise_root * eps


@exercise("03.ddim_step", name="ddim_step", cases=_step_cases, points=2,
          hint="first read off the noise the denoiser believes is in x, then mix the clean "
               "estimate with that same noise at the lower noise level b_prev",
          formula="eps_hat = (x - sqrt(1 - b) * denoised) / sqrt(b); then "
                  "x_prev = sqrt(1 - b_prev) * denoised + sqrt(b_prev) * eps_hat",
          mistakes=[
              Mistake("b and b_prev swapped", lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var_prev, noise_var)),
              Mistake("eps_hat divides by b instead of sqrt(b)",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, root=1.0)),
              Mistake("a = 1 in eps_hat: subtract sqrt(1 - b) * denoised, not denoised",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, a=1.0)),
              Mistake("x itself is re-noised instead of the estimated noise eps_hat",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, reuse_x=True)),
              Mistake("no square roots when re-noising: (1 - b_prev) and b_prev weigh variances",
                      lambda x, denoised, noise_var, noise_var_prev:
                      _ddim(x, denoised, noise_var, noise_var_prev, renoise_root=1.0)),
          ])
def ddim_step(x, denoised, noise_var, noise_var_prev):
    """(B, C, H, W) x at noise b and its denoised estimate -> (B, C, H, W) x at noise b_prev."""
    return _ddim(x, denoised, noise_var, noise_var_prev)
