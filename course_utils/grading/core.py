"""Exercise registry, comparisons and the in-notebook ``check``."""
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

_REGISTRY = {}
GRADING_SEEDS = (1, 2, 3)  # the grader's cases; seed 0 is what ``check`` shows
STRICT_ENV = "COURSE_GRADING_STRICT"  # set to 1 where nbgrader autogrades: check() raises


class CheckFailed(AssertionError):
    """An answer is wrong; the message says how, in words a student can act on."""


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    ``cases(seed)`` returns a list of keyword-argument dicts (function exercises) or
    ``[{}]`` (value exercises); ``reference(**case)`` is the solution;
    ``compare(answer, expected, case)`` raises CheckFailed. seed 0 is what ``check``
    shows the student; the grader uses other seeds and ``hidden_cases``.
    """

    id: str
    name: str
    reference: Callable
    cases: Callable[[int], list]
    points: int = 1
    kind: str = "function"
    compare: Callable = field(default=None)
    hint: str = ""
    hidden_cases: Callable[[], list] = None

    def grading_cases(self, seeds=GRADING_SEEDS):
        """The cases the grader scores: ``cases(seed)`` for each seed, then the hidden cases.

        Generated with a fixed global seed and float32 default dtype, so that the grader
        and the kernel that ran the submission build identical cases."""
        if self.kind != "function":
            return [{}]
        with torch.random.fork_rng(devices=[]):
            dtype = torch.get_default_dtype()
            torch.set_default_dtype(torch.float32)
            try:
                cases = []
                for seed in seeds:
                    torch.manual_seed(seed)
                    cases += self.cases(seed)
                if self.hidden_cases is not None:
                    torch.manual_seed(0)
                    cases += self.hidden_cases()
            finally:
                torch.set_default_dtype(dtype)
        return cases

    def expected(self, case):
        return self.reference(**case) if self.kind == "function" else self.reference()

    def run(self, answer, case):
        return answer(**case) if self.kind == "function" else answer


def exercise(id, name, cases, points=1, kind="function", compare=None, hint="", hidden_cases=None):
    """Decorator registering ``reference`` as the solution of exercise ``id``.

    ``hidden_cases()`` (optional) returns extra cases only the grader uses: edge cases
    a student should handle without being told."""
    def register(reference):
        if id in _REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, name, reference, cases, points, kind,
                                 compare or compare_tensors, hint, hidden_cases)
        return reference
    return register


def _load_lesson(lesson):
    try:
        importlib.import_module(f"{__package__}.lesson{lesson}")
    except ModuleNotFoundError as err:
        if err.name != f"{__package__}.lesson{lesson}":
            raise


def get_exercise(exercise_id):
    """The registered Exercise for an id such as ``"00.ideal_denoiser"``."""
    _load_lesson(exercise_id.split(".")[0])
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"no exercise {exercise_id!r}; known exercises: {known}") from None


def list_exercises(lesson=None):
    """All registered exercises, optionally those of one lesson ("00")."""
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("lesson"):
            _load_lesson(info.name[len("lesson"):])
    return [ex for key, ex in sorted(_REGISTRY.items())
            if lesson is None or key.split(".")[0] == lesson]


def compare_tensors(answer, expected, case=None, rtol=1e-4, atol=1e-5):
    """Raise CheckFailed unless ``answer`` matches ``expected`` (tensor, array or number)."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(answer, (tuple, list)) or len(answer) != len(expected):
            raise CheckFailed(f"expected a sequence of {len(expected)} values, got {type(answer).__name__}")
        for a, e in zip(answer, expected):
            compare_tensors(a, e, case, rtol, atol)
        return
    if answer is None:
        raise CheckFailed("your function returned None: did you forget `return`?")
    if isinstance(expected, torch.Tensor):
        if not isinstance(answer, torch.Tensor):
            raise CheckFailed(f"expected a torch.Tensor, got {type(answer).__name__}")
        if answer.shape != expected.shape:
            raise CheckFailed(f"shape {tuple(answer.shape)}, expected {tuple(expected.shape)}")
        answer_np = answer.detach().cpu().double().numpy()
        expected_np = expected.detach().cpu().double().numpy()
    else:
        answer_np = np.asarray(answer, dtype=float)
        expected_np = np.asarray(expected, dtype=float)
        if answer_np.shape != expected_np.shape:
            raise CheckFailed(f"shape {answer_np.shape}, expected {expected_np.shape}")
    if not np.all(np.isfinite(answer_np)):
        raise CheckFailed("your answer contains NaN or inf")
    if not np.allclose(answer_np, expected_np, rtol=rtol, atol=atol):
        error = np.abs(answer_np - expected_np)
        where = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
        raise CheckFailed(
            f"values differ: largest error {error.max():.3g} at index {tuple(int(i) for i in where)} "
            f"(got {answer_np[where]:.4g}, expected {expected_np[where]:.4g})")


def _describe(case):
    parts = []
    for key, value in case.items():
        if isinstance(value, torch.Tensor):
            parts.append(f"{key}: tensor{tuple(value.shape)}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def _strict():
    return os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes", "on")


def check(exercise_id, answer):
    """Run exercise ``exercise_id``'s visible cases on ``answer`` and print the verdict.

    With ``COURSE_GRADING_STRICT=1`` (nbgrader's autograde) it also runs the grading
    cases and raises CheckFailed unless every case passes: nbgrader scores a test cell
    by whether it raises."""
    ex = get_exercise(exercise_id)
    if _strict():
        verdict = _check_cases(ex, answer, ex.cases(0) + ex.grading_cases())
        if not verdict.startswith("[passed]"):
            raise CheckFailed(verdict)
        print(verdict)
        return
    print(_check_cases(ex, answer, ex.cases(0)))


def _check_cases(ex, answer, cases):
    for number, case in enumerate(cases, 1):
        expected = ex.expected(case)  # before the answer runs: it may modify its inputs
        try:
            got = ex.run(answer, case)
        except NotImplementedError:
            return (f"[not attempted yet] {ex.id}: replace `raise NotImplementedError()` in "
                    f"`{ex.name}` with your code, then run this cell again.")
        except Exception as err:  # the student's code failing is feedback, not a crash
            return (f"[error] {ex.id}: `{ex.name}` raised {type(err).__name__}: {err}\n"
                    f"        on case {number} ({_describe(case)}).")
        try:
            ex.compare(got, expected, case)
        except CheckFailed as err:
            where = f" on case {number} ({_describe(case)})" if ex.kind == "function" else ""
            hint = f"\n        hint: {ex.hint}" if ex.hint else ""
            return f"[not yet] {ex.id}{where}: {err}{hint}"
    return f"[passed] {ex.id}: all {len(cases)} check{'s' if len(cases) != 1 else ''} passed."
