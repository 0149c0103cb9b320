"""Exercises and their instant checks.

Each exercise is registered once, in ``course_utils/grading/lessonNN.py``, as a set of
input cases, a reference solution, a comparison and the common mistakes it recognises.
``check(id, answer)`` runs the visible cases in the notebook and prints pass / which
mistake the answer looks like / "not attempted yet"; the grader runs the same exercise
on cases of the same kinds with values the student never saw. ``use_passing`` lets a
lesson go on with the student's function once its check passed.
"""
from .core import (CheckFailed, Exercise, Mistake, check, compare_int, compare_parts,
                   compare_tensors, exercise, get_exercise, list_exercises, use_passing)

__all__ = ["CheckFailed", "Exercise", "Mistake", "check", "compare_int", "compare_parts",
           "compare_tensors", "exercise", "get_exercise", "list_exercises", "use_passing"]
