"""Scoring, in the grader's process only: expected values, the run's error, each exercise's verdict.

Records come from a kernel that ran student code: they are loaded with
``torch.load(weights_only=True)`` and checked for the harness's shape before any use.
"""
import torch

from .core import CheckFailed, _describe, list_exercises
from .sandbox import MAX_TASKS, sandbox_memory_mb
from .submission import SubmissionError

MAX_ANSWER_BYTES = 64 << 20


def expected_values(lesson, seeds):
    """{exercise id: (exercise, cases, expected values)} for ``lesson``, computed here."""
    table = {}
    for ex in list_exercises(lesson):
        cases = ex.grading_cases(seeds)
        with torch.random.fork_rng(devices=[]):
            expected = []
            for number, case in enumerate(cases):
                torch.manual_seed(number)
                expected.append(ex.expected(case))
        table[ex.id] = (ex, cases, expected)
    return table


def _cell_name(run, position):
    if position == 0:
        return "the grader's set-up cell, before the notebook's first cell"
    line = run.cells.get(position, "")
    return f"cell {position}" + (f" (`{line}`)" if line else "")


def run_error(run, memory_mb, timeout):
    """The submission-level error of ``run``, or None when every cell ran."""
    error = _first_error(run, memory_mb, timeout)
    if not run.oom_kills:
        return error
    killed = f"{run.oom_kills} process{'es' if run.oom_kills > 1 else ''}"
    return (f"the notebook went past the memory limit of its sandbox "
            f"({sandbox_memory_mb(memory_mb)} MB for all its processes together) and {killed} were killed" + (f"; {error}" if error else ""))


def _first_error(run, memory_mb, timeout):
    report = run.report
    if run.timed_out:
        return (f"timed out after {timeout:g} s in {_cell_name(run, report['stopped_in'])}: an endless "
                f"loop or too slow; the cells after it did not run, exercises recorded before it "
                f"were graded")
    if report.get("startup_error"):
        return (f"the grading kernel did not start ({report['startup_error']}); if the memory "
                f"limit ({memory_mb} MB) is too low for torch, raise --memory")
    if not report:
        return "the run ended without a report (the notebook killed the grader's runner process)"
    if report.get("died_in") is not None:
        return (f"the kernel stopped in {_cell_name(run, report['died_in'])}: the notebook exited "
                f"(exit(), quit(), os._exit) or crashed (e.g. past the {memory_mb} MB memory "
                f"limit); the cells after it did not run")
    for error in report.get("errors", []):
        if not isinstance(error, dict) or error.get("ename") == "NotImplementedError":
            continue
        ename, evalue = str(error.get("ename"))[:100], str(error.get("evalue"))[:300]
        where = _cell_name(run, error.get("cell"))
        if ename == "SystemExit":
            return f"{where} called sys.exit(); remove it: the cells after it still ran"
        hint = ""
        if ename == "MemoryError" or "can't allocate memory" in evalue or "bad_alloc" in evalue:
            hint = f" (the memory limit is {memory_mb} MB)"
        elif ename == "BlockingIOError" or "Resource temporarily unavailable" in evalue:
            hint = f" (a submission may run at most {MAX_TASKS} processes and threads)"
        return f"{where} raised {ename}" + (f": {evalue}" if evalue.strip() else "") + hint
    if report.get("left_running"):
        count = report["left_running"]
        return (f"the notebook left {count} process{'es' if count > 1 else ''} running after its "
                f"last cell (started with subprocess or os.fork); they were killed with the sandbox")
    return None


def _load_record(path):
    if path.stat().st_size > MAX_ANSWER_BYTES:
        raise SubmissionError(f"the recorded answer is over {MAX_ANSWER_BYTES >> 20} MB; "
                              "return the tensor the exercise asks for")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # anything not written by the harness: foreign pickles are refused
        raise SubmissionError("the recorded answer is not one the grader wrote (the notebook "
                              "wrote into the grader's folder?)") from None
    if not isinstance(record, dict) or record.get("status") not in ("ok", "not_attempted", "error") \
            or not isinstance(record.get("results"), list):
        raise SubmissionError("the recorded answer is malformed (the notebook wrote into the "
                              "grader's folder?)")
    return record


def score_exercise(ex, cases, expected, run):
    """{id, points, max_points, status, feedback} for one exercise of a finished run."""
    result = {"id": ex.id, "points": 0, "max_points": ex.points}

    def verdict(status, feedback, points=0):
        return {**result, "points": points, "status": status, "feedback": feedback}

    path = run.answers / f"{ex.id}.pt"
    if not path.exists():
        if (run.answers / f"{ex.id}.running").exists():
            return verdict("error", f"not graded: the run stopped while `{ex.name}` was running "
                                    f"on the grading cases (endless loop, exit or crash in it)")
        stopped = run.report.get("stopped_in", run.report.get("died_in"))
        if stopped is not None:
            why = f"the run stopped in {_cell_name(run, stopped)} before it was defined"
        elif not run.report:
            why = "the run ended early, see the error"
        else:
            why = "was its cell deleted or the function renamed?"
        what = "function" if ex.kind == "function" else "variable"
        return verdict("missing", f"missing: the notebook never defined the {what} `{ex.name}` "
                                  f"({why})")
    try:
        record = _load_record(path)
    except SubmissionError as err:
        return verdict("error", f"not graded: {err}")
    if record["status"] == "not_attempted":
        return verdict("not attempted", f"not attempted: `{ex.name}` still raises "
                                        f"NotImplementedError; replace it with your code")
    if record["status"] == "error":
        return verdict("failed", f"`{ex.name}` could not be run on the grading cases: "
                                 f"{str(record.get('message'))[:300]}")
    results = record["results"]
    note = ""
    if isinstance(record.get("definitions"), int) and record["definitions"] > 1:
        note = (f" (`{ex.name}` is defined {record['definitions']} times; graded the last "
                f"definition, {_cell_name(run, record.get('cell'))})")
    if len(results) != len(expected):
        return verdict("error", f"not graded: the record has {len(results)} results for "
                                f"{len(expected)} cases (the notebook wrote into the grader's folder?)")
    for number, (got, want, case) in enumerate(zip(results, expected, cases), 1):
        where = f"grading case {number} of {len(cases)}"
        if ex.kind == "function":
            where += f" ({_describe(case)})"
        if not isinstance(got, dict):
            return verdict("error", "not graded: malformed record")
        if "error" in got:
            return verdict("failed", f"`{ex.name}` raised {str(got['error'])[:300]} on {where}{note}")
        if "unsupported" in got:
            return verdict("failed", f"`{ex.name}` returned a {str(got['unsupported'])[:100]} on "
                                     f"{where}, which cannot be checked; return tensors or numbers{note}")
        try:
            ex.compare(got.get("value"), want, case)
        except CheckFailed as err:
            hint = f"; hint: {ex.hint}" if ex.hint else ""
            return verdict("failed", f"wrong on {where}: {err}{hint}{note}")
        except Exception as err:  # an answer of an unexpected structure
            return verdict("failed", f"wrong on {where}: the answer cannot be compared with the "
                                     f"expected one ({type(err).__name__}: {str(err)[:200]}){note}")
    return verdict("passed", f"passed all {len(cases)} grading cases{note}", ex.points)
