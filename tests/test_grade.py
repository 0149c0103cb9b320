"""The grader: hostile submissions get a clear error and zero for what they broke, nothing more.

Two grader runs (module fixtures) serve most tests: the hostile suite, small notebooks
written here, graded together with a short timeout, and lesson 00's generated student and
solved notebooks. The rest are fast checks of the pieces: scoring, records, the CLI.
"""
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils import grade, notebooks
from course_utils.grading import check, get_exercise, list_exercises
from course_utils.grading.core import GRADING_SEEDS, CheckFailed, Exercise, compare_tensors
from course_utils.grading.harness import evaluate, plain

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_TIMEOUT_S = 45  # a small notebook needs ~5 s, ~30 s on a machine loaded 5x
MEMORY_MB = 1200

ADD_NOISE = '''def add_noise(x0, noise_var, eps):
    return (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps'''
IDEAL_DENOISER = '''def ideal_denoiser(x, train, noise_var):
    a = (1 - noise_var) ** 0.5
    logits = -torch.cdist(x, a * train) ** 2 / (2 * noise_var)
    return torch.softmax(logits, dim=1) @ train'''
WRONG_DENOISER = '''def ideal_denoiser(x, train, noise_var):
    return train.mean(0).expand_as(x)'''
CHECK_ADD = 'check("00.add_noise", add_noise)'
CHECK_DENOISER = 'check("00.ideal_denoiser", ideal_denoiser)'
IMPORTS = "import torch\nfrom course_utils.grading import check"
SOLVED = [IMPORTS, ADD_NOISE, CHECK_ADD, IDEAL_DENOISER, CHECK_DENOISER]

EVIL_PICKLE = '''import os, re, torch
answers = re.search(r"_course_grader_install\\('([^']+)'", _ih[1]).group(1)
class Evil:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
torch.save({{"status": "ok", "results": [Evil()]}}, os.path.join(answers, "00.add_noise.pt"))
torch.save({{"status": "ok", "results": []}}, os.path.join(answers, "00.ideal_denoiser.pt"))'''
FORGE_GRADES = '''import json, os, re
forged = {{"submission": "forged", "lesson": "00", "score": 99, "max_score": 3,
          "exercises": [], "error": None}}
for path in ({out!r}, {csv!r}):
    with open(path, "w") as stream:
        stream.write(json.dumps(forged) + "\\n")
answers = re.search(r"_course_grader_install\\('([^']+)'", _ih[1]).group(1)
with open(os.path.join(os.path.dirname(answers), "kernel.pid"), "w") as stream:
    stream.write("{victim}")  # the grader must not kill this process group for us'''
MONKEYPATCH = '''import course_utils.grading as grading
import course_utils.grading.core as core
core.compare_tensors = lambda *args, **kwargs: None
grading.check = core.check = check = lambda *args, **kwargs: print("[passed] all checks passed.")
torch.allclose = lambda *args, **kwargs: True
np_allclose = __import__("numpy").allclose = lambda *args, **kwargs: True'''


def _cell(source, grade_id=None, points=None):
    """A code cell with the generator's nbgrader metadata (answer or check cell)."""
    cell = nbformat.v4.new_code_cell(source)
    if grade_id and points is None:
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                     "schema_version": 3, "solution": True, "task": False}
    elif grade_id:
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                     "points": points, "schema_version": 3, "solution": False,
                                     "task": False}
    return cell


def _tagged(source):
    if source.startswith("def add_noise"):
        return _cell(source, "00_add_noise_answer")
    if source.startswith("def ideal_denoiser"):
        return _cell(source, "00_ideal_denoiser_answer")
    if source == CHECK_ADD:
        return _cell(source, "00_add_noise", 1)
    if source == CHECK_DENOISER:
        return _cell(source, "00_ideal_denoiser", 2)
    return _cell(source)


def _notebook(sources, lesson="00"):
    nb = nbformat.v4.new_notebook(cells=[_tagged(s) for s in sources])
    nb.metadata["course"] = {"lesson": lesson, "slug": "00_paradox", "version": "student"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _hostile(folder, out, victim):
    """{name: path} of the hostile suite, written into ``folder``."""
    marker = folder / "pwned"
    notebooks_ = {
        "solved": SOLVED,
        "endless_loop": [IMPORTS, ADD_NOISE, CHECK_ADD,
                         "import subprocess\nsubprocess.Popen(['sleep', '313'])", "while True:\n    pass",
                         IDEAL_DENOISER],
        "endless_answer": [IMPORTS, ADD_NOISE, "def ideal_denoiser(x, train, noise_var):\n"
                           "    while True:\n        pass"],
        "sys_exit": [IMPORTS, ADD_NOISE, "import sys\nsys.exit(3)", IDEAL_DENOISER],
        "os_exit": [IMPORTS, ADD_NOISE, "import os\nos._exit(0)", IDEAL_DENOISER],
        "kill_runner": [IMPORTS, ADD_NOISE, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
                        IDEAL_DENOISER],
        "import_error": ["import torch\nimport definitely_not_a_module", ADD_NOISE,
                         "def ideal_denoiser(x, train, noise_var):\n"
                         "    return definitely_not_a_module.denoise(x)"],
        "memory_bomb": [IMPORTS, "hog = [bytearray(1 << 20) for _ in range(1 << 20)]", ADD_NOISE,
                        IDEAL_DENOISER],
        "output_flood": [IMPORTS, "print('x' * 5_000_000)\nfor i in range(30_000):\n    print(i)",
                         ADD_NOISE, IDEAL_DENOISER],
        "deleted_cells": [IMPORTS, IDEAL_DENOISER, CHECK_DENOISER],
        "duplicated_cells": [IMPORTS, ADD_NOISE, ADD_NOISE, CHECK_ADD, CHECK_ADD, WRONG_DENOISER,
                             CHECK_DENOISER, IDEAL_DENOISER, CHECK_DENOISER],
        "monkeypatched_checks": [IMPORTS, MONKEYPATCH, "def add_noise(x0, noise_var, eps):\n"
                                 "    return x0", CHECK_ADD, WRONG_DENOISER, CHECK_DENOISER],
        "forged_answers": [IMPORTS, EVIL_PICKLE.format(marker=marker)],
        "forged_grades": [IMPORTS, FORGE_GRADES.format(out=str(out), csv=str(out.with_suffix(".csv")),
                                                       victim=victim)],
    }
    paths = {}
    for name, sources in notebooks_.items():
        paths[name] = folder / f"00_{name}.ipynb"
        nbformat.write(_notebook(sources), str(paths[name]))
    paths["broken_json"] = folder / "00_broken_json.ipynb"
    paths["broken_json"].write_text('{"cells": [{"cell_type": "code", "source": "1 +', encoding="utf-8")
    paths["wrong_nbformat"] = folder / "00_wrong_nbformat.ipynb"
    paths["wrong_nbformat"].write_text(json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": [],
                                                   "metadata": {}}), encoding="utf-8")
    paths["not_a_notebook"] = folder / "00_not_a_notebook.ipynb"
    paths["not_a_notebook"].write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
                                                   "metadata": {}, "cells": "nope"}), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A frozen copy of the course package: the grader voids a run if its files change, and
    this shared working tree changes under a long test."""
    folder = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "course_utils", folder / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _grade_cli(course, paths, out, *flags):
    """Run the CLI in a subprocess, like an instructor; (exit code, stdout, stderr)."""
    (course / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(course), "TMPDIR": str(course / "tmp")}
    proc = subprocess.run([sys.executable, "-m", "course_utils.grade", *map(str, paths),
                           "--out", str(out), *flags], capture_output=True, text=True,
                          cwd=course, env=env, timeout=900)
    return proc.returncode, proc.stdout, proc.stderr


def _records(out):
    return {Path(r["submission"]).stem.removeprefix("00_"): r
            for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, course):
    folder = tmp_path_factory.mktemp("submissions")
    out = folder / "grades.jsonl"
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        paths = _hostile(folder, out, victim.pid)
        code, stdout, stderr = _grade_cli(course, paths.values(), out, "--timeout",
                                          str(HOSTILE_TIMEOUT_S), "--memory", str(MEMORY_MB),
                                          "--jobs", "2")
        victim_survived = victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
    return {"code": code, "stdout": stdout, "stderr": stderr, "out": out, "folder": folder,
            "records": _records(out), "paths": paths, "course": course,
            "victim_survived": victim_survived}


def _exercise(record, exercise_id):
    return next(ex for ex in record["exercises"] if ex["id"] == exercise_id)


def test_hostile_run_grades_everyone_and_exits_0(hostile):
    assert hostile["code"] == 0, hostile["stderr"]
    assert "Traceback" not in hostile["stderr"]
    assert set(hostile["records"]) == set(hostile["paths"])
    for record in hostile["records"].values():
        assert set(record) == {"submission", "lesson", "score", "max_score", "exercises", "error"}


def test_solved_small_notebook_scores_full_marks(hostile):
    record = hostile["records"]["solved"]
    assert (record["score"], record["max_score"], record["error"]) == (3, 3, None)
    assert all(ex["feedback"].startswith("passed all") for ex in record["exercises"])


def test_endless_loop_times_out_and_keeps_what_came_before(hostile):
    record = hostile["records"]["endless_loop"]
    assert record["score"] == 1 and record["max_score"] == 3
    assert f"timed out after {HOSTILE_TIMEOUT_S} s in cell 5 (`while True:`)" in record["error"]
    assert "stopped in cell 5" in _exercise(record, "00.ideal_denoiser")["feedback"]


def _cmdlines():
    for entry in Path("/proc").iterdir():
        try:
            yield (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_no_process_or_temporary_file_outlives_the_run(hostile):
    """Kernels, runners and what notebooks spawned (sleep 313) are killed; temp dirs removed."""
    tmp = str(hostile["course"] / "tmp")
    leftovers = [line for line in _cmdlines() if tmp in line or line.strip() == "sleep 313"]
    assert not leftovers
    assert not list(Path(tmp).iterdir())


def test_ctrl_c_stops_every_run_and_writes_nothing(hostile, tmp_path):
    course, out = hostile["course"], tmp_path / "g.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "course_utils.grade",
                             str(hostile["paths"]["endless_loop"]), "--out", str(out)],
                            cwd=course, env={**os.environ, "PYTHONPATH": str(course),
                                             "TMPDIR": str(course / "tmp")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((course / "tmp").glob("*/state/answers/00.add_noise.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert not [line for line in _cmdlines() if str(course / "tmp") in line]


def test_endless_answer_times_out_in_the_answer(hostile):
    record = hostile["records"]["endless_answer"]
    assert record["score"] == 1 and "timed out" in record["error"]
    assert "while `ideal_denoiser` was running" in _exercise(record, "00.ideal_denoiser")["feedback"]


def test_sys_exit_is_reported_and_the_rest_still_runs(hostile):
    record = hostile["records"]["sys_exit"]
    assert "cell 3 (`import sys`) called sys.exit()" in record["error"]
    assert record["score"] == 3


@pytest.mark.parametrize("name", ["os_exit", "kill_runner"])
def test_killed_kernel_or_runner_costs_only_later_exercises(hostile, name):
    record = hostile["records"][name]
    assert record["score"] == 1, record
    expected = "kernel stopped in cell 3" if name == "os_exit" else "ended without a report"
    assert expected in record["error"]
    why = "stopped in cell 3 (`import os" if name == "os_exit" else "the run ended early"
    assert why in _exercise(record, "00.ideal_denoiser")["feedback"]


def test_exception_at_import_is_the_error(hostile):
    record = hostile["records"]["import_error"]
    assert "cell 1 (`import torch`) raised ModuleNotFoundError" in record["error"]
    assert record["score"] == 1
    feedback = _exercise(record, "00.ideal_denoiser")["feedback"]
    assert feedback.startswith("`ideal_denoiser` raised NameError") and "grading case 1 of 9" in feedback


def test_memory_bomb_hits_the_limit_not_the_machine(hostile):
    record = hostile["records"]["memory_bomb"]
    assert "raised MemoryError" in record["error"] and f"{MEMORY_MB} MB" in record["error"]
    assert record["score"] == 3


def test_output_flood_is_survived(hostile):
    record = hostile["records"]["output_flood"]
    assert (record["score"], record["error"]) == (3, None)


@pytest.mark.parametrize("name, message", [
    ("broken_json", "not valid JSON (line 1"),
    ("wrong_nbformat", "notebook format 99 is not supported"),
    ("not_a_notebook", "structure is invalid"),
])
def test_unreadable_notebooks_get_zero_and_say_why(hostile, name, message):
    record = hostile["records"][name]
    assert message in record["error"]
    assert (record["lesson"], record["score"], record["max_score"]) == ("00", 0, 3)


def test_deleted_exercise_cells_are_missing_not_fatal(hostile):
    record = hostile["records"]["deleted_cells"]
    assert record["score"] == 2 and record["error"] is None
    assert _exercise(record, "00.add_noise")["feedback"].startswith(
        "missing: the notebook never defined the function `add_noise`")


def test_duplicated_cells_grade_the_last_definition(hostile):
    record = hostile["records"]["duplicated_cells"]
    assert record["score"] == 3
    feedback = _exercise(record, "00.ideal_denoiser")["feedback"]
    assert "defined 2 times; graded the last definition, cell 8" in feedback


def test_monkeypatched_checks_change_nothing(hostile):
    record = hostile["records"]["monkeypatched_checks"]
    assert record["score"] == 0
    for ex in record["exercises"]:
        assert ex["feedback"].startswith("wrong on grading case 1 of 9"), ex


def test_forged_answer_files_are_refused_unexecuted(hostile):
    record = hostile["records"]["forged_answers"]
    assert record["score"] == 0
    assert "not one the grader wrote" in _exercise(record, "00.add_noise")["feedback"]
    assert "malformed" in _exercise(record, "00.ideal_denoiser")["feedback"] or \
        "0 results for 9 cases" in _exercise(record, "00.ideal_denoiser")["feedback"]
    assert not (hostile["folder"] / "pwned").exists()


def test_forged_grades_file_is_overwritten(hostile):
    assert hostile["records"]["forged_grades"]["score"] == 0
    assert hostile["victim_survived"], "a forged kernel.pid made the grader kill another process"
    records = [json.loads(line) for line in hostile["out"].read_text(encoding="utf-8").splitlines()]
    assert [Path(r["submission"]) for r in records] == list(hostile["paths"].values())
    assert all(r["score"] <= 3 for r in records)
    table = hostile["out"].with_suffix(".csv").read_text(encoding="utf-8").splitlines()
    assert table[0] == "submission,lesson,score,max_score,00.add_noise,00.ideal_denoiser,error"
    assert [row.split(",")[0] for row in table[1:]] == [str(p) for p in hostile["paths"].values()]


def test_results_do_not_depend_on_jobs(hostile, tmp_path):
    paths = [hostile["paths"][name] for name in ("solved", "deleted_cells", "broken_json")]
    out = tmp_path / "serial.jsonl"
    code, _, stderr = _grade_cli(hostile["course"], paths, out, "--timeout", str(HOSTILE_TIMEOUT_S),
                                 "--memory", str(MEMORY_MB), "--jobs", "1")
    assert code == 0, stderr
    for name, record in _records(out).items():
        assert record == hostile["records"][name]


# -- lesson 00: the generated notebooks ---------------------------------------------------


@pytest.fixture(scope="module")
def lesson00(tmp_path_factory, course):
    folder = tmp_path_factory.mktemp("lesson00")
    lesson = notebooks.find_lessons(numbers=["00"])[0]
    paths = {}
    for version, stored in (("student", lesson.student_path), ("solution", lesson.solved_path)):
        # the shipped notebook; generated afresh (the same but for outputs) until it exists
        nb = (nbformat.read(stored, as_version=4) if stored.exists()
              else notebooks.generate(lesson, version))
        paths[version] = folder / f"{version}.ipynb"
        nbformat.write(nb, str(paths[version]))
    out = folder / "grades.jsonl"
    code, _, stderr = _grade_cli(course, paths.values(), out, "--timeout", "300", "--jobs", "2")
    assert code == 0, stderr
    return {path.stem: record for path, record in
            zip(paths.values(), map(json.loads, out.read_text().splitlines()))}


def test_solved_lesson_scores_full_marks(lesson00):
    record = lesson00["solution"]
    assert record["error"] is None
    assert record["score"] == record["max_score"] == sum(ex.points for ex in list_exercises("00"))


def test_student_lesson_scores_zero_not_attempted(lesson00):
    record = lesson00["student"]
    assert (record["score"], record["error"]) == (0, None)
    assert {ex["id"] for ex in record["exercises"]} == {ex.id for ex in list_exercises("00")}
    for ex in record["exercises"]:
        assert ex["status"] == "not attempted" and ex["feedback"].startswith("not attempted")


@pytest.mark.parametrize("lesson", notebooks.find_lessons(), ids=lambda lesson: lesson.number)
def test_generator_metadata_is_what_nbgrader_and_the_grader_need(lesson):
    nb = notebooks.generate(lesson, "student")
    assert nb.metadata["course"]["lesson"] == lesson.number
    assert grade.identify_lesson(nb, Path("renamed.ipynb")) == lesson.number
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids)), "nbgrader needs unique grade_id"
    graded = {m["grade_id"]: m for m in meta if m["grade"]}
    registry = {ex.id.replace(".", "_"): ex for ex in list_exercises(lesson.number)}
    assert set(graded) == set(registry), "every registered exercise has exactly one check cell"
    for key, m in graded.items():
        assert m["locked"] and not m["solution"] and m["points"] == registry[key].points
        assert m["schema_version"] == 3
    for m in meta:
        if m["solution"]:
            assert not m["grade"] and not m["locked"] and m["grade_id"].split("_answer")[0] in registry


@pytest.mark.parametrize("lesson", notebooks.find_lessons(), ids=lambda lesson: lesson.number)
def test_each_exercise_is_defined_once_in_its_lesson(lesson):
    """The grader grades the last function of an exercise's name defined in the notebook: a
    lesson that redefined it after the exercise would have its own code graded."""
    nb = notebooks.generate(lesson, "solution")
    for ex in list_exercises(lesson.number):
        defined_in = []
        for position, cell in enumerate(nb.cells, 1):
            if cell.cell_type != "code":
                continue
            tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                       if not line.lstrip().startswith(("%", "!"))))
            for node in tree.body:
                targets = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                           [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)])
                if ex.name in targets:
                    defined_in.append(position)
        assert len(defined_in) == 1, (f"{ex.id}: `{ex.name}` is defined in cells {defined_in} of "
                                      f"{lesson.source.name}; define it once, in its answer cell")


# -- the pieces, without a kernel ---------------------------------------------------------


def _scored(tmp_path, exercise_id, answer):
    """Score ``answer`` the way a finished run would be scored."""
    ex = get_exercise(exercise_id)
    record = evaluate(ex, answer, GRADING_SEEDS)
    record.update(exercise=ex.id, cell=2, definitions=1)
    torch.save(record, tmp_path / f"{ex.id}.pt")
    _, cases, expected = grade.expected_values("00", GRADING_SEEDS)[ex.id]
    return grade.score_exercise(ex, cases, expected, grade.Run(tmp_path))


def test_reference_scores_full_and_wrong_scores_zero(tmp_path):
    ref = get_exercise("00.ideal_denoiser").reference
    assert _scored(tmp_path, "00.ideal_denoiser", ref)["points"] == 2
    # exact at the visible noise levels, wrong at tiny b where exp() underflows: hidden cases catch it
    def naive(x, train, noise_var):
        a = (1 - noise_var) ** 0.5
        w = torch.exp(-torch.cdist(x, a * train) ** 2 / (2 * noise_var))
        return (w / w.sum(1, keepdim=True)) @ train
    verdict = _scored(tmp_path, "00.ideal_denoiser", naive)
    assert verdict["points"] == 0 and verdict["status"] == "failed"
    assert "NaN" in verdict["feedback"]


def test_a_record_of_a_broken_run_fails_with_its_message(tmp_path):
    ex = get_exercise("00.add_noise")
    torch.save({"status": "error", "message": "the answer could not be recorded (OSError: File "
                "too large)", "results": [], "cell": 2, "definitions": 1}, tmp_path / f"{ex.id}.pt")
    _, cases, expected = grade.expected_values("00", GRADING_SEEDS)[ex.id]
    verdict = grade.score_exercise(ex, cases, expected, grade.Run(tmp_path))
    assert verdict["points"] == 0 and "could not be run on the grading cases" in verdict["feedback"]
    assert "File too large" in verdict["feedback"]


def test_answers_that_touch_the_global_rng_or_their_inputs_are_fine(tmp_path):
    ref = get_exercise("00.add_noise").reference
    def mutating(x0, noise_var, eps):
        torch.randn(3)
        out = ref(x0.clone(), noise_var, eps)
        x0.zero_()
        return out
    state = torch.random.get_rng_state()
    assert _scored(tmp_path, "00.add_noise", mutating)["points"] == 1
    assert torch.equal(state, torch.random.get_rng_state())


def test_grading_cases_are_reproducible_and_unseen():
    ex = get_exercise("00.ideal_denoiser")
    torch.manual_seed(123)
    first = ex.grading_cases((1, 2))
    torch.set_default_dtype(torch.float64)
    try:
        second = ex.grading_cases((1, 2))
    finally:
        torch.set_default_dtype(torch.float32)
    for a, b in zip(first, second, strict=True):
        assert all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)
    visible = ex.cases(0)
    assert not any(torch.equal(v["x"], g["x"]) for v in visible for g in first)


def test_value_exercises_are_scored_by_value(tmp_path):
    ex = Exercise("99.n_modes", "n_modes", reference=lambda: 3, cases=lambda seed: [{}],
                  points=2, kind="value", compare=compare_tensors)
    cases = ex.grading_cases()
    for answer, points in ((3, 2), (np.int64(3), 2), (4, 0), ("three", 0)):
        torch.save({**evaluate(ex, answer, GRADING_SEEDS), "cell": 1, "definitions": 1},
                   tmp_path / f"{ex.id}.pt")
        verdict = grade.score_exercise(ex, cases, [ex.expected(c) for c in cases], grade.Run(tmp_path))
        assert verdict["points"] == points, (answer, verdict)
    assert "grading case 1 of 1: values differ" in verdict["feedback"] or "wrong" in verdict["feedback"]


def test_course_files_changed_by_a_submission_void_the_rest(monkeypatch, tmp_path):
    prints = iter([{"a.py": "1"}, {"a.py": "1"}, {"a.py": "2"}])
    monkeypatch.setattr(grade, "fingerprint", lambda: next(prints, {"a.py": "2"}))
    monkeypatch.setattr(grade, "expected_values", lambda lesson, seeds: {})
    def fake(path, settings, cache):
        return grade._record(path, "00", [{"id": "00.add_noise", "points": 1, "max_points": 1,
                                           "status": "passed", "feedback": "passed"}], None)
    monkeypatch.setattr(grade, "grade_submission", fake)
    paths = [tmp_path / f"00_{name}.ipynb" for name in "abc"]
    records = grade.grade(paths, grade.Settings(lesson="00"), progress=lambda line: None)
    assert [r["score"] for r in records] == [1, 0, 0]
    assert "course files changed on disk while" in records[1]["error"] and "00_b" in records[1]["error"]
    assert records[2]["internal"] and records[2]["error"] == records[1]["error"]


def test_plain_strips_subclasses_and_refuses_objects():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):
            return True
    value = plain({"a": torch.ones(2).as_subclass(Sneaky), "b": [np.float32(1.5), np.arange(3)]})
    assert type(value["a"]) is torch.Tensor and type(value["b"][0]) is float
    assert torch.equal(value["b"][1], torch.arange(3))
    with pytest.raises(TypeError):
        plain(object())


def test_strict_check_raises_for_nbgrader(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_GRADING_STRICT", "1")
    check("00.add_noise", get_exercise("00.add_noise").reference)
    assert capsys.readouterr().out.startswith("[passed] 00.add_noise: all 12 checks passed.")
    with pytest.raises(CheckFailed, match="not attempted"):
        def add_noise(x0, noise_var, eps):
            raise NotImplementedError()
        check("00.add_noise", add_noise)
    monkeypatch.delenv("COURSE_GRADING_STRICT")
    check("00.add_noise", add_noise)  # the default stays: print, never raise
    assert capsys.readouterr().out.startswith("[not attempted yet]")


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    ([], "no submissions given"),
    (["missing.ipynb"], "no such file: missing.ipynb"),
    (["{nb}", "--lesson", "42"], "--lesson 42: no such graded lesson"),
    (["{folder}"], "no .ipynb files in the folder"),
    (["{nb}", "--out", "{folder}/nowhere/grades.jsonl"], "does not exist; create it first"),
    (["{nb}", "--csv", "{folder}/g.jsonl"], "--csv and --out are the same file"),
])
def test_misuse_exits_2_with_a_message(tmp_path, capsys, argv, message):
    nb = tmp_path / "00_x.ipynb"
    nb.write_text("{}", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = [a.format(nb=nb, folder=empty if a == "{folder}" else tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "g.jsonl")]
    assert grade.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.jsonl").exists()


@pytest.mark.parametrize("flags", [["--timeout", "0"], ["--memory", "lots"], ["--memory", "100"],
                                   ["--seeds", "0,1"], ["--jobs", "0"], ["--frobnicate"]])
def test_bad_flags_exit_2(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exit_:
        grade.main([str(tmp_path), "--out", str(tmp_path / "g.jsonl"), *flags])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


def test_cli_misuse_prints_no_traceback(tmp_path):
    code, stdout, stderr = _grade_cli(ROOT, [], tmp_path / "g.jsonl")
    assert (code, stdout) == (2, "")
    assert stderr == "error: no submissions given: pass notebooks (.ipynb) or folders of notebooks\n"
