"""Reading a submission: the notebook file, validated, and the lesson it belongs to."""
import json
import re
import warnings

import nbformat

from .core import list_exercises

MAX_NOTEBOOK_BYTES = 50 << 20
LESSON = re.compile(r"^\d\d$")
CHECK_CALL = re.compile(r"check\(\s*[\"'](\d\d)\.[\w.]+[\"']")
GRADE_ID = re.compile(r"^(\d\d)_")


class SubmissionError(ValueError):
    """A submission cannot be run; the message is the student-facing reason."""


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
                              f"{', '.join(known_lessons()) or 'none'}")
    return lesson


def lesson_by_name(path):
    """The graded lesson named by ``path``'s NN_ prefix, or None: for files that cannot be read."""
    match = GRADE_ID.match(path.name)
    return match.group(1) if match and list_exercises(match.group(1)) else None


def known_lessons():
    return sorted({ex.id.split(".")[0] for ex in list_exercises()})
