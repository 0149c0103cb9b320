"""Runs inside the grading kernel: records what each exercise's answer returns on the grading cases.

The grader runs one cell of its own before the submission's first cell::

    from course_utils.grading.harness import install; install(ANSWER_DIR, "00", CASES_FILE)

CASES_FILE holds the grading cases, computed by the grader (the seeds that made them stay
there); it is read here, before any cell of the submission runs, and deleted. After every cell, each exercise whose name is bound to a new function defined in the
notebook (``__module__ == "__main__"``: the library's own version, imported later in the
lesson, does not count) or, for value exercises, to a new value, is run on the grading
cases right away, as ``check`` would be. The results, reduced to plain tensors, numbers and
strings, go to ``ANSWER_DIR/<id>.pt``. Nothing here decides a score: the grader loads these
files with ``torch.load(weights_only=True)`` and compares them with its own expected values.
"""
import copy
from pathlib import Path

import numpy as np
import torch

from ..files import save_torch
from .core import list_exercises
from .layout import CELL_FILE

MAX_MESSAGE = 300


class _Unsupported(TypeError):
    """A returned object that is not a tensor, array, number, string or container of them."""


def plain(value, depth=0):
    """``value`` as tensors / numbers / strings in lists, tuples and str-keyed dicts."""
    if depth > 16:
        raise _Unsupported("a container nested more than 16 deep")
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if tensor.layout != torch.strided:
            tensor = tensor.to_dense()
        return tensor.cpu().as_subclass(torch.Tensor).clone()
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise _Unsupported("numpy array of Python objects")
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, (np.generic, bool, int, float)) and not isinstance(value, complex):
        item = value.item() if isinstance(value, np.generic) else value
        for kind in (bool, int, float):
            if isinstance(item, kind):
                return kind(item)
    if isinstance(value, (list, tuple)):
        items = [plain(item, depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict) and all(type(key) is str for key in value):
        return {key: plain(item, depth + 1) for key, item in value.items()}
    raise _Unsupported(type(value).__qualname__)


def _message(err):
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def evaluate(ex, answer, cases):
    """The record of ``answer`` on ``cases``: status and one result per case."""
    results = []
    cases = copy.deepcopy(cases)  # an answer that changes its inputs changes only this copy
    with torch.random.fork_rng(devices=[]):  # the notebook's own random stream is left alone
        for number, case in enumerate(cases):
            torch.manual_seed(number)
            try:
                got = ex.run(answer, case)
            except NotImplementedError:
                if not results:
                    return {"status": "not_attempted", "results": []}
                results.append({"error": "NotImplementedError"})
                continue
            except Exception as err:  # the answer failing is feedback for the grader to report
                results.append({"error": _message(err)})
                continue
            try:
                results.append({"value": plain(got)})
            except _Unsupported as err:
                results.append({"unsupported": str(err)})
    return {"status": "ok", "results": results}


def _save(record, path):
    save_torch(record, path)


def _current_cell(answer_dir):
    try:
        return int((answer_dir / CELL_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def _is_notebook_function(obj):
    return callable(obj) and getattr(obj, "__module__", None) == "__main__"


def load_cases(path):
    """{exercise id: grading cases} from the grader's file, which is then deleted."""
    path = Path(path)
    # written by the grader before any cell of the submission ran; the cases hold objects
    # (a stand-in network, a denoiser function) that weights_only cannot load
    cases = torch.load(path, weights_only=False)
    path.unlink()
    return cases


def install(answer_dir, lesson, cases_file):
    """Record each exercise of ``lesson`` after every cell of this kernel (see module doc)."""
    answer_dir = Path(answer_dir)
    shell = get_ipython()  # noqa: F821 -- defined in every IPython kernel
    exercises = list_exercises(lesson)
    cases = load_cases(cases_file)
    seen, definitions = {}, {}

    def after_cell(result=None):
        namespace = shell.user_ns
        for ex in exercises:
            if ex.name not in namespace:
                continue
            obj = namespace[ex.name]
            if ex.id in seen and seen[ex.id] is obj:
                continue
            if ex.kind == "function" and not _is_notebook_function(obj):
                continue
            seen[ex.id] = obj
            definitions[ex.id] = definitions.get(ex.id, 0) + 1
            cell = _current_cell(answer_dir)
            running = answer_dir / f"{ex.id}.running"
            running.write_text(str(cell), encoding="ascii")
            about = {"exercise": ex.id, "cell": cell, "definitions": definitions[ex.id]}
            try:
                record = {**evaluate(ex, obj, cases[ex.id]), **about}
            except Exception as err:  # e.g. the notebook broke torch itself
                record = {"status": "error", "message": _message(err), "results": [], **about}
            try:
                _save(record, answer_dir / f"{ex.id}.pt")
            except Exception as err:  # e.g. an answer past the file-size limit
                _save({"status": "error", "results": [], **about,
                       "message": f"the answer could not be recorded ({_message(err)})"},
                      answer_dir / f"{ex.id}.pt")
            running.unlink()

    shell.events.register("post_run_cell", after_cell)
