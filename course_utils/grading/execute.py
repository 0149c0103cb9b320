"""Running a submission: its notebook, prepared, in a fresh limited kernel inside the sandbox.

The runner (``course_utils.grading.runner``) and its kernel run below one temporary folder
per submission, the only folder the sandbox can write. The grading cases go in as a file
the harness reads before the submission's first cell and then deletes; the seeds that made
them never leave this process.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import torch

from . import sandbox
from .layout import CASES_FILE, CELL_FILE, POSITION

STOP = threading.Event()  # set on Ctrl-C: every run still going is killed at once
COURSE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_PARENT = COURSE_DIR.parent
MAX_REPORT_BYTES = 1 << 20
FOLDERS = ("state/answers", "work", "home", "ipython", "jupyter", "runtime")


@dataclass
class Run:
    """What happened when a submission ran: how it ended and where its answers are."""

    answers: Path
    seconds: float = 0.0
    timed_out: bool = False
    report: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)  # position -> first line of the cell
    oom_kills: int = 0  # processes killed for passing the sandbox's memory limit


def _first_line(source):
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= 60 else line[:57] + "..."
    return ""


def prepare(nb, lesson, answers, cases_file):
    """The notebook to run: the grader's set-up cell, then the submission's code cells."""
    setup = ("from course_utils.grading.harness import install as _course_grader_install\n"
             f"_course_grader_install({str(answers)!r}, {lesson!r}, {str(cases_file)!r})\n"
             "del _course_grader_install")
    cells = [nbformat.v4.new_code_cell(setup, metadata={POSITION: 0})]
    for position, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code":
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={POSITION: position}))
    return nbformat.v4.new_notebook(cells=cells)


def environment(tmp):
    """A clean environment for the kernel: no instructor secrets, no user start-up files."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SYSTEMROOT",
            "VIRTUAL_ENV", "CONDA_PREFIX")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    pythonpath = os.environ.get("PYTHONPATH")
    env.update(
        PYTHONPATH=str(PACKAGE_PARENT) + (os.pathsep + pythonpath if pythonpath else ""),
        HOME=str(tmp / "home"), TMPDIR=str(tmp / "work"), COURSE_PROGRESS="off",
        MPLBACKEND="agg", PYTHONHASHSEED="0", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2",
        IPYTHONDIR=str(tmp / "ipython"), JUPYTER_CONFIG_DIR=str(tmp / "jupyter"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _read_int(path):
    try:
        return int(path.read_text(encoding="ascii")[:20])
    except (OSError, ValueError):
        return None


def _verified_kernel(state):
    """The kernel's pid, once it is certain (without bubblewrap only: inside, pids are the
    sandbox's own): the pid file is writable by the notebook, so the process must be alive
    and carry that pid file on its command line."""
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
             "startup_error": (str, type(None)), "left_running": (int,)}
    if not isinstance(report, dict) or set(report) != set(shape) \
            or not all(isinstance(report[key], kinds) for key, kinds in shape.items()) \
            or not all(isinstance(error, dict) for error in report["errors"]):
        return {}
    return report


def _runner_argv(notebook, state, work, memory_mb, isolation):
    max_tasks = None if isolation.cgroups else sandbox.user_task_limit()
    return [sys.executable, "-m", "course_utils.grading.runner", str(notebook), str(state),
            str(work), str(memory_mb), str(max_tasks or 0)]


def _wait(proc, state, deadline, watch_kernel):
    """Wait for the runner until it ends, the deadline or Ctrl-C; (timed out, kernel pid)."""
    kernel = None
    while proc.poll() is None and time.monotonic() < deadline and not STOP.is_set():
        if watch_kernel:
            kernel = kernel or _verified_kernel(state)
        try:
            proc.wait(min(0.25, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
    return proc.poll() is None, kernel


def run_submission(nb, lesson, cases, tmp, timeout, memory_mb, isolation):
    """Run ``nb`` in a fresh limited kernel in a sandbox below ``tmp``; the Run.

    ``cases`` is {exercise id: grading cases}; answers stay in ``tmp`` for scoring."""
    state, work = tmp / "state", tmp / "work"
    answers = state / "answers"
    for folder in FOLDERS:
        (tmp / folder).mkdir(parents=True)
    torch.save(cases, state / CASES_FILE)
    notebook = tmp / "submission.ipynb"
    nbformat.write(prepare(nb, lesson, answers, state / CASES_FILE), str(notebook))
    run = Run(answers, cells={position: _first_line(cell.source)
                              for position, cell in enumerate(nb.cells, 1)})
    cgroup = (sandbox.make_cgroup(isolation.cgroups, sandbox.sandbox_memory_mb(memory_mb))
              if isolation.cgroups else None)
    argv = sandbox.command(isolation, _runner_argv(notebook, state, work, memory_mb, isolation),
                           cgroup, readable=sandbox.python_paths(COURSE_DIR, PACKAGE_PARENT),
                           writable=tmp, workdir=work)
    start = time.monotonic()
    try:
        with open(tmp / "runner.log", "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=work, env=environment(tmp),
                                    start_new_session=True)
            kernel = None
            try:
                run.timed_out, kernel = _wait(proc, state, start + timeout,
                                              watch_kernel=not isolation.bwrap)
            finally:
                # bubblewrap: its namespace dies with it. Otherwise the kernel leads its own
                # session (jupyter_client starts it so): kill both groups
                _kill_group(proc.pid)
                if kernel is not None:
                    _kill_group(kernel)
                proc.wait()
    finally:
        if cgroup is not None:  # whatever left the process groups is still in the cgroup
            run.oom_kills = cgroup.oom_kills()
            cgroup.kill_all()
    run.seconds = time.monotonic() - start
    run.report = _read_report(state / "run.json")
    if run.timed_out:
        run.report["stopped_in"] = _read_int(answers / CELL_FILE) or 0
    return run
