"""One source per lesson: generate the student and solved notebooks, execute them, check staleness.

    python -m course_utils.notebooks build [NN ...]   regenerate and execute (all lessons by default)
    python -m course_utils.notebooks check            list notebooks that are stale w.r.t. their source

A source ``solutions/sources/NN_slug.py`` is a jupytext percent script. In the student
notebook ``lessons/NN_slug.ipynb`` each ``### BEGIN SOLUTION`` / ``### END SOLUTION``
block becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` (markdown:
``YOUR ANSWER HERE``); ``solutions/NN_slug.ipynb`` keeps the answers. Cells carry
nbgrader metadata: answer cells are solution cells, ``check("NN.id", ...)`` cells are
locked, graded test cells worth the registered points. Every notebook opens with a launch
cell (``course_utils.launch.first_cell``): Binder and Colab links from course.cfg, and the
install that a hosted notebook needs.
"""
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from . import cli
from .files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CHECK_CALL = re.compile(r"^check\(\s*[\"'](\d\d\.[\w.]+)[\"']", re.MULTILINE)
SOURCE_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.py$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
NBGRADER_SCHEMA = 3


class LessonSourceError(ValueError):
    """A lesson source is malformed; the message names file and line."""


@dataclass(frozen=True)
class Lesson:
    number: str
    slug: str
    source: Path

    @property
    def student_path(self):
        return self.source.parents[1].parent / "lessons" / f"{self.slug}.ipynb"

    @property
    def solved_path(self):
        return self.source.parents[1] / f"{self.slug}.ipynb"


def find_lessons(root=ROOT, numbers=None):
    """Lessons whose source lies in ``root/solutions/sources``, optionally only ``numbers``."""
    lessons = []
    for path in sorted((Path(root) / "solutions" / "sources").glob("*.py")):
        match = SOURCE_NAME.match(path.name)
        if match and (not numbers or match.group(1) in numbers):
            lessons.append(Lesson(match.group(1), path.stem, path))
    if numbers:
        missing = sorted(set(numbers) - {lesson.number for lesson in lessons})
        if missing:
            raise LessonSourceError(f"no lesson source for {', '.join(missing)} in "
                                    f"{Path(root) / 'solutions' / 'sources'} (expected NN_slug.py)")
    return lessons


def validate_markers(path, text):
    """Raise LessonSourceError (file:line) unless solution markers pair up inside one cell."""
    opened = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("# %%") and opened is not None:
            raise LessonSourceError(f"{path}:{opened}: '{BEGIN}' is not closed before the next "
                                    f"cell starts at line {number}; add '{END}'")
        if stripped.startswith(BEGIN):
            if opened is not None:
                raise LessonSourceError(f"{path}:{number}: '{BEGIN}' inside the block opened at "
                                        f"line {opened}; close that one first with '{END}'")
            opened = number
        elif stripped.startswith(END):
            if opened is None:
                raise LessonSourceError(f"{path}:{number}: '{END}' without a matching '{BEGIN}'")
            opened = None
    if opened is not None:
        raise LessonSourceError(f"{path}:{opened}: '{BEGIN}' is never closed; add '{END}'")


def _strip_answers(source, cell_type):
    """The student's version of a cell: every solution block replaced by a placeholder."""
    out, inside = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
            else:
                out.append(f"{indent}YOUR ANSWER HERE")
        elif stripped.startswith(END):
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _nbgrader(grade_id, solution, points=None):
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
            "schema_version": NBGRADER_SCHEMA, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _exercise_points(exercise_id, path):
    from .grading import get_exercise
    try:
        return get_exercise(exercise_id).points
    except KeyError as err:
        raise LessonSourceError(f"{path}: check({exercise_id!r}, ...) names no registered exercise "
                                f"({err.args[0]})") from None


def _launch_cell(lesson, version):
    """Every notebook's first cell: its Binder and Colab links, and the install a hosted notebook needs."""
    from .launch import AddressError, first_cell, read_repository
    path = lesson.student_path if version == "student" else lesson.solved_path
    try:
        repository = read_repository()
    except AddressError as err:
        raise LessonSourceError(str(err)) from None
    relative = path.relative_to(lesson.source.parents[2]).as_posix()
    cell = nbformat.v4.new_code_cell(first_cell(repository, relative))
    cell["id"] = f"l{lesson.number}-launch"
    return cell


def generate(lesson, version):
    """The unexecuted ``"student"`` or ``"solution"`` notebook of ``lesson``."""
    text = lesson.source.read_text(encoding="utf-8")
    validate_markers(lesson.source, text)
    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
        "course": {"lesson": lesson.number, "slug": lesson.slug, "version": version,
                   "source": f"solutions/sources/{lesson.source.name}"},
    }
    pending = []  # answer cells waiting for the check cell that grades them
    cells = []
    for index, cell in enumerate(nb.cells):
        cell.metadata = {}
        cell["id"] = f"l{lesson.number}-{index:03d}"
        has_answer = BEGIN in cell.source
        if has_answer:
            pending.append(cell)
            if version == "student":
                cell.source = _strip_answers(cell.source, cell.cell_type)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            checked = CHECK_CALL.findall(cell.source)
            if len(checked) > 1:
                raise LessonSourceError(f"{lesson.source}: one check(...) per cell, found {checked}")
            if checked:
                exercise_id = checked[0]
                key = exercise_id.replace(".", "_")
                cell.metadata["nbgrader"] = _nbgrader(
                    key, solution=False, points=_exercise_points(exercise_id, lesson.source))
                cell.metadata.update(editable=False, deletable=False)
                for number, answer in enumerate(pending, 1):
                    suffix = "" if len(pending) == 1 else f"_{number}"
                    answer.metadata["nbgrader"] = _nbgrader(f"{key}_answer{suffix}", solution=True)
                pending = []
        cells.append(cell)
    if pending:
        raise LessonSourceError(f"{lesson.source}: an answer cell has no check(...) cell after it; "
                                f"add one so the exercise can be graded")
    nb.cells = [_launch_cell(lesson, version)] + cells
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def _write_atomic(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda stream: nbformat.write(nb, stream), text=True)


def execute(nb, workdir, timeout=600):
    """Run every cell in a fresh kernel with cwd ``workdir``; progress bars off."""
    from nbclient import NotebookClient
    os.environ["COURSE_PROGRESS"] = "off"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline, as nbval expects
    import matplotlib  # figures are compared by pixel: its defaults, not a personal matplotlibrc
    os.environ["MATPLOTLIBRC"] = os.path.join(matplotlib.get_data_path(), "matplotlibrc")
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNELSPEC["name"],
                            resources={"metadata": {"path": str(workdir)}}, record_timing=False)
    client.execute()
    return nb


# ---------------------------------------------------------------- byte-stable outputs
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


def merge_streams(outputs):
    """Consecutive stream outputs of one stream as one: how the kernel flushed is not content."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None
                and previous.output_type == "stream" and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def _widget_order(state, roots):
    """Model ids in a fixed order: depth-first from the displayed ``roots``, then the rest by content."""
    order, seen = [], set()

    def visit(model_id):
        if model_id in seen or model_id not in state:
            return
        seen.add(model_id)
        order.append(model_id)
        for ref in MODEL_REFERENCE.findall(json.dumps(state[model_id], sort_keys=True)):
            visit(ref)

    def without_ids(model_id):  # content alone orders the models no output displays
        return MODEL_REFERENCE.sub("IPY_MODEL_", json.dumps(state[model_id], sort_keys=True))

    for root in roots:
        visit(root)
    for model_id in sorted(set(state) - seen, key=without_ids):
        visit(model_id)
    return order


def stable_widget_ids(nb, name):
    """Replace the random widget model ids by ids derived from ``name`` and their order, in place."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state")
    if not state:
        return nb
    views = [output.data[WIDGET_VIEW] for cell in nb.cells for output in cell.get("outputs", [])
             if WIDGET_VIEW in output.get("data", {})]
    order = _widget_order(state, [view["model_id"] for view in views])
    renamed = {old: hashlib.sha256(f"{name}:{n}".encode()).hexdigest()[:32]
               for n, old in enumerate(order)}

    def rename(match):
        return "IPY_MODEL_" + renamed.get(match.group(1), match.group(1))

    nb.metadata["widgets"][WIDGET_STATE]["state"] = {
        renamed[old]: json.loads(MODEL_REFERENCE.sub(rename, json.dumps(state[old])))
        for old in order}
    for view in views:
        view["model_id"] = renamed.get(view["model_id"], view["model_id"])
    return nb


def stable_outputs(nb, name):
    """Executed ``nb`` with what varies from run to run normalised: stream chunks and widget ids."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    return stable_widget_ids(nb, name)


def build(lessons, run=True):
    """Regenerate (and execute) both notebooks of each lesson; returns [(path, seconds)]."""
    timings = []
    for lesson in lessons:
        for version, path in (("student", lesson.student_path), ("solution", lesson.solved_path)):
            nb = generate(lesson, version)
            start = time.perf_counter()
            if run:
                try:
                    execute(nb, path.parent)
                except Exception as err:
                    raise LessonSourceError(f"executing the {version} notebook of "
                                            f"{lesson.source.name} failed:\n{err}") from None
                stable_outputs(nb, f"{lesson.slug}/{version}")
            timings.append((path, time.perf_counter() - start))
            _write_atomic(nb, path)
            print(f"wrote {path.relative_to(lesson.source.parents[2])} "
                  f"({timings[-1][1]:.1f} s)", flush=True)
    return timings


def _comparable(nb):
    """What the source determines: cell types, sources, metadata, ids; not outputs."""
    return {
        "metadata": nb.metadata.get("course"),
        "kernelspec": nb.metadata.get("kernelspec"),
        "cells": [(c.cell_type, c.get("id"), c.source, dict(c.metadata)) for c in nb.cells],
    }


def stale(lessons, root=ROOT):
    """Messages for every generated notebook that does not match its source (or is orphaned)."""
    problems = []
    expected = set()
    for lesson in lessons:
        for version, path in (("student", lesson.student_path), ("solution", lesson.solved_path)):
            expected.add(path.resolve())
            if not path.exists():
                problems.append(f"{path}: missing; run `make notebooks`")
                continue
            stored = nbformat.read(path, as_version=4)
            if _comparable(stored) != _comparable(generate(lesson, version)):
                problems.append(f"{path}: stale w.r.t. {lesson.source.name}; run "
                                f"`python -m course_utils.notebooks build {lesson.number}`")
            elif any(c.cell_type == "code" and c.execution_count is None and c.source.strip()
                     for c in stored.cells):
                problems.append(f"{path}: not executed; run `python -m course_utils.notebooks "
                                f"build {lesson.number}`")
    for folder in (Path(root) / "lessons", Path(root) / "solutions"):
        for path in folder.glob("*.ipynb"):
            if path.resolve() not in expected:
                problems.append(f"{path}: has no source in solutions/sources/; delete it or add one")
    return problems


def parser():
    p = cli.Parser(prog="python -m course_utils.notebooks", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="regenerate and execute notebooks")
    build_cmd.add_argument("lessons", nargs="*", help="lesson numbers such as 00 03 (default: all)")
    sub.add_parser("check", help="list stale generated notebooks")
    return p


def _notebooks(args, argv):
    if args.command == "build":
        timings = build(find_lessons(numbers=args.lessons))
        print("\nexecution time per notebook")
        for path, seconds in timings:
            print(f"  {seconds:7.1f} s  {path.relative_to(ROOT)}")
        print(f"  {sum(s for _, s in timings):7.1f} s  total")
        return 0
    problems = stale(find_lessons())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def main(argv=None):
    return cli.run(_notebooks, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
