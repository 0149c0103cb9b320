"""The lesson generator: staleness, marker validation, student notebooks without answers."""
import ast
import textwrap

import nbformat
import pytest

from course_utils import notebooks
from course_utils.notebooks import BEGIN, END, Lesson, LessonSourceError

LESSONS = notebooks.find_lessons()


def test_every_lesson_has_a_source():
    assert LESSONS, "no lesson sources found in solutions/sources/"


def test_generated_notebooks_are_up_to_date():
    problems = notebooks.stale(LESSONS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.number)
def test_student_notebook_has_no_answers(lesson):
    student = nbformat.read(lesson.student_path, as_version=4)
    solved = nbformat.read(lesson.solved_path, as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    assert BEGIN not in text and END not in text
    answers = [c for c in solved.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers, f"lesson {lesson.number} has no exercise"
    for cell in answers:
        body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0].strip()
        for line in body.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                assert line not in text, f"answer line {line!r} leaked into the student notebook"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.number)
def test_library_functions_are_imported_under_their_module(lesson):
    # `from course_utils.scores import machine` would let a learner's `machine` shadow it,
    # or it theirs; only the grading hooks (check, use_passing, references) come bare.
    tree = ast.parse(lesson.source.read_text())
    bare = [f"line {node.lineno}: from {node.module} import ..." for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils.")
            and not node.module.startswith("course_utils.grading")]
    assert not bare, f"lesson {lesson.number}: import the module instead: {bare}"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.number)
def test_lessons_have_two_graded_exercises(lesson):
    student = nbformat.read(lesson.student_path, as_version=4)
    graded = [c.metadata["nbgrader"] for c in student.cells
              if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 2
    assert all(meta["locked"] and meta["points"] > 0 for meta in graded)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in student.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "nbgrader grade_ids must be unique"
    assert student.metadata["course"]["lesson"] == lesson.number


def _lesson_from(tmp_path, text):
    source = tmp_path / "solutions" / "sources" / "99_probe.py"
    source.parent.mkdir(parents=True)
    source.write_text(textwrap.dedent(text))
    return Lesson("99", "99_probe", source)


@pytest.mark.parametrize("body, line, words", [
    (f"# %%\ndef f():\n    {BEGIN}\n    return 1\n\n# %%\nx = 1\n", 3, "not closed"),
    (f"# %%\ndef f():\n    return 1\n    {END}\n", 4, "without a matching"),
    (f"# %%\n{BEGIN}\n{BEGIN}\n{END}\n", 3, "inside the block"),
    (f"# %%\nx = 0\n# %%\n{BEGIN}\nx = 1\n", 4, "never closed"),
])
def test_unbalanced_marker_names_file_and_line(tmp_path, body, line, words):
    lesson = _lesson_from(tmp_path, body)
    with pytest.raises(LessonSourceError, match=rf"99_probe\.py:{line}: .*{words}"):
        notebooks.generate(lesson, "student")


def test_cli_reports_bad_source_without_traceback(tmp_path, capsys, monkeypatch):
    lesson = _lesson_from(tmp_path, f"# %%\n{BEGIN}\n")
    monkeypatch.setattr(notebooks, "find_lessons", lambda **_: [lesson])
    assert notebooks.main(["build"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "99_probe.py:2" in err and "Traceback" not in err


def test_student_version_replaces_answers_and_sets_nbgrader_metadata(tmp_path):
    lesson = _lesson_from(tmp_path, f"""\
        # %% [markdown]
        # Exercise
        # %%
        def add_noise(x0, noise_var, eps):
            \"\"\"doc\"\"\"
            {BEGIN}
            return x0
            {END}
        # %%
        check("00.add_noise", add_noise)
        """)
    student = notebooks.generate(lesson, "student")
    solved = notebooks.generate(lesson, "solution")
    answer, graded = student.cells[2], student.cells[3]  # cells[0]: the launch cell
    assert answer.source.splitlines()[-2:] == ["    # YOUR CODE HERE", "    raise NotImplementedError()"]
    assert "return x0" in solved.cells[2].source
    assert answer.metadata["nbgrader"]["solution"] and not answer.metadata["nbgrader"]["grade"]
    assert answer.metadata["nbgrader"]["grade_id"] == "00_add_noise_answer"
    assert graded.metadata["nbgrader"] == {
        "grade": True, "grade_id": "00_add_noise", "locked": True, "points": 1,
        "schema_version": 3, "solution": False, "task": False}
    assert [c.id for c in student.cells] == [c.id for c in solved.cells]


def test_check_of_unknown_exercise_is_refused(tmp_path):
    lesson = _lesson_from(tmp_path, '# %%\ncheck("00.no_such_thing", print)\n')
    with pytest.raises(LessonSourceError, match="no registered exercise"):
        notebooks.generate(lesson, "student")


def test_stale_notebook_is_detected(tmp_path):
    lesson = _lesson_from(tmp_path, "# %%\nx = 1\n")
    for version, path in (("student", lesson.student_path), ("solution", lesson.solved_path)):
        nb = notebooks.generate(lesson, version)
        for cell in nb.cells:  # the launch cell and the lesson's one
            cell.execution_count = 1
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    assert notebooks.stale([lesson], root=tmp_path) == []
    lesson.source.write_text("# %%\nx = 2\n")
    problems = notebooks.stale([lesson], root=tmp_path)
    assert len(problems) == 2 and all("stale" in p for p in problems)


def test_merge_streams_joins_consecutive_chunks_of_one_stream():
    new = nbformat.v4.new_output
    chunks = [new("stream", name="stdout", text="a\n"), new("stream", name="stdout", text="b\n"),
              new("stream", name="stderr", text="warn\n"), new("stream", name="stdout", text="c\n"),
              new("execute_result", data={"text/plain": "1"}, execution_count=1),
              new("stream", name="stdout", text="d\n")]
    merged = notebooks.merge_streams(chunks)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in merged] == [
        ("stream", "stdout", "a\nb\n"), ("stream", "stderr", "warn\n"), ("stream", "stdout", "c\n"),
        ("execute_result", None, None), ("stream", "stdout", "d\n")]


def test_rebuilding_an_unchanged_lesson_changes_no_byte(tmp_path):
    """Widgets get random model ids and prints arrive in chunks; neither may reach the file."""
    lesson = _lesson_from(tmp_path, """\
        # %% [markdown]
        # A probe with a widget and output printed in pieces.

        # %%
        import time
        import ipywidgets
        for i in range(3):
            print("line", i, flush=True)
            time.sleep(0.05)

        # %%
        ipywidgets.VBox([ipywidgets.IntSlider(3), ipywidgets.Label("three")])
        """)
    lesson.student_path.parent.mkdir()  # the notebooks run where they are stored
    notebooks.build([lesson])
    first = {path: path.read_bytes() for path in (lesson.student_path, lesson.solved_path)}
    notebooks.build([lesson])
    for path, content in first.items():
        assert path.read_bytes() == content, f"{path.name} changed on a rebuild"
    stored = nbformat.read(lesson.solved_path, as_version=4)
    assert stored.metadata["widgets"], "the probe must exercise widget state"
    printing = next(c for c in stored.cells if "print(\"line\"" in c.source)
    assert [o.text for o in printing.outputs] == ["line 0\nline 1\nline 2\n"]
