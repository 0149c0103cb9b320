"""Exercises and their instant checks.

Each exercise is registered once, in ``course_utils/grading/lessonNN.py``, as a set of
input cases, a reference solution and a comparison. ``check(id, answer)`` runs the
visible cases in the notebook and prints pass / what is wrong / "not attempted yet";
the grader runs the same exercise on cases the student never saw.
"""
from .core import CheckFailed, Exercise, check, compare_tensors, exercise, get_exercise, list_exercises

__all__ = ["CheckFailed", "Exercise", "check", "compare_tensors", "exercise", "get_exercise",
           "list_exercises"]
