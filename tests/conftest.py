"""Shared test set-up: a per-notebook timing table at the end of every run."""
import os
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("COURSE_PROGRESS", "off")
# Kernels started by nbval inherit this environment: they must draw inline, as when the
# notebooks were generated, or every figure's output goes missing. This process draws
# off-screen.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
import matplotlib  # noqa: E402

matplotlib.use("agg")

ROOT = Path(__file__).resolve().parents[1]
LESSON_BUDGET_S = 180
NOTEBOOKS_BUDGET_S = 30 * 60
_notebook_seconds = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):  # setup of the first cell includes the kernel's start
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    write = terminalreporter.write_line
    terminalreporter.section("notebook execution time (budget: 180 s per lesson, 30 min in all)")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  OVER BUDGET" if seconds > LESSON_BUDGET_S else ""
        write(f"{seconds:8.1f} s  {path}{flag}")
    total = sum(_notebook_seconds.values())
    flag = "  OVER BUDGET" if total > NOTEBOOKS_BUDGET_S else ""
    write(f"{total:8.1f} s  all {len(_notebook_seconds)} notebooks{flag}")
