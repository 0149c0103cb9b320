"""Exercise registry, comparisons and the in-notebook ``check``."""
import copy
import importlib
import inspect
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

_REGISTRY = {}
GRADING_SEEDS = (1, 2, 3)  # the grader's cases; seed 0 is what ``check`` shows
STRICT_ENV = "COURSE_GRADING_STRICT"  # set to 1 where nbgrader autogrades: check() raises
INDENT = " " * 8
_failures = {}  # exercise id -> failed checks this session: the hint tier to show
_passed = {}    # exercise id -> the answer whose check passed last


class CheckFailed(AssertionError):
    """An answer is wrong; the message says how, in words a student can act on."""


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer: ``answer`` has the reference's signature, ``says`` names the mistake."""

    says: str
    answer: Callable


@dataclass(frozen=True)
class Exercise:
    """One graded exercise.

    ``cases(seed)`` returns a list of keyword-argument dicts (function exercises) or
    ``[{}]`` (value exercises); ``reference(**case)`` is the solution;
    ``compare(answer, expected, case)`` raises CheckFailed. seed 0 is what ``check``
    shows the student; the grader uses other seeds and ``hidden_cases``, which differ
    from the visible cases only in values, never in kind. ``hint`` is the first nudge,
    ``formula`` the second tier; ``mistakes`` are recognised and named by ``check``.
    ``observe(output, case)``, when given, turns what a function returns into what is
    compared (e.g. a loss and the gradient it sends to the model).
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
    formula: str = ""
    mistakes: tuple = ()
    observe: Callable = None

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
        return self.run(self.reference, case) if self.kind == "function" else self.reference()

    def run(self, answer, case):
        if self.kind != "function":
            return answer
        output = answer(**case)
        return self.observe(output, case) if self.observe is not None else output


def exercise(id, name, cases, points=1, kind="function", compare=None, hint="", hidden_cases=None,
             formula="", mistakes=(), observe=None):
    """Decorator registering ``reference`` as the solution of exercise ``id``.

    ``hidden_cases()`` (optional) returns extra cases only the grader uses: the kinds of
    input the visible cases already show, with other values. ``mistakes``: Mistake
    variants of the reference that ``check`` recognises and names."""
    def register(reference):
        if id in _REGISTRY:
            raise ValueError(f"exercise {id!r} is registered twice")
        _REGISTRY[id] = Exercise(id, name, reference, cases, points, kind,
                                 compare or compare_tensors, hint, hidden_cases, formula,
                                 tuple(mistakes), observe)
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


# ---------------------------------------------------------------------------------------
# comparisons: each raises CheckFailed with a message a student can act on


def _type_name(value):
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def compare_tensors(answer, expected, case=None, rtol=1e-4, atol=1e-5, names=None):
    """Raise CheckFailed unless ``answer`` matches ``expected`` (tensor, array, number or a tuple of them).

    For a tuple, the message names the wrong element (``names[i]`` when given)."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(answer, (tuple, list)) or len(answer) != len(expected):
            what = f"({', '.join(names)})" if names else f"{len(expected)} values"
            raise CheckFailed(f"return a tuple {what}; got {_type_name(answer)}"
                              + (f" of {len(answer)}" if isinstance(answer, (tuple, list)) else ""))
        for number, (got, want) in enumerate(zip(answer, expected)):
            try:
                compare_tensors(got, want, case, rtol, atol)
            except CheckFailed as err:
                label = names[number] if names else f"element {number}"
                raise CheckFailed(f"{label} (element {number} of the tuple) is wrong: {err}") from None
        return
    if answer is None:
        raise CheckFailed("your function returned None: did you forget `return`?")
    if isinstance(expected, torch.Tensor):
        if not isinstance(answer, torch.Tensor):
            raise CheckFailed(f"expected a torch.Tensor, got {type(answer).__name__}")
        if answer.is_complex():
            raise CheckFailed("your answer is a complex tensor: take its real part (.real)")
        _compare_shapes(tuple(answer.shape), tuple(expected.shape))
        answer_np = answer.detach().cpu().double().numpy()
        expected_np = expected.detach().cpu().double().numpy()
    else:
        if isinstance(answer, str):
            raise CheckFailed(f"expected a number, got the string {answer!r}")
        try:
            answer_np = np.asarray(answer.detach().cpu() if isinstance(answer, torch.Tensor) else answer,
                                   dtype=float)
        except (TypeError, ValueError):
            raise CheckFailed(f"expected a number, got {_type_name(answer)}") from None
        expected_np = np.asarray(expected, dtype=float)
        _compare_shapes(answer_np.shape, expected_np.shape)
    if not np.all(np.isfinite(answer_np)):
        raise CheckFailed("your answer contains NaN or inf")
    if not np.allclose(answer_np, expected_np, rtol=rtol, atol=atol):
        error = np.abs(answer_np - expected_np)
        where = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
        raise CheckFailed(
            f"values differ: largest error {error.max():.3g} at index {tuple(int(i) for i in where)} "
            f"(got {answer_np[where]:.4g}, expected {expected_np[where]:.4g})")


def _compare_shapes(got, want):
    if got == want:
        return
    note = ""
    if sorted(got) == sorted(want):
        note = ": the same sizes in another order, are two axes swapped (e.g. H and W)?"
    elif int(np.prod(got)) == int(np.prod(want)):
        note = ": the right number of values, reshaped wrongly"
    raise CheckFailed(f"shape {got}, expected {want}{note}")


def compare_parts(*names):
    """A comparison for tuple results that names the wrong element, e.g. ``compare_parts("u", "v")``."""
    def compare(answer, expected, case=None):
        compare_tensors(answer, expected, case, names=names)
    return compare


def compare_int(answer, expected, case=None):
    """Raise CheckFailed unless ``answer`` is the whole number ``expected`` (int, numpy or 0-d int tensor)."""
    if isinstance(answer, torch.Tensor) and answer.numel() == 1 and not answer.is_floating_point() \
            and answer.dtype != torch.bool:
        answer = int(answer.item())
    if isinstance(answer, np.integer):
        answer = int(answer)
    if answer is None:
        raise CheckFailed("your function returned None: did you forget `return`?")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise CheckFailed(f"return a whole number (an int), not a {_type_name(answer)} ({answer!r:.40})")
    if answer != expected:
        raise CheckFailed(f"got {answer}, expected {expected}")


# ---------------------------------------------------------------------------------------
# the in-notebook check


def _describe(case):
    parts = []
    for key, value in case.items():
        if isinstance(value, torch.Tensor):
            parts.append(f"{key}: tensor{tuple(value.shape)}")
        elif callable(value):
            parts.append(f"{key}={getattr(value, '__name__', type(value).__name__)}")
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
    strict = _strict()
    cases = ex.cases(0) + (ex.grading_cases() if strict else [])
    verdict = _refusal(ex, answer, cases[0]) or _check_cases(ex, answer, cases)
    passed = verdict.startswith("[passed]")
    if passed:
        _passed[ex.id] = answer
    else:
        _passed.pop(ex.id, None)
    if strict and not passed:
        raise CheckFailed(verdict)
    print(verdict)


def _refusal(ex, answer, case):
    """Why ``answer`` cannot be checked as the student's own function, or None.

    A function not defined in the notebook (``__module__ != "__main__"``) is refused, unless
    it is the registered reference or still an open stub (reported as not attempted)."""
    if ex.kind != "function":
        return None
    if not callable(answer):
        return (f"[not yet] {ex.id}: `{ex.name}` should be a function, but it is now of type "
                f"{_type_name(answer)}; run the exercise cell that defines it, then this cell.")
    module = getattr(answer, "__module__", None)
    if module == "__main__" or answer is ex.reference or _is_stub(answer, case):
        return None
    where = f"`{module}.{getattr(answer, '__qualname__', ex.name)}`" if module else "not from this notebook"
    return (f"[refused] {ex.id}: this `{ex.name}` is not the one you wrote: it is {where}, imported "
            f"over your name by a later cell.\n{INDENT}Run your exercise cell again (it defines "
            f"`{ex.name}`), then this check.")


def _is_stub(answer, case):
    try:
        answer(**copy.deepcopy(case))
    except NotImplementedError:
        return True
    except Exception:  # a foreign function failing is still foreign
        return False
    return False


def _signature_problem(ex, answer, case):
    try:
        signature = inspect.signature(answer)
    except (TypeError, ValueError):  # builtins without a signature: let the call speak
        return None
    try:
        signature.bind(**case)
    except TypeError as err:
        return (f"[error] {ex.id}: `{ex.name}{signature}` cannot be called as the check calls it, "
                f"`{ex.name}({', '.join(f'{key}=...' for key in case)})` ({err}).\n{INDENT}Keep "
                f"the parameter names of the exercise cell's `def` line.")
    return None


def _leaves(value):
    """``value`` as a flat list of float arrays (None for None): what mistake matching compares."""
    numbers = isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)
    if isinstance(value, (tuple, list)) and not numbers:  # a list of numbers is one array
        return [leaf for item in value for leaf in _leaves(item)]
    if value is None:
        return [None]
    if isinstance(value, torch.Tensor):
        return [value.detach().cpu().double().numpy()] if not value.is_complex() else [None]
    try:
        return [np.asarray(value, dtype=float)]
    except (TypeError, ValueError):
        return [None]


def _matches(got, variant):
    """Whether two results agree (NaN where the other has NaN): a wrong answer and a mistake."""
    left, right = _leaves(got), _leaves(variant)
    if len(left) != len(right):
        return False
    for a, b in zip(left, right):
        if a is None or b is None:
            if a is not b:
                return False
        elif a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True):
            return False
    return True


def _recognised(ex, got, expected, case):
    """The ``says`` of every registered mistake that ``got`` reproduces on ``case``."""
    found = []
    for mistake in ex.mistakes:
        try:
            variant = ex.run(mistake.answer, copy.deepcopy(case))
        except Exception:  # a mistake that cannot run on this case tells nothing here
            continue
        if not _matches(variant, expected) and _matches(got, variant):
            found.append(mistake.says)
    return found


def _hints(ex):
    """The hint tiers earned so far: the nudge first, the formula from the second failure on."""
    tiers = _failures.get(ex.id, 0)
    lines = [f"{INDENT}hint: {ex.hint}"] if ex.hint else []
    if ex.formula and tiers >= 2:
        lines.append(f"{INDENT}formula: {ex.formula}")
    elif ex.formula:
        lines.append(f"{INDENT}(fail once more and the check shows the formula)")
    return "\n".join(lines)


def _check_cases(ex, answer, cases):
    for number, case in enumerate(cases, 1):
        where = f" on case {number} ({_describe(case)})" if ex.kind == "function" else ""
        if ex.kind == "function":
            problem = _signature_problem(ex, answer, case)
            if problem:
                return problem
        expected = ex.expected(copy.deepcopy(case))
        try:
            got = ex.run(answer, copy.deepcopy(case))
        except NotImplementedError:
            return (f"[not attempted yet] {ex.id}: replace `raise NotImplementedError()` in "
                    f"`{ex.name}` with your code, then run this cell again.")
        except Exception as err:  # the student's code failing is feedback, not a crash
            return (f"[error] {ex.id}: `{ex.name}` raised {type(err).__name__}: {err}\n"
                    f"{INDENT}on case {number} ({_describe(case)}).")
        try:
            ex.compare(got, expected, case)
        except CheckFailed as err:
            detail = str(err)
        except Exception as err:  # an answer of a structure the comparison cannot read
            detail = (f"your answer ({_type_name(got)}) cannot be compared with the expected "
                      f"{_type_name(expected)} ({type(err).__name__}: {err})")
        else:
            continue
        _failures[ex.id] = _failures.get(ex.id, 0) + 1
        looks = _recognised(ex, got, expected, case)
        lines = [f"[not yet] {ex.id}{where}:"]
        if looks:
            lines[0] += f" this looks like: {' / or: '.join(looks)}."
            lines.append(f"{INDENT}({detail})")
        else:
            lines[0] += f" {detail}"
        hints = _hints(ex)
        return "\n".join(lines + ([hints] if hints else []))
    return f"[passed] {ex.id}: all {len(cases)} check{'s' if len(cases) != 1 else ''} passed."


def use_passing(exercise_id, answer, library):
    """``answer`` if its check passed (the last check of ``exercise_id``), else ``library``; prints which.

    Lessons call it after an exercise so that the rest of the lesson runs on the student's
    own function once it works, and on the library's otherwise."""
    ex = get_exercise(exercise_id)
    if _passed.get(ex.id) is answer:
        print(f"From here on the lesson uses your `{ex.name}` (its check passed).")
        return answer
    origin = f"{library.__module__}.{library.__name__}"
    print(f"From here on the lesson uses the library's `{origin}` (your `{ex.name}` has not "
          f"passed its check yet; pass it and re-run this cell to use yours).")
    return library
