"""Grade submitted notebooks with tests the students never saw.

    python -m course_utils.grade SUBMISSION.ipynb [FOLDER ...] --out grades.jsonl
        [--csv grades.csv] [--timeout SECONDS] [--memory MB] [--lesson NN] [--jobs N]
        [--seeds 1,2,3]

Each submission runs in a fresh kernel, in its own process group, under a wall-clock
limit (the whole group is killed when it is reached) and a memory limit (setrlimit in
the kernel). A cell of the grader's, run before the submission's first cell, records what
each exercise's function returns on the grading cases (``cases(seed)`` for seeds other
than 0, plus hidden cases) as plain tensors and numbers; this process loads them with
``torch.load(weights_only=True)`` and compares them with expected values it computed
itself. A submission can influence nothing but the values its functions return.

Writes one JSON line per submission (``--out``) and a CSV summary for the class (``--csv``,
default: next to ``--out``). Exit status 0 when every submission was graded, whatever
the scores; 2, with a message and no traceback, when the grader is misused.
"""
import argparse
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from .grading.core import GRADING_SEEDS, CheckFailed, _describe, list_exercises
from .grading.layout import CELL_FILE, POSITION

_STOP = threading.Event()  # set on Ctrl-C: every run still going is killed at once
COURSE_DIR = Path(__file__).resolve().parent
PACKAGE_PARENT = COURSE_DIR.parent
MAX_NOTEBOOK_BYTES = 50 << 20
MAX_ANSWER_BYTES = 64 << 20
MAX_REPORT_BYTES = 1 << 20
DEFAULT_TIMEOUT_S = 600
DEFAULT_MEMORY_MB = 2048
MIN_MEMORY_MB = 512
LESSON = re.compile(r"^\d\d$")
CHECK_CALL = re.compile(r"check\(\s*[\"'](\d\d)\.[\w.]+[\"']")
GRADE_ID = re.compile(r"^(\d\d)_")


class UsageError(ValueError):
    """The grader was called wrongly; the message says how to call it."""


class SubmissionError(ValueError):
    """A submission cannot be run; the message is the student-facing reason."""


@dataclass
class Run:
    """What happened when a submission ran: how it ended and where its answers are."""

    answers: Path
    seconds: float = 0.0
    timed_out: bool = False
    report: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)  # position -> first line of the cell


# ---------------------------------------------------------------------------------------
# reading a submission


def read_submission(path):
    """The notebook at ``path`` as nbformat 4; SubmissionError saying what is wrong with it."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"the notebook is {size / 2**20:.0f} MB, more than the "
                              f"{MAX_NOTEBOOK_BYTES >> 20} MB accepted; clear its outputs "
                              f"(Edit > Clear Outputs of All Cells), save and submit it again")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError("the file is not text (not UTF-8): it is not a Jupyter notebook; "
                              "submit the .ipynb file saved by Jupyter") from None
    except json.JSONDecodeError as err:
        raise SubmissionError(f"the file is not valid JSON (line {err.lineno}, column {err.colno}: "
                              f"{err.msg}): it is damaged or not a notebook; download it again "
                              f"from Jupyter (File > Download) and resubmit") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise SubmissionError("the file is JSON but not a Jupyter notebook (no 'cells'); "
                              "submit the .ipynb file saved by Jupyter")
    major = data.get("nbformat")
    if major not in (3, 4):
        raise SubmissionError(f"notebook format {major!r} is not supported (expected nbformat 4); "
                              f"open it in JupyterLab, save it and submit it again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = nbformat.reads(json.dumps(data), as_version=4)
            nbformat.validate(nb)
        except Exception as err:  # nbformat raises several types for malformed notebooks
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise SubmissionError(f"the notebook's structure is invalid ({first}); open it in "
                                  f"JupyterLab, save it and submit it again") from None
    return nb


def identify_lesson(nb, path, forced=None):
    """The lesson of ``nb``: its metadata, else its check cells, else its file name."""
    course = nb.metadata.get("course")
    lesson = course.get("lesson") if isinstance(course, dict) else None
    if not isinstance(lesson, str) or not LESSON.match(lesson):
        found = set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(grade_id, str) and GRADE_ID.match(grade_id):
                found.add(grade_id[:2])
            if cell.cell_type == "code":
                found.update(CHECK_CALL.findall(cell.source))
        match = GRADE_ID.match(path.name)
        lesson = found.pop() if len(found) == 1 else match.group(1) if match else None
    if forced is not None:
        if lesson is not None and lesson != forced:
            raise SubmissionError(f"this is a notebook of lesson {lesson}, not of lesson {forced} "
                                  f"(--lesson {forced}); was the wrong file submitted?")
        return forced
    if lesson is None:
        raise SubmissionError("cannot tell which lesson this notebook belongs to (no course "
                              "metadata, check cells or NN_ file name); grade it with --lesson NN")
    if not list_exercises(lesson):
        raise SubmissionError(f"lesson {lesson} has no graded exercises; known lessons: "
                              f"{', '.join(_known_lessons()) or 'none'}")
    return lesson


def _known_lessons():
    return sorted({ex.id.split(".")[0] for ex in list_exercises()})


# ---------------------------------------------------------------------------------------
# running a submission


def _first_line(source):
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 60 else line[:57] + "..."
    return ""


def prepare(nb, lesson, seeds, answers):
    """The notebook to run: the grader's set-up cell, then the submission's code cells."""
    setup = ("from course_utils.grading.harness import install as _course_grader_install\n"
             f"_course_grader_install({str(answers)!r}, {lesson!r}, {list(seeds)!r})\n"
             "del _course_grader_install")
    cells = [nbformat.v4.new_code_cell(setup, metadata={POSITION: 0})]
    for position, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code":
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={POSITION: position}))
    return nbformat.v4.new_notebook(cells=cells)


def _environment(tmp):
    """A clean environment for the kernel: no instructor secrets, no user start-up files."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SYSTEMROOT",
            "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    pythonpath = os.environ.get("PYTHONPATH")
    env.update(
        PYTHONPATH=str(PACKAGE_PARENT) + (os.pathsep + pythonpath if pythonpath else ""),
        TMPDIR=str(tmp / "work"), COURSE_PROGRESS="off", MPLBACKEND="agg", PYTHONHASHSEED="0",
        PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
        IPYTHONDIR=str(tmp / "ipython"), JUPYTER_CONFIG_DIR=str(tmp / "jupyter"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _read_int(path):
    try:
        return int(path.read_text(encoding="ascii")[:20])
    except (OSError, ValueError):
        return None


def _verified_kernel(state):
    """The kernel's pid, once it is certain: the pid file is writable by the notebook, so
    the process must be alive and carry that pid file on its command line."""
    pid_file = state / "kernel.pid"
    pid = _read_int(pid_file)
    if pid is None or pid <= 1 or pid == os.getpid():
        return None
    proc = Path("/proc")
    if proc.is_dir():
        try:
            return pid if str(pid_file).encode() in (proc / str(pid) / "cmdline").read_bytes() else None
        except OSError:
            return None
    try:  # no /proc (macOS): at least a session leader that is not ours, as jupyter starts kernels
        return pid if os.getsid(pid) == pid != os.getsid(0) else None
    except OSError:
        return None


def _read_report(path):
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return {}
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # written next to a kernel that could have forged it: accept only the runner's shape
    shape = {"cells_run": (int,), "errors": (list,), "died_in": (int, type(None)),
             "startup_error": (str, type(None))}
    if not isinstance(report, dict) or set(report) != set(shape) \
            or not all(isinstance(report[key], kinds) for key, kinds in shape.items()) \
            or not all(isinstance(error, dict) for error in report["errors"]):
        return {}
    return report


def run_submission(nb, lesson, seeds, tmp, timeout, memory_mb):
    """Run ``nb`` in a fresh limited kernel below ``tmp``; the Run (answers stay in ``tmp``)."""
    state, work = tmp / "state", tmp / "work"
    answers = state / "answers"
    for folder in (answers, work, tmp / "ipython", tmp / "jupyter", tmp / "runtime"):
        folder.mkdir(parents=True)
    prepared = prepare(nb, lesson, seeds, answers)
    notebook = tmp / "submission.ipynb"
    nbformat.write(prepared, str(notebook))
    run = Run(answers, cells={position: _first_line(cell.source)
                              for position, cell in enumerate(nb.cells, 1)})
    start = time.monotonic()
    deadline = start + timeout
    with open(state / "runner.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "course_utils.grading.runner", str(notebook), str(state),
             str(work), str(memory_mb)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=work,
            env=_environment(tmp), start_new_session=True)
        kernel = None
        try:
            while proc.poll() is None and time.monotonic() < deadline and not _STOP.is_set():
                kernel = kernel or _verified_kernel(state)
                try:
                    proc.wait(min(0.25, max(0.0, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    pass
            run.timed_out = proc.poll() is None
        finally:
            # the kernel leads its own session (jupyter_client starts it so): kill both groups,
            # with whatever the notebook spawned in them
            _kill_group(proc.pid)
            if kernel is not None:
                _kill_group(kernel)
            proc.wait()
    run.seconds = time.monotonic() - start
    run.report = _read_report(state / "run.json")
    if run.timed_out:
        run.report["stopped_in"] = _read_int(answers / CELL_FILE) or 0
    return run


# ---------------------------------------------------------------------------------------
# scoring, in this process only


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
        return f"{where} raised {ename}" + (f": {evalue}" if evalue.strip() else "") + hint
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


# ---------------------------------------------------------------------------------------
# one submission, a class


@dataclass(frozen=True)
class Settings:
    timeout: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    lesson: str = None
    seeds: tuple = GRADING_SEEDS


def _record(path, lesson, exercises, error):
    return {"submission": str(path), "lesson": lesson,
            "score": sum(ex["points"] for ex in exercises),
            "max_score": sum(ex["max_points"] for ex in exercises),
            "exercises": exercises, "error": error}


def grade_submission(path, settings, expected_cache):
    """The JSON record of one submission; never raises for anything the submission does."""
    lesson = settings.lesson
    try:
        nb = read_submission(path)
        lesson = identify_lesson(nb, path, settings.lesson)
    except SubmissionError as err:
        if lesson is None:  # an unreadable file still counts against its lesson, by name
            match = GRADE_ID.match(path.name)
            lesson = match.group(1) if match and list_exercises(match.group(1)) else None
        exercises = [{"id": ex.id, "points": 0, "max_points": ex.points, "status": "error",
                      "feedback": "not graded: the notebook could not be run"}
                     for ex in (list_exercises(lesson) if lesson else [])]
        return _record(path, lesson, exercises, str(err))
    table = expected_cache[lesson]
    tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        run = run_submission(nb, lesson, settings.seeds, tmp, settings.timeout, settings.memory_mb)
        exercises = [score_exercise(ex, cases, expected, run)
                     for ex, cases, expected in table.values()]
        return _record(path, lesson, exercises, run_error(run, settings.memory_mb, settings.timeout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _lessons_needed(paths, forced):
    """Lessons whose expected values must be computed before any student code runs."""
    if forced:
        return {forced}
    lessons = set()
    for path in paths:
        try:
            lessons.add(identify_lesson(read_submission(path), path))
        except SubmissionError:
            pass
    return lessons


def fingerprint(folder=COURSE_DIR):
    """{path: sha256} of the course package's files (bytecode caches aside): what no
    submission may change."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _void(record, reason):
    record["score"] = 0
    for ex in record["exercises"]:
        ex.update(points=0, status="error", feedback=f"not graded: {reason}")
    record["error"] = f"not graded: {reason}"
    record["internal"] = True
    return record


def grade(paths, settings, jobs=1, progress=print):
    """Records for ``paths``, in order; expected values computed first, submissions in parallel.

    Kernels run as the grader's user: one that rewrites the course's own files (to change
    the references or the harness for later runs) is caught by comparing fingerprints after
    each submission. Its record and every later one are voided (internal error, exit 1)."""
    expected_cache = {lesson: expected_values(lesson, settings.seeds)
                      for lesson in sorted(_lessons_needed(paths, settings.lesson))}
    clean = fingerprint()
    tampered = None
    records = [None] * len(paths)
    _STOP.clear()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_submission, path, settings, expected_cache): index
                   for index, path in enumerate(paths)}
        try:
            for future in concurrent.futures.as_completed(futures):
                tampered = _collect(future, futures, paths, records, clean, tampered, progress)
        except KeyboardInterrupt:
            _STOP.set()
            for future in futures:
                future.cancel()
            raise
    for index, record in enumerate(records):
        if record is None:  # cancelled after the course files changed
            records[index] = _void(_record(paths[index], settings.lesson, [], None), tampered)
    return records


def _collect(future, futures, paths, records, clean, tampered, progress):
    """Store ``future``'s record; the tampering message, new or old, or None."""
    index = futures[future]
    try:
        records[index] = future.result()
    except Exception as err:  # a grader bug must not cost the rest of the class
        records[index] = _record(paths[index], None, [], f"internal grader error: "
                                 f"{type(err).__name__}: {err}")
        records[index]["internal"] = True
    if tampered is None:
        changed = sorted({name for name, _ in set(clean.items()) ^ set(fingerprint().items())})
        if changed:
            tampered = (f"the course files changed on disk while {paths[index]} ran "
                        f"({', '.join(changed[:5])}); restore them (git checkout -- "
                        f"course_utils) and grade again")
            for other in futures:
                other.cancel()
    if tampered is not None:
        _void(records[index], tampered)
    record = records[index]
    progress(f"{record['score']:g}/{record['max_score']:g}  {paths[index]}"
             + (f"  [{record['error']}]" if record["error"] else ""))
    return tampered


# ---------------------------------------------------------------------------------------
# output


def _write_atomic(path, text):
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonl_text(records):
    return "".join(json.dumps({k: v for k, v in r.items() if k != "internal"}) + "\n"
                   for r in records)


def csv_text(records):
    """One row per submission: score, max score, points per exercise, error."""
    ids = sorted({ex["id"] for record in records for ex in record["exercises"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "lesson", "score", "max_score", *ids, "error"])
    for record in records:
        points = {ex["id"]: ex["points"] for ex in record["exercises"]}
        writer.writerow([record["submission"], record["lesson"] or "", record["score"],
                         record["max_score"], *(points.get(i, "") for i in ids),
                         record["error"] or ""])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# command line


def _submissions(arguments):
    if not arguments:
        raise UsageError("no submissions given: pass notebooks (.ipynb) or folders of notebooks")
    paths, missing = [], []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not found:
                raise UsageError(f"no .ipynb files in the folder {path}")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            missing.append(argument)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    return paths


def _writable(path, flag):
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name such as grades.jsonl")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({err.strerror}); choose "
                         f"another place") from None
    os.close(handle)
    os.unlink(probe)


def _seeds(text):
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         f"integers such as 1,2,3") from None
    if any(seed <= 0 for seed in seeds):
        raise argparse.ArgumentTypeError("seeds must be positive: seed 0 is the visible check")
    return seeds


def _positive(kind, minimum):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below the minimum {minimum}")
        return value
    return parse


def parser():
    p = argparse.ArgumentParser(prog="python -m course_utils.grade",
                                description=__doc__.split("\n\n")[0],
                                epilog="Writes one JSON line per submission and a CSV summary. "
                                       "See docs/GRADING.md.")
    p.add_argument("submissions", nargs="*", help="notebooks, or folders searched for *.ipynb")
    p.add_argument("--out", required=True, type=Path, help="JSON lines file to write")
    p.add_argument("--csv", type=Path, help="CSV summary (default: --out with .csv)")
    p.add_argument("--timeout", type=_positive(float, 1), default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per submission, kernel start included (default {DEFAULT_TIMEOUT_S})")
    p.add_argument("--memory", type=_positive(int, MIN_MEMORY_MB), default=DEFAULT_MEMORY_MB,
                   help=f"address-space limit of the kernel in MB (default {DEFAULT_MEMORY_MB})")
    p.add_argument("--lesson", help="grade every submission as this lesson (NN)")
    p.add_argument("--jobs", type=_positive(int, 1), default=1,
                   help="submissions graded at once (each one kernel; default 1)")
    p.add_argument("--seeds", type=_seeds, default=GRADING_SEEDS,
                   help="case seeds the grader uses (default 1,2,3; keep yours private)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        paths = _submissions(args.submissions)
        if args.lesson is not None:
            if not LESSON.match(args.lesson) or not list_exercises(args.lesson):
                raise UsageError(f"--lesson {args.lesson}: no such graded lesson; known: "
                                 f"{', '.join(_known_lessons()) or 'none'}")
        out = args.out
        csv_path = args.csv or out.with_suffix(".csv")
        if csv_path.resolve() == out.resolve():
            raise UsageError(f"--csv and --out are the same file ({out}); give different names")
        _writable(out, "--out")
        _writable(csv_path, "--csv")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    settings = Settings(args.timeout, args.memory, args.lesson, args.seeds)
    try:
        records = grade(paths, settings, args.jobs)
    except KeyboardInterrupt:
        print("interrupted: every run was stopped and nothing was written", file=sys.stderr)
        return 130
    try:
        _write_atomic(out, jsonl_text(records))
        _write_atomic(csv_path, csv_text(records))
    except OSError as err:
        print(f"error: cannot write the grades ({err}); nothing was written", file=sys.stderr)
        return 2
    internal = sorted({r["error"] for r in records if r.get("internal")})
    for message in internal:
        print(f"error: {message}", file=sys.stderr)
    total = sum(r["score"] for r in records)
    print(f"graded {len(records)} submission{'s' if len(records) != 1 else ''} "
          f"(mean score {total / len(records):.3g}); wrote {out} and {csv_path}")
    return 1 if any(r.get("internal") for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
