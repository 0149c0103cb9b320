"""Lesson 08, six fingers: counting fingertips on an arc, and the rate of wrong hands."""
import torch

from .core import CheckFailed, compare_tensors, exercise


def _run_cases(seed):
    gen = torch.Generator().manual_seed(800 + seed)
    cases = [{"profile": torch.rand(6, 40, generator=gen) < p} for p in (0.2, 0.5, 0.8)]
    edge = torch.zeros(5, 12, dtype=torch.bool)
    edge[1, :] = True                 # all set: one closed ring, no crossing -> 0
    edge[2, [0, 11]] = True           # one run that wraps around the end -> 1
    edge[3, [0, 2, 4, 6, 8, 10]] = True
    edge[4, 5:8] = True
    cases.append({"profile": edge})
    return cases


def _compare_counts(answer, expected, case=None):
    if isinstance(answer, torch.Tensor) and answer.is_floating_point():
        raise CheckFailed("return whole numbers: an int64 tensor (e.g. .sum(dim=1) of a bool tensor)")
    compare_tensors(answer, expected, case)


@exercise("08.count_runs", name="count_runs", cases=_run_cases, points=2, compare=_compare_counts,
          hint="a run starts where a True follows a False; on a circle the pixel before "
               "index 0 is the last one: compare profile with profile.roll(1, dims=1). "
               "A profile that is True everywhere has no start: 0 runs")
def count_runs(profile):
    """(B, L) bool samples around a closed circle -> (B,) int64 number of runs of True."""
    return (profile & ~profile.roll(1, dims=1)).sum(dim=1)


def _rate_cases(seed):
    gen = torch.Generator().manual_seed(810 + seed)
    cases = [{"counts": torch.randint(-1, 8, (n,), generator=gen)} for n in (10, 37)]
    cases.append({"counts": torch.full((8,), 5)})
    cases.append({"counts": torch.tensor([5, 6, -1, 4])})
    return cases


@exercise("08.not_five_rate", name="not_five_rate", cases=_rate_cases, points=1,
          hint="p = fraction of counts != 5 (a -1, 'no hand', is also not five); "
               "standard error sqrt(p (1 - p) / n) with n the number of samples")
def not_five_rate(counts):
    """(n,) int finger counts -> (rate, standard error) as floats: how often a hand is not five-fingered."""
    p = (counts != 5).double().mean().item()
    return p, (p * (1 - p) / len(counts)) ** 0.5
