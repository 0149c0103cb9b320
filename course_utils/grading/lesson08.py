"""Lesson 08, six fingers: counting fingertips on an arc, and the rate of wrong hands."""
import torch

from .core import CheckFailed, Mistake, compare_parts, compare_tensors, exercise


def _run_cases(seed):
    gen = torch.Generator().manual_seed(800 + seed)
    cases = [{"profile": torch.rand(6, 40, generator=gen) < p} for p in (0.2, 0.5, 0.8)]
    edge = torch.zeros(6, 12, dtype=torch.bool)
    edge[1, :] = True                 # all set: one closed ring, no crossing -> 0
    edge[2, [0, 11]] = True           # one run that wraps around the end -> 1
    edge[3, [0, 2, 4, 6, 8, 10]] = True
    edge[4, 5:8] = True
    edge[5, 0:3] = True               # a run that starts at index 0 and does not wrap -> 1
    cases.append({"profile": edge})
    return cases


def _compare_counts(answer, expected, case=None):
    if isinstance(answer, torch.Tensor) and answer.is_floating_point():
        raise CheckFailed("return whole numbers: an int64 tensor (e.g. .sum(dim=1) of a bool tensor)")
    if isinstance(answer, torch.Tensor) and answer.dtype != torch.int64:
        raise CheckFailed(f"return an int64 tensor, not {answer.dtype}: .sum(dim=1) of a bool "
                          f"tensor is int64 already; drop the .int() or .to(...)")
    compare_tensors(answer, expected, case)


def _starts(profile):
    return profile[:, 1:] & ~profile[:, :-1]


@exercise("08.count_runs", name="count_runs", cases=_run_cases, points=2, compare=_compare_counts,
          hint="count where a run of True begins; on a circle the pixel before the first one is the "
               "last one, and a ring that is True everywhere has no beginning",
          formula="runs = the number of positions i with p[i] True and p[i - 1] "
                  "False, i - 1 taken around the circle (modulo L); all True gives 0",
          mistakes=[
              Mistake("not circular: a run that wraps around the end is counted twice",
                      lambda profile: _starts(profile).sum(1) + profile[:, 0]),
              Mistake("a run starting at index 0 is missed: on a circle the pixel before index 0 "
                      "is the last one", lambda profile: _starts(profile).sum(1)),
              Mistake("counts the True pixels, not the runs", lambda profile: profile.sum(1)),
              Mistake("counts every change (starts and ends): each run has two",
                      lambda profile: (profile != profile.roll(1, dims=1)).sum(1)),
              Mistake("a ring that is True everywhere counted as one run: it has no start, 0 runs",
                      lambda profile: (profile & ~profile.roll(1, dims=1)).sum(1) + profile.all(1)),
              Mistake("rolled along the batch axis (dims=0) instead of around each circle (dims=1)",
                      lambda profile: (profile & ~profile.roll(1, dims=0)).sum(1)),
          ])
def count_runs(profile):
    """(B, L) bool samples around a closed circle -> (B,) int64 number of runs of True."""
    return (profile & ~profile.roll(1, dims=1)).sum(dim=1)


def _rate_cases(seed):
    gen = torch.Generator().manual_seed(810 + seed)
    cases = [{"counts": torch.randint(-1, 8, (n,), generator=gen)} for n in (10, 37)]
    cases.append({"counts": torch.full((8,), 5)})
    cases.append({"counts": torch.tensor([5, 6, -1, 4])})
    return cases


def _rate(counts, wrong=None, root=0.5, denominator=0):
    wrong = counts != 5 if wrong is None else wrong
    p = wrong.double().mean().item()
    n = len(counts) - denominator
    return p, (p * (1 - p) / n) ** root if n else 0.0


@exercise("08.not_five_rate", name="not_five_rate", cases=_rate_cases, points=1,
          compare=compare_parts("rate", "standard error"),
          hint="the share of samples that are not five-fingered hands (a -1, 'no hand', is not "
               "five either), and the binomial standard error of that share",
          formula="p = fraction of counts != 5; standard error sqrt(p (1 - p) / n) with n the "
                  "number of samples",
          mistakes=[
              Mistake("-1 (no hand) is not counted as not five",
                      lambda counts: _rate(counts, wrong=(counts != 5) & (counts != -1))),
              Mistake("only hands with more than five fingers counted: fewer is not five either",
                      lambda counts: _rate(counts, wrong=counts > 5)),
              Mistake("the rate of five-fingered hands, 1 - p, instead of p",
                      lambda counts: _rate(counts, wrong=counts == 5)),
              Mistake("the standard error lacks its square root: sqrt(p (1 - p) / n)",
                      lambda counts: _rate(counts, root=1.0)),
              Mistake("n - 1 instead of n in the standard error",
                      lambda counts: _rate(counts, denominator=1)),
              Mistake("sqrt(p (1 - p)) is the spread of one sample: divide by n under the root",
                      lambda counts: (_rate(counts)[0], (_rate(counts)[0] * (1 - _rate(counts)[0])) ** 0.5)),
          ])
def not_five_rate(counts):
    """(n,) int finger counts -> (rate, standard error) as floats: how often a hand is not five-fingered."""
    p = (counts != 5).double().mean().item()
    return p, (p * (1 - p) / len(counts)) ** 0.5
