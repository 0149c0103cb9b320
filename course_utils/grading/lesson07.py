"""Lesson 07, theory meets practice: the agreement metric and the calibration of k(t)."""
import torch

from .core import CheckFailed, Mistake, compare_tensors, exercise


def _r_cases(seed):
    gen = torch.Generator().manual_seed(700 + seed)
    a = torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    offsets = torch.arange(5, dtype=torch.float64).reshape(5, 1, 1, 1) * 2 + 3.0
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0], dtype=torch.float64).reshape(5, 1, 1, 1)
    b = 0.7 * signs * a + torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64) + offsets
    c = torch.randn(3, 3, 4, 4, generator=gen, dtype=torch.float64)
    return [{"a": a, "b": b}, {"a": c, "b": -2 * c + 1}, {"a": c, "b": c.flip(0) + offsets[:3]}]


def _centred(x, over="sample"):
    if over == "channel":  # each channel by its own mean: right on one channel, wrong on several
        return (x - x.mean(dim=tuple(range(2, x.dim())), keepdim=True)).flatten(1)
    x = x.flatten(1)
    if over == "sample":
        return x - x.mean(1, keepdim=True)
    if over == "batch":
        return x - x.mean()
    if over == "pixel":
        return x - x.mean(0, keepdim=True)
    return x


def _r(a, b, over="sample"):
    a, b = _centred(a, over), _centred(b, over)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def _unbiased_std_r(a, b):
    a, b = _centred(a), _centred(b)
    return (a * b).mean(1) / (a.std(1) * b.std(1))


@exercise("07.pearson_r", name="pearson_r", cases=_r_cases, points=2,
          hint="one r per pair of images: centre each image by its own single mean (over all its "
               "pixels and channels), then the cosine of the angle between the two centred images",
          formula="r = sum (a - a_bar)(b - b_bar) / (|a - a_bar| |b - b_bar|) per "
                  "pair, a_bar the single mean of image a over all its pixels and "
                  "channels",
          mistakes=[
              Mistake("one mean over the whole batch: centre each image by its own mean",
                      lambda a, b: _r(a, b, over="batch")),
              Mistake("no mean subtracted: that is the cosine similarity, not Pearson's r",
                      lambda a, b: _r(a, b, over="none")),
              Mistake("the mean of each pixel across the batch: centre each image by its own mean",
                      lambda a, b: _r(a, b, over="pixel")),
              Mistake("torch.std (with n - 1) under a mean with n: r comes out (n - 1) / n too small",
                      _unbiased_std_r),
              Mistake("only the first channel: r runs over every pixel and channel",
                      lambda a, b: _r(a[:, :1], b[:, :1])),
              Mistake("each channel centred by its own mean: centre each image by one mean over "
                      "all its pixels and channels", lambda a, b: _r(a, b, over="channel")),
              Mistake("the mean of one r per channel: r is one number over all pixels and "
                      "channels together",
                      lambda a, b: torch.stack([_r(a[:, c], b[:, c]) for c in range(a.shape[1])]).mean(0)),
              Mistake("r squared: the official code calls r 'r^2', but the number is r",
                      lambda a, b: _r(a, b) ** 2),
              Mistake("the absolute value |r|: r keeps its sign (an image and its negative give "
                      "r = -1)", lambda a, b: _r(a, b).abs()),
              Mistake("one r for the whole batch: return one value per pair, shape (B,)",
                      lambda a, b: _r(a.reshape(1, -1), b.reshape(1, -1))[0]),
          ])
def pearson_r(a, b):
    """(B, ...) and (B, ...) images -> (B,) Pearson r of each pair over all its pixels and channels."""
    return _r(a, b)


def _k_cases(seed):
    """Odd and even seed counts (the live calibration uses 2, the shipped ones 8)."""
    gen = torch.Generator().manual_seed(710 + seed)
    cases = []
    for (steps, seeds), ks in zip(((4, 4), (6, 2), (3, 3), (3, 1)),
                                  ([3, 5, 7, 9], [3, 5, 7, 9], [1, 3, 5, 7], [3, 5, 7, 9])):
        similarity = torch.rand(steps, 4, seeds, generator=gen, dtype=torch.float64)
        if seeds % 2 == 0:  # the two middle seeds pick different k at step 0
            similarity[0, :, 0] = torch.tensor([0.9, 0.1, 0.2, 0.3], dtype=torch.float64)
            similarity[0, :, -1] = torch.tensor([0.1, 0.2, 0.3, 0.9], dtype=torch.float64)
            if seeds == 4:
                similarity[0, :, 1] = torch.tensor([0.1, 0.9, 0.2, 0.3], dtype=torch.float64)
                similarity[0, :, 2] = torch.tensor([0.1, 0.2, 0.9, 0.3], dtype=torch.float64)
        cases.append({"similarity": similarity, "ks": ks})
    return cases


def _compare_schedule(answer, expected, case=None):
    if isinstance(answer, (list, tuple)):  # the library's own schedules are lists of ints
        if not all(isinstance(k, (int, float)) and not isinstance(k, bool) for k in answer):
            raise CheckFailed("return the schedule as a (steps,) tensor or a list of ints")
        answer = torch.tensor(answer)
    compare_tensors(answer, expected, case)


def _schedule(similarity, ks, pick="argmax", middle="lower", give="k"):
    index = similarity.argmax(dim=1) if pick == "argmax" else similarity.argmin(dim=1)
    best = index if give == "index" else torch.as_tensor(ks)[index]
    ordered = best.sort(dim=1).values
    count = best.shape[1]
    if middle == "lower":
        return ordered[:, (count - 1) // 2]
    if middle == "upper":
        return ordered[:, count // 2]
    if middle == "interpolated":
        return (ordered[:, (count - 1) // 2] + ordered[:, count // 2]).double() / 2
    return best.double().mean(dim=1)


@exercise("07.calibrated_schedule", name="calibrated_schedule", cases=_k_cases, points=2,
          compare=_compare_schedule,
          hint="for every (step, seed) find the patch size with the highest similarity, then take "
               "per step the middle one over seeds; with an even number of seeds, the lower middle",
          formula="best(step, seed) = ks[j*] with j* the j of the highest "
                  "similarity[step, j, seed]; schedule(step) = the lower median over "
                  "seeds of best(step, seed)",
          mistakes=[
              Mistake("the upper middle value for an even number of seeds: take the lower one "
                      "(torch.median)", lambda similarity, ks: _schedule(similarity, ks, middle="upper")),
              Mistake("the interpolated median (mean of the two middle values) for an even number "
                      "of seeds: take the lower one (torch.median)",
                      lambda similarity, ks: _schedule(similarity, ks, middle="interpolated")),
              Mistake("the mean over seeds instead of the median",
                      lambda similarity, ks: _schedule(similarity, ks, middle="mean")),
              Mistake("the index of the best patch size instead of the patch size ks[index]",
                      lambda similarity, ks: _schedule(similarity, ks, give="index")),
              Mistake("argmin: the best k has the highest similarity",
                      lambda similarity, ks: _schedule(similarity, ks, pick="argmin")),
              Mistake("argmax over the seeds (dim=2) instead of over the patch sizes (dim=1)",
                      lambda similarity, ks: torch.as_tensor(ks)[similarity.argmax(dim=2)]
                      .median(dim=1).values),
          ])
def calibrated_schedule(similarity, ks):
    """(steps, K, S) cosine similarities for patch sizes ``ks`` -> (steps,) int64 median best k."""
    best = torch.as_tensor(ks)[similarity.argmax(dim=1)]
    return best.median(dim=1).values


def _shift_cases(seed):
    """Later and earlier by one, by more than one, no shift, a short schedule."""
    gen = torch.Generator().manual_seed(720 + seed)
    ks = (1 + 2 * torch.randint(1, 8, (20,), generator=gen)).sort().values.tolist()
    short = (1 + 2 * torch.randint(1, 6, (5,), generator=gen)).tolist()
    return [{"ks": ks, "shift": 1}, {"ks": ks, "shift": -1}, {"ks": short, "shift": 2},
            {"ks": short, "shift": -3}, {"ks": ks, "shift": 0}]


def _shifted(ks, shift, edge="hold", direction=1, length="same"):
    n = len(ks)
    if edge == "wrap":
        return [ks[(i - direction * shift) % n] for i in range(n)]
    if edge == "first":
        return [ks[i - shift] if 0 <= i - shift < n else ks[0] for i in range(n)]
    out = [ks[min(max(i - direction * shift, 0), n - 1)] for i in range(n)]
    if length == "padded" and shift > 0:
        return [ks[0]] * shift + list(ks)
    return out


def _compare_ks(answer, expected, case=None):
    if isinstance(answer, torch.Tensor):
        answer = answer.tolist()
    if not isinstance(answer, (list, tuple)) or not all(
            isinstance(k, int) and not isinstance(k, bool) for k in answer):
        raise CheckFailed("return the schedule as a list of ints, one patch size per step")
    if len(answer) != len(expected):
        raise CheckFailed(f"got {len(answer)} patch sizes, expected {len(expected)}: a shifted "
                          f"schedule has as many steps as the original")
    if list(answer) != list(expected):
        raise CheckFailed(f"got {list(answer)}, expected {list(expected)}")


@exercise("07.shifted_schedule", name="shifted_schedule", cases=_shift_cases, points=1,
          compare=_compare_ks,
          hint="step i takes the patch size the original gives step i - shift; a step with no such "
               "partner (before the first or after the last) keeps the end value; the length "
               "stays the same",
          formula="new[i] = ks[i - shift], the index held inside 0 .. len(ks) - 1",
          mistakes=[
              Mistake("the values wrapped around (like torch.roll): at the ends hold the first or "
                      "last patch size instead",
                      lambda ks, shift: _shifted(ks, shift, edge="wrap")),
              Mistake("shifted the other way: new[i] takes ks[i - shift], so shift = 1 moves "
                      "every patch size one step later",
                      lambda ks, shift: _shifted(ks, shift, direction=-1)),
              Mistake("every step without a partner got the first patch size: a step past the "
                      "last one keeps the last patch size",
                      lambda ks, shift: _shifted(ks, shift, edge="first")),
              Mistake("the schedule grew: padding at one end must be matched by cutting the other",
                      lambda ks, shift: _shifted(ks, shift, length="padded")),
          ])
def shifted_schedule(ks, shift):
    """List of patch sizes per step, int shift -> list: new[i] = ks[i - shift], ends held."""
    return _shifted(ks, shift)
