"""Grading a class: expected values first, then each submission in its own sandbox.

Every record says which sandbox its submission ran in (``sandbox``): the machine may lack
bubblewrap or cgroups, and what is guaranteed then is less (docs/GRADING.md).
"""
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .core import GRADING_SEEDS, list_exercises
from .execute import COURSE_DIR, PACKAGE_PARENT, STOP, run_submission
from .scoring import expected_values, run_error, score_exercise
from .submission import SubmissionError, identify_lesson, lesson_by_name, read_submission

DEFAULT_TIMEOUT_S = 600
DEFAULT_MEMORY_MB = 2048


@dataclass(frozen=True)
class Settings:
    timeout: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    lesson: str = None
    seeds: tuple = GRADING_SEEDS


def make_record(path, lesson, exercises, error, box=""):
    return {"submission": str(path), "lesson": lesson,
            "score": sum(ex["points"] for ex in exercises),
            "max_score": sum(ex["max_points"] for ex in exercises),
            "exercises": exercises, "error": error, "sandbox": box}


def grade_submission(path, settings, expected_cache, isolation):
    """The JSON record of one submission; never raises for anything the submission does."""
    box = isolation.describe(settings.memory_mb)
    lesson = settings.lesson
    try:
        nb = read_submission(path)
        lesson = identify_lesson(nb, path, settings.lesson)
    except SubmissionError as err:
        lesson = lesson or lesson_by_name(path)  # an unreadable file still counts against its lesson
        exercises = [{"id": ex.id, "points": 0, "max_points": ex.points, "status": "error",
                      "feedback": "not graded: the notebook could not be run"}
                     for ex in (list_exercises(lesson) if lesson else [])]
        return make_record(path, lesson, exercises, str(err), box)
    table = expected_cache[lesson]
    cases = {exercise_id: entry[1] for exercise_id, entry in table.items()}
    tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        run = run_submission(nb, lesson, cases, tmp, settings.timeout, settings.memory_mb, isolation)
        exercises = [score_exercise(ex, cases, expected, run)
                     for ex, cases, expected in table.values()]
        return make_record(path, lesson, exercises,
                           run_error(run, settings.memory_mb, settings.timeout), box)
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


def _file_stats(roots):
    """{path: (size, mtime, ctime, inode)} of every file below ``roots``: a change of
    contents moves the ctime, which no process can set back."""
    stats = {}
    for root in sorted({os.path.realpath(r) for r in roots if r and os.path.isdir(r)}):
        for folder, _, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                stats[path] = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
    return stats


def fingerprint(isolation):
    """What no submission may change: the course package's files and, where bubblewrap does
    not mount them read-only, all the kernel imports (the Python environment and sys.path)."""
    prints = {str(path.relative_to(COURSE_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()
              for path in sorted(COURSE_DIR.rglob("*"))
              if path.is_file() and "__pycache__" not in path.parts}
    if not isolation.bwrap:
        prints.update(_file_stats(sandbox.python_paths(COURSE_DIR, PACKAGE_PARENT)))
    return prints


def _void(record, reason):
    record["score"] = 0
    for ex in record["exercises"]:
        ex.update(points=0, status="error", feedback=f"not graded: {reason}")
    record["error"] = f"not graded: {reason}"
    record["internal"] = True
    return record


def grade(paths, settings, jobs=1, progress=print, isolation=None):
    """Records for ``paths``, in order; expected values computed first, submissions in parallel.

    With bubblewrap, a kernel cannot write the course or the Python environment. Without
    it, one that rewrites them (to change the references or the harness for later
    submissions) is caught by comparing fingerprints after each submission: its record and
    every later one are voided (internal error, exit 1)."""
    isolation = isolation or sandbox.detect()
    expected_cache = {lesson: expected_values(lesson, settings.seeds)
                      for lesson in sorted(_lessons_needed(paths, settings.lesson))}
    clean = fingerprint(isolation)
    tampered = None
    records = [None] * len(paths)
    STOP.clear()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_submission, path, settings, expected_cache, isolation): index
                   for index, path in enumerate(paths)}
        try:
            for future in concurrent.futures.as_completed(futures):
                tampered = _collect(future, futures, paths, records,
                                    (clean, isolation, settings.memory_mb), tampered, progress)
        except KeyboardInterrupt:
            STOP.set()
            for future in futures:
                future.cancel()
            raise
    box = isolation.describe(settings.memory_mb)
    for index, record in enumerate(records):
        if record is None:  # cancelled after the course files changed
            records[index] = _void(make_record(paths[index], settings.lesson, [], None, box), tampered)
    return records


def _collect(future, futures, paths, records, baseline, tampered, progress):
    """Store ``future``'s record; the tampering message, new or old, or None."""
    index = futures[future]
    clean, isolation, memory_mb = baseline
    try:
        records[index] = future.result()
    except Exception as err:  # a grader bug must not cost the rest of the class
        records[index] = make_record(paths[index], None, [], f"internal grader error: "
                                     f"{type(err).__name__}: {err}", isolation.describe(memory_mb))
        records[index]["internal"] = True
    if tampered is None:
        changed = sorted({name for name, _ in set(clean.items()) ^ set(fingerprint(isolation).items())})
        if changed:
            tampered = (f"the course or Python files changed on disk while {paths[index]} ran "
                        f"({', '.join(changed[:5])}); restore them (git checkout -- "
                        f"course_utils; remove files added to the Python environment) and "
                        f"grade again")
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
