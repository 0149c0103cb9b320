"""Real nbgrader on lesson 00: generate_assignment, then autograde of a solved, a partly wrong and a
cheating submission. Skipped where nbgrader is not installed (it is in the ``test`` extra)."""
import os
import subprocess
import sys

import nbformat
import pytest

from course_utils import notebooks

pytest.importorskip("nbgrader")
from nbgrader.api import Gradebook  # noqa: E402

ROOT = notebooks.ROOT
ASSIGNMENT = "lesson00"
NOTEBOOK = "00_paradox.ipynb"

NAIVE_DENOISER = '''def ideal_denoiser(x, train, noise_var):
    """exp() then a division: underflows to 0/0 at small noise."""
    a = (1 - noise_var) ** 0.5
    w = torch.exp(-torch.cdist(x, a * train) ** 2 / (2 * noise_var))
    return (w / w.sum(1, keepdim=True)) @ train
'''
CHEATING_FIRST_ANSWER = '''check = lambda *a, **k: print("[passed]")


def add_noise(x0, noise_var, eps):
    return x0
'''


def _nbgrader(course, *args):
    # nbgrader calls the `alembic` command of its own environment
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT), "COURSE_PROGRESS": "off",
           "COURSE_GRADING_STRICT": "1"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _answers(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _submit(course, student, released, sources):
    """``released`` with answer cells replaced by ``sources`` {grade_id: code}, as ``student``'s submission."""
    nb = nbformat.from_dict(released)
    for grade_id, code in sources.items():
        _answers(nb)[grade_id].source = code
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / NOTEBOOK)


def test_nbgrader_scores_solved_partly_wrong_and_cheating_submissions(tmp_path):
    course = tmp_path
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'local-rules'\n"
        "c.ExecutePreprocessor.timeout = 600\n", encoding="utf-8")
    lesson = notebooks.find_lessons(numbers=["00"])[0]
    solved = notebooks.generate(lesson, "solution")
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(solved, course / "source" / ASSIGNMENT / NOTEBOOK)
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    released = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)

    solutions = {grade_id: cell.source for grade_id, cell in _answers(solved).items()}
    _submit(course, "solved", released, solutions)
    _submit(course, "partly_wrong", released, {**solutions, "00_ideal_denoiser_answer": NAIVE_DENOISER})
    _submit(course, "cheating", released, {"00_add_noise_answer": CHEATING_FIRST_ANSWER})
    _nbgrader(course, "autograde", ASSIGNMENT, "--force")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        scores = {student: book.find_submission(ASSIGNMENT, student).score
                  for student in ("solved", "partly_wrong", "cheating")}
    assert scores == {"solved": 4, "partly_wrong": 2, "cheating": 0}
