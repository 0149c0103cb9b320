"""Shared test set-up: every unit test runs outside the working tree with a private state folder;
stored figures are compared with the re-drawn ones; a per-notebook timing table."""
import os
from collections import defaultdict

import pytest

os.environ.setdefault("COURSE_PROGRESS", "off")
# Kernels started by nbval inherit this environment: they must draw inline, as when the
# notebooks were generated, or every figure's output goes missing. This process draws
# off-screen.
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
import matplotlib  # noqa: E402

matplotlib.use("agg")
# Stored figures are compared pixel by pixel (figure_compare.py): kernels draw with
# matplotlib's own defaults, as the generator does, whatever a personal matplotlibrc says.
os.environ["MATPLOTLIBRC"] = os.path.join(matplotlib.get_data_path(), "matplotlibrc")

from figure_compare import FigureComparison  # noqa: E402


@pytest.fixture(autouse=True)
def _outside_the_working_tree(tmp_path, monkeypatch):
    """A test that writes to a relative path (a CLI's default --out or state folder) writes to its tmp_path."""
    monkeypatch.chdir(tmp_path)


LESSON_BUDGET_S = 180
NOTEBOOKS_BUDGET_S = 30 * 60


class NotebookTiming:
    """Seconds per notebook (nbval's cells), and the table at the end of the run.

    Registered as a plugin rather than written as conftest hooks: a conftest's
    run-test hooks only see the items below its own folder, and the notebooks live
    in lessons/ and solutions/.
    """

    def __init__(self):
        self.seconds = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        path = report.nodeid.split("::")[0]
        if path.endswith(".ipynb"):  # setup of the first cell includes the kernel's start
            self.seconds[path] += report.duration

    def pytest_terminal_summary(self, terminalreporter):
        if not self.seconds:
            return
        write = terminalreporter.write_line
        terminalreporter.section("notebook execution time (budget: 180 s per lesson, 30 min in all)")
        for path, seconds in sorted(self.seconds.items()):
            flag = "  OVER BUDGET" if seconds > LESSON_BUDGET_S else ""
            write(f"{seconds:8.1f} s  {path}{flag}")
        total = sum(self.seconds.values())
        flag = "  OVER BUDGET" if total > NOTEBOOKS_BUDGET_S else ""
        write(f"{total:8.1f} s  all {len(self.seconds)} notebooks{flag}")


def pytest_configure(config):
    config.pluginmanager.register(NotebookTiming(), "notebook-timing")
    config.pluginmanager.register(FigureComparison(config.rootpath), "figure-comparison")


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory, monkeypatch):
    """Resumable state of every test goes to a fresh folder, never the user's cache."""
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
