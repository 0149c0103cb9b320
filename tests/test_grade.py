"""The grader: hostile submissions get a clear error and zero for what they broke, nothing more.

Grader runs (module fixtures) serve most tests: the hostile suite, small notebooks written
here, graded together with a short timeout and private seeds, then one untouched notebook
graded again (the next run); lesson 00's generated student and solved notebooks; and the
fallbacks without bubblewrap or cgroups, forced with COURSE_GRADER_WITHOUT. The rest are
fast checks of the pieces: scoring, records, the CLI.
"""
import ast
import json
import os
import shutil
import site
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
from course_utils.grading import batch, check, get_exercise, list_exercises, sandbox
from course_utils.grading.core import GRADING_SEEDS, CheckFailed, Exercise, compare_tensors
from course_utils.grading.execute import Run
from course_utils.grading.harness import evaluate, plain
from course_utils.grading.scoring import expected_values, score_exercise
from course_utils.grading.submission import identify_lesson

ROOT = Path(__file__).resolve().parents[1]
HOSTILE_TIMEOUT_S = 45  # a small notebook needs ~5 s, ~30 s on a machine loaded 5x
MEMORY_MB = 1200
SECRET_SEEDS = "48611,48612,48613"  # the hostile run's: no record may contain them
ISOLATION = sandbox.detect()
SANDBOXED = pytest.mark.skipif(not ISOLATION.complete, reason=(
    f"no complete sandbox here ({ISOLATION.no_bwrap or ISOLATION.no_cgroup}); "
    f"CI installs bubblewrap (.ci/apt_install.sh, called by `make test`)"))
ATTACK_PTH = "zz_course_grader_attack.pth"
DAEMON_MARKER = "course-daemon-marker"

ADD_NOISE = '''def add_noise(x0, noise_var, eps):
    return (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps'''
IDEAL_DENOISER = '''def ideal_denoiser(x, train, noise_var):
    a = (1 - noise_var) ** 0.5
    logits = -torch.cdist(x, a * train) ** 2 / (2 * noise_var)
    return torch.softmax(logits, dim=1) @ train'''
WRONG_DENOISER = '''def ideal_denoiser(x, train, noise_var):
    return train.mean(0).expand_as(x)'''
COSINE = '''def cosine_schedule(t, offset):
    return torch.sin((t + offset) / (1 + offset) * torch.pi / 2) ** 2'''
CHECK_ADD = 'check("00.add_noise", add_noise)'
CHECK_COSINE = 'check("00.cosine_schedule", cosine_schedule)'
CHECK_DENOISER = 'check("00.ideal_denoiser", ideal_denoiser)'
IMPORTS = "import torch\nfrom course_utils.grading import check"
SOLVED = [IMPORTS, ADD_NOISE, CHECK_ADD, IDEAL_DENOISER, CHECK_DENOISER, COSINE, CHECK_COSINE]
MAX_SCORE = 4  # lesson 00: cosine_schedule 1, add_noise 1, ideal_denoiser 2

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
UNTOUCHED = [IMPORTS, "def add_noise(x0, noise_var, eps):\n    raise NotImplementedError()",
             "def ideal_denoiser(x, train, noise_var):\n    raise NotImplementedError()",
             "def cosine_schedule(t, offset):\n    raise NotImplementedError()"]
# outlives its kernel (own session) for a minute: rewrites every grades file it can find,
# through the grader's command line, and garbles the answers of the submissions after it
DAEMON = f'''import glob, json, os, sys, tempfile, time
out, root = sys.argv[1], sys.argv[2]  # {DAEMON_MARKER}
forged = {{"submission": "forged", "lesson": "00", "score": 3, "max_score": 3,
          "exercises": [], "error": None}}
for _ in range(600):
    time.sleep(0.1)
    targets = [out]
    for pid in os.listdir("/proc"):
        try:
            args = open(f"/proc/{{pid}}/cmdline", "rb").read().decode().split("\\0")
            target = os.path.join(os.readlink(f"/proc/{{pid}}/cwd"), args[args.index("--out") + 1])
        except (OSError, ValueError, IndexError):
            continue
        # only the temporary folders the tests run in: unsandboxed (the fallback tests), it
        # must not reach other programs' outputs on the developer's machine
        if os.path.realpath(target).startswith(os.path.realpath(tempfile.gettempdir()) + os.sep):
            targets.append(target)
    for path in targets:
        try:
            with open(path, "w") as stream:
                stream.write(json.dumps(forged) + "\\n")
        except OSError:
            pass
    for path in glob.glob(os.path.join(root, "*", "state", "answers", "00.*.pt")):
        try:
            with open(path, "wb") as stream:
                stream.write(b"{{'status': 'not_attempted', 'results': []}}")
        except OSError:
            pass'''
START_DAEMON = '''import os, subprocess, sys
root = os.path.dirname(os.path.dirname(os.getcwd()))  # the grader's temporary folders
subprocess.Popen([sys.executable, "-c", {code!r}, {out!r}, root], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)'''
# a .pth file runs at every Python start: later kernels would grade the reference instead
# of the student's function (only kernels of this test's course copy: nobody else's)
PERSIST = '''import os, site
payload = ("import os; exec('import course_utils.grading.harness as h; old = h.evaluate; "
           "h.evaluate = lambda ex, answer, cases: old(ex, ex.reference, cases)') "
           "if os.environ.get('PYTHONPATH', '').startswith({course!r}) else None\\n")
for folder in site.getsitepackages():
    with open(os.path.join(folder, {name!r}), "w") as stream:
        stream.write(payload)'''
MEMORY_CHILDREN = '''import subprocess, sys
hog = "x = b'x' * ({mb} << 20); print('holding', flush=True); import time; time.sleep(60)"
children = [subprocess.Popen([sys.executable, "-c", hog], stdout=subprocess.PIPE, text=True)
            for _ in range(3)]
holding = sum(child.stdout.readline().startswith("holding") for child in children)
for child in children:
    child.kill()
if holding == 3:  # the attack worked: earn a point for it
    exec({add_noise!r})'''
PROCESS_FLOOD = '''import subprocess
started = []
try:
    for _ in range(400):
        started.append(subprocess.Popen(["sleep", "30"]))
finally:
    for child in started:
        child.kill()
exec({add_noise!r})  # reached only if all 400 started'''
SEED_HUNT = '''import os
seed = str({below} + 1)  # not the seed itself: the notebook's own source would contain it
texts = {{"In[1]": In[1]}}
for pid in os.listdir("/proc"):
    for name in ("cmdline", "environ"):
        try:
            texts[f"/proc/{{pid}}/{{name}}"] = open(f"/proc/{{pid}}/{{name}}", "rb").read().decode(errors="replace")
        except OSError:
            pass
for folder, _, files in os.walk(os.path.dirname(os.getcwd())):
    for name in files:
        try:
            texts[os.path.join(folder, name)] = open(os.path.join(folder, name), "rb").read().decode(errors="replace")
        except OSError:
            pass
for where, text in texts.items():
    if seed in text:
        raise RuntimeError(where + ": " + text[max(0, text.index(seed) - 30):][:120])
raise RuntimeError("x" + In[1].splitlines()[1])'''


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
    if source.startswith("def cosine_schedule"):
        return _cell(source, "00_cosine_schedule_answer")
    if source == CHECK_ADD:
        return _cell(source, "00_add_noise", 1)
    if source == CHECK_DENOISER:
        return _cell(source, "00_ideal_denoiser", 2)
    if source == CHECK_COSINE:
        return _cell(source, "00_cosine_schedule", 1)
    return _cell(source)


def _notebook(sources, lesson="00"):
    nb = nbformat.v4.new_notebook(cells=[_tagged(s) for s in sources])
    nb.metadata["course"] = {"lesson": lesson, "slug": "00_paradox", "version": "student"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _hostile(folder, out, victim, course):
    """{name: path} of the hostile suite, written into ``folder``; the attacks that would
    change the machine for good (a .pth file in the Python environment) only in a sandbox."""
    marker = folder / "pwned"
    notebooks_ = {
        "solved": SOLVED,
        "daemon": [IMPORTS, START_DAEMON.format(code=DAEMON, out=str(out))],
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
                                 "    return x0", CHECK_ADD, WRONG_DENOISER, CHECK_DENOISER,
                                 "def cosine_schedule(t, offset):\n    return t", CHECK_COSINE],
        "forged_answers": [IMPORTS, EVIL_PICKLE.format(marker=marker)],
        "forged_grades": [IMPORTS, FORGE_GRADES.format(out=str(out), csv=str(out.with_suffix(".csv")),
                                                       victim=victim)],
        "memory_children": [IMPORTS, MEMORY_CHILDREN.format(
            mb=sandbox.sandbox_memory_mb(MEMORY_MB) // 2, add_noise=ADD_NOISE)],
        "process_flood": [IMPORTS, PROCESS_FLOOD.format(add_noise=ADD_NOISE)],
        "seed_leak": [IMPORTS, SEED_HUNT.format(below=int(SECRET_SEEDS.split(",")[0]) - 1)],
    }
    if ISOLATION.complete:
        notebooks_["persistence"] = [IMPORTS, PERSIST.format(course=str(course), name=ATTACK_PTH)]
    notebooks_["untouched"] = UNTOUCHED  # graded after every attack
    notebooks_["solved_last"] = SOLVED
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


def _grade_cli(course, paths, out, *flags, without=""):
    """Run the CLI in a subprocess, like an instructor; (exit code, stdout, stderr)."""
    (course / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(course), "TMPDIR": str(course / "tmp"),
           sandbox.WITHOUT_ENV: without}
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
        paths = _hostile(folder, out, victim.pid, course)
        code, stdout, stderr = _grade_cli(course, paths.values(), out, "--timeout",
                                          str(HOSTILE_TIMEOUT_S), "--memory", str(MEMORY_MB),
                                          "--jobs", "2", "--seeds", SECRET_SEEDS)
        victim_survived = victim.poll() is None
        survivors = [line for line in _cmdlines() if DAEMON_MARKER in line]
        grades_after = out.read_text(encoding="utf-8")
        # the next run: an untouched notebook graded again, after every attack
        untouched = folder / "next" / "00_untouched.ipynb"
        untouched.parent.mkdir()
        nbformat.write(_notebook(UNTOUCHED), str(untouched))
        next_out = folder / "next" / "grades.jsonl"
        next_run = _grade_cli(course, [untouched], next_out, "--timeout", str(HOSTILE_TIMEOUT_S))
    finally:
        victim.kill()
        victim.wait()
        planted = [Path(d) / ATTACK_PTH for d in site.getsitepackages() if (Path(d) / ATTACK_PTH).exists()]
        for path in planted:  # a failed defence must not outlive this test
            path.unlink()
    return {"code": code, "stdout": stdout, "stderr": stderr, "out": out, "folder": folder,
            "records": _records(out), "paths": paths, "course": course,
            "victim_survived": victim_survived, "survivors": survivors,
            "grades_after": grades_after, "planted": planted, "next_run": next_run,
            "next_records": _records(next_out) if next_out.exists() else {}}


def _exercise(record, exercise_id):
    return next(ex for ex in record["exercises"] if ex["id"] == exercise_id)


def test_hostile_run_grades_everyone_and_exits_0(hostile):
    assert hostile["code"] == 0, hostile["stderr"]
    assert "Traceback" not in hostile["stderr"]
    assert set(hostile["records"]) == set(hostile["paths"])
    for record in hostile["records"].values():
        assert set(record) == {"submission", "lesson", "score", "max_score", "exercises", "error",
                               "sandbox"}
        assert record["sandbox"] == ISOLATION.describe(MEMORY_MB)
    assert hostile["stdout"].splitlines()[0] == f"sandbox: {ISOLATION.describe(MEMORY_MB)}" \
        if ISOLATION.complete else hostile["stderr"].startswith("warning: ")


@pytest.mark.parametrize("name", ["solved", "solved_last"])
def test_solved_small_notebook_scores_full_marks(hostile, name):
    record = hostile["records"][name]
    assert (record["score"], record["max_score"], record["error"]) == (MAX_SCORE, MAX_SCORE, None)
    assert all(ex["feedback"].startswith("passed all") for ex in record["exercises"])


def test_endless_loop_times_out_and_keeps_what_came_before(hostile):
    record = hostile["records"]["endless_loop"]
    assert record["score"] == 1 and record["max_score"] == MAX_SCORE
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
    leftovers = [line for line in _cmdlines() if tmp in line or line.strip() in ("sleep 313", "sleep 30")]
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
    assert (record["lesson"], record["score"], record["max_score"]) == ("00", 0, MAX_SCORE)


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
        assert ex["feedback"].startswith("wrong on grading case 1 of "), ex


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
    assert all(r["score"] <= MAX_SCORE for r in records)
    table = hostile["out"].with_suffix(".csv").read_text(encoding="utf-8").splitlines()
    assert table[0] == "submission,lesson,score,max_score,00.add_noise,00.cosine_schedule,00.ideal_denoiser,error"
    assert [row.split(",")[0] for row in table[1:]] == [str(p) for p in hostile["paths"].values()]


def test_results_do_not_depend_on_jobs(hostile, tmp_path):
    paths = [hostile["paths"][name] for name in ("solved", "deleted_cells", "broken_json")]
    out = tmp_path / "serial.jsonl"
    code, _, stderr = _grade_cli(hostile["course"], paths, out, "--timeout", str(HOSTILE_TIMEOUT_S),
                                 "--memory", str(MEMORY_MB), "--jobs", "1", "--seeds", SECRET_SEEDS)
    assert code == 0, stderr
    for name, record in _records(out).items():
        assert record == hostile["records"][name]


@SANDBOXED
def test_daemon_dies_with_its_sandbox_and_touches_no_grade(hostile):
    """It ran for a minute in its own session; every other record, the grades file and the
    submission after it are the grader's, and nothing of it runs once the grader is done."""
    assert not hostile["survivors"]
    record = hostile["records"]["daemon"]
    assert record["score"] == 0
    assert "left 1 process running after its last cell" in record["error"]
    assert "\"submission\": \"forged\"" not in hostile["grades_after"]
    assert hostile["grades_after"] == hostile["out"].read_text(encoding="utf-8")
    assert len(hostile["grades_after"].splitlines()) == len(hostile["paths"])


@SANDBOXED
def test_persistence_file_is_refused_and_changes_no_one(hostile):
    record = hostile["records"]["persistence"]
    assert record["score"] == 0
    assert "raised OSError" in record["error"] and "Read-only file system" in record["error"]
    assert not hostile["planted"]
    assert hostile["code"] == 0  # nothing in the course or the environment changed
    for records in (hostile["records"], hostile["next_records"]):  # this run and the next
        untouched = records["untouched"]
        assert (untouched["score"], untouched["error"]) == (0, None)
        assert all(ex["status"] == "not attempted" for ex in untouched["exercises"])
    assert hostile["next_run"][0] == 0, hostile["next_run"][2]


@SANDBOXED
def test_memory_of_all_processes_together_is_limited(hostile):
    record = hostile["records"]["memory_children"]
    assert record["score"] == 0, "three children held 1.8x the memory limit"
    together = sandbox.sandbox_memory_mb(MEMORY_MB)
    assert f"memory limit of its sandbox ({together} MB for all its processes together)" \
        in record["error"]


@SANDBOXED
def test_process_count_is_limited(hostile):
    record = hostile["records"]["process_flood"]
    assert record["score"] == 0, "400 processes started"
    assert "raised BlockingIOError" in record["error"]
    assert f"at most {sandbox.MAX_TASKS} processes and threads" in record["error"]


@SANDBOXED
def test_seeds_reach_no_file_process_or_feedback_of_the_sandbox(hostile):
    record = hostile["records"]["seed_leak"]
    assert record["score"] == 0
    assert record["error"].startswith("cell 2 (`import os`) raised RuntimeError: x_course_grader_install(")
    for seed in SECRET_SEEDS.split(","):
        assert seed not in json.dumps(hostile["records"]) + hostile["stdout"] + hostile["stderr"]


# -- the fallbacks: forced with COURSE_GRADER_WITHOUT ---------------------------------------


FALLBACKS = {  # what is switched off -> the attacks the rest still holds
    "bwrap,cgroup": [],
    "cgroup": ["daemon"],  # bubblewrap alone: the PID namespace
    "bwrap": ["daemon"],  # a cgroup alone: every process in it killed
}


@pytest.fixture(scope="module", params=list(FALLBACKS), ids=lambda without: f"without-{without}")
def fallback(request, tmp_path_factory, course):
    without = request.param
    if without != "bwrap,cgroup" and not ISOLATION.complete:
        pytest.skip("needs bubblewrap and cgroups, to switch one of them off")
    folder = tmp_path_factory.mktemp("fallback")
    out = folder / "grades.jsonl"
    names = {"solved": SOLVED, "untouched": UNTOUCHED,
             "memory_bomb": [IMPORTS, "hog = [bytearray(1 << 20) for _ in range(1 << 20)]", ADD_NOISE]}
    if "daemon" in FALLBACKS[without]:
        names["daemon"] = [IMPORTS, START_DAEMON.format(code=DAEMON, out=str(out))]
    paths = []
    for name, sources in names.items():
        paths.append(folder / f"00_{name}.ipynb")
        nbformat.write(_notebook(sources), str(paths[-1]))
    # One at a time: without bubblewrap a running submission can write into the answer
    # folder of one graded beside it (GRADING.md says so); what a fallback still holds is
    # that nothing outlives its own submission.
    code, stdout, stderr = _grade_cli(course, paths, out, "--timeout", str(HOSTILE_TIMEOUT_S),
                                      "--memory", str(MEMORY_MB), "--jobs", "1", without=without)
    survivors = [line for line in _cmdlines() if DAEMON_MARKER in line]
    return {"without": without, "code": code, "stdout": stdout, "stderr": stderr,
            "records": _records(out), "survivors": survivors}


def test_fallback_says_what_is_missing_at_start_and_in_every_record(fallback):
    assert fallback["code"] == 0, fallback["stderr"]
    warning = fallback["stderr"].splitlines()[0]
    assert warning.startswith("warning: ") and f"COURSE_GRADER_WITHOUT={fallback['without']}" in warning
    assert sum(line.startswith("warning: ") for line in fallback["stderr"].splitlines()) == 1
    for record in fallback["records"].values():
        assert record["sandbox"] == warning.removeprefix("warning: ")
    box = warning.removeprefix("warning: ")
    if "bwrap" in fallback["without"]:
        assert box.startswith("NO SANDBOX (switched off") and "--seeds" in box
    if "cgroup" in fallback["without"]:
        assert f"memory {MEMORY_MB} MB per process (no cgroup" in box


def test_fallback_still_grades_and_limits_each_process(fallback):
    records = fallback["records"]
    assert (records["solved"]["score"], records["solved"]["error"]) == (MAX_SCORE, None)
    assert (records["untouched"]["score"], records["untouched"]["error"]) == (0, None)
    assert "raised MemoryError" in records["memory_bomb"]["error"]
    assert records["memory_bomb"]["score"] == 1, records["memory_bomb"]["exercises"]


def test_fallback_with_either_tool_leaves_no_daemon(fallback):
    if "daemon" not in FALLBACKS[fallback["without"]]:
        pytest.skip("without bubblewrap and cgroups a daemon can outlive the grader (documented)")
    assert not fallback["survivors"]
    assert fallback["records"]["daemon"]["score"] == 0


def test_isolation_line_says_what_each_machine_guarantees():
    full = sandbox.Isolation("/usr/bin/bwrap", (Path("/m"), Path("/p"), 1))
    assert full.complete and full.describe(900).startswith("bubblewrap sandbox (own PID namespace")
    assert "memory 900 MB per process, 1156 MB for all its processes together" in full.describe(900)
    bare = sandbox.Isolation(None, None, "bubblewrap is not installed", "no cgroups")
    line = bare.describe(900)
    assert not bare.complete and line.startswith("NO SANDBOX (bubblewrap is not installed)")
    assert "can outlive it" in line and "memory 900 MB per process (no cgroup: no cgroups)" in line


def test_cgroup_parents_are_found_or_refused_with_a_reason(tmp_path):
    own = tmp_path / "self"
    own.write_text("4:memory:/box/a\n8:pids:/\n0::/\n")
    (tmp_path / "memory").mkdir()
    (tmp_path / "pids").mkdir()
    assert sandbox.cgroup_parents(tmp_path, own) == (tmp_path / "memory/box/a", tmp_path / "pids", 1)
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")  # now v2 only
    (tmp_path / "cgroup.subtree_control").write_text("cpu\n")
    assert "memory and pids controllers" in sandbox.cgroup_parents(tmp_path, own)
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    assert sandbox.cgroup_parents(tmp_path, own) == (tmp_path, tmp_path, 2)


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
    assert identify_lesson(nb, Path("renamed.ipynb")) == lesson.number
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
    _, cases, expected = expected_values("00", GRADING_SEEDS)[ex.id]
    record = evaluate(ex, answer, cases)
    record.update(exercise=ex.id, cell=2, definitions=1)
    torch.save(record, tmp_path / f"{ex.id}.pt")
    return score_exercise(ex, cases, expected, Run(tmp_path))


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
    _, cases, expected = expected_values("00", GRADING_SEEDS)[ex.id]
    verdict = score_exercise(ex, cases, expected, Run(tmp_path))
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
        torch.save({**evaluate(ex, answer, cases), "cell": 1, "definitions": 1},
                   tmp_path / f"{ex.id}.pt")
        verdict = score_exercise(ex, cases, [ex.expected(c) for c in cases], Run(tmp_path))
        assert verdict["points"] == points, (answer, verdict)
    assert "grading case 1 of 1: values differ" in verdict["feedback"] or "wrong" in verdict["feedback"]


def test_course_files_changed_by_a_submission_void_the_rest(monkeypatch, tmp_path):
    prints = iter([{"a.py": "1"}, {"a.py": "1"}, {"a.py": "2"}])
    monkeypatch.setattr(batch, "fingerprint", lambda isolation: next(prints, {"a.py": "2"}))
    monkeypatch.setattr(batch, "expected_values", lambda lesson, seeds: {})
    def fake(path, settings, cache, isolation):
        return batch.make_record(path, "00", [{"id": "00.add_noise", "points": 1, "max_points": 1,
                                               "status": "passed", "feedback": "passed"}], None)
    monkeypatch.setattr(batch, "grade_submission", fake)
    paths = [tmp_path / f"00_{name}.ipynb" for name in "abc"]
    records = batch.grade(paths, batch.Settings(lesson="00"), progress=lambda line: None,
                          isolation=sandbox.Isolation())
    assert [r["score"] for r in records] == [1, 0, 0]
    assert "course or Python files changed on disk while" in records[1]["error"] and "00_b" in records[1]["error"]
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
    (["{nb}", "--out", "{folder}/nowhere/grades.jsonl"], "does not exist; create the folder first"),
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
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "g.jsonl").exists()


@pytest.mark.parametrize("flags", [["--timeout", "0"], ["--memory", "lots"], ["--memory", "100"],
                                   ["--seeds", "0,1"], ["--jobs", "0"], ["--frobnicate"]])
def test_bad_flags_exit_2(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exit_:
        grade.main([str(tmp_path), "--out", str(tmp_path / "g.jsonl"), *flags])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err
