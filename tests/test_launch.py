"""course.cfg names the public repository once; the README badges and every notebook's first
cell derive from it, and that cell installs the course only where it is missing."""
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from course_utils import launch, notebooks

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = launch.read_repository()
GENERATED = ("lessons/", "solutions/0", "solutions/1")  # notebooks, rebuilt from course.cfg


def _tracked_files():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_the_address_is_written_in_course_cfg_only():
    address = f"{REPOSITORY.owner}/{REPOSITORY.name}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = launch.readme_block(REPOSITORY)
    assert block in readme, "README.md's launch block is not the generated one"
    holders = []
    for name in _tracked_files():
        if name.startswith(GENERATED) and name.endswith(".ipynb"):
            continue
        path = ROOT / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
            continue
        if name == "README.md":
            text = text.replace(block, "")
        if address in text:
            holders.append(name)
    assert holders == ["course.cfg"], f"{address!r} is written in {holders}; only course.cfg may name it"


def test_readme_badges_are_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert launch.with_readme_block(readme, REPOSITORY) == readme, \
        "run `python -m course_utils.launch readme`"
    assert launch.main(["readme", "--check"]) == 0


@pytest.mark.parametrize("lesson", notebooks.find_lessons(), ids=lambda lesson: lesson.number)
def test_every_notebook_starts_with_its_launch_cell(lesson):
    for path in (lesson.student_path, lesson.solved_path):
        relative = path.relative_to(ROOT).as_posix()
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and first.source == launch.first_cell(REPOSITORY, relative)
        for url in (REPOSITORY.colab_url(relative), REPOSITORY.binder_url(relative)):
            assert url in first.source
        assert first.outputs == [], "the launch cell must print nothing where the course is installed"


@pytest.mark.parametrize("text, message", [
    ("[repository]\nurl = https://gitlab.com/a/b\nbranch = main\n", "url must read"),
    ("[repository]\nurl = https://github.com/a/b\n", r"needs a \[repository\] section"),
    ("no section\n", r"needs a \[repository\] section"),
])
def test_a_malformed_course_cfg_names_the_problem(tmp_path, text, message):
    config = tmp_path / "course.cfg"
    config.write_text(text)
    with pytest.raises(launch.AddressError, match=message):
        launch.read_repository(config)


def test_links_are_built_from_owner_name_and_branch():
    repo = launch.Repository("ada", "local-rules", "v1")
    assert repo.binder_url("lessons/00_x.ipynb") == \
        "https://mybinder.org/v2/gh/ada/local-rules/v1?urlpath=lab/tree/lessons/00_x.ipynb"
    assert repo.colab_url("lessons/00_x.ipynb") == \
        "https://colab.research.google.com/github/ada/local-rules/blob/v1/lessons/00_x.ipynb"
    assert repo.install_spec == "git+https://github.com/ada/local-rules@v1"
    assert not repo.is_placeholder and "Placeholder" not in launch.readme_block(repo)


def _run_cell(python, env, cwd):
    source = launch.first_cell(REPOSITORY, "lessons/00_paradox.ipynb")
    return subprocess.run([str(python), "-c", source], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _clean_env(**extra):
    """This environment without the course on PYTHONPATH, pip offline."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return dict(env, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)


def _bare_venv(venv):
    """(python, site-packages) of a new venv that sees this environment's packages but not
    the course: a .pth line adds this site-packages, whose own .pth files (the editable
    install of the course among them) Python does not process."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "host_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site


def test_launch_cell_does_nothing_where_the_course_is_installed(tmp_path):
    env = _clean_env(PYTHONPATH=str(ROOT), COURSE_INSTALL_FROM=str(tmp_path / "no-such-wheel.whl"))
    done = _run_cell(sys.executable, env, tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr


def test_launch_cell_installs_the_course_in_a_fresh_venv(tmp_path):
    """A hosted notebook's situation: the dependencies are there, course_utils is not.

    The cell installs a wheel of a copy of this checkout, named by COURSE_INSTALL_FROM,
    offline: the wheel is built with this environment's setuptools, not a downloaded one.
    """
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed here, so the wheel cannot be built offline: "
                    "`.venv/bin/pip install setuptools`")
    copy = tmp_path / "copy"
    for name in ("pyproject.toml", "README.md"):
        copy.mkdir(exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "course_utils", copy / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(copy)], env=_clean_env(), check=True,
                   capture_output=True, timeout=300)
    wheel = next(wheels.glob("course_utils-*.whl"))
    python, site = _bare_venv(tmp_path / "venv")
    env = _clean_env(COURSE_INSTALL_FROM=str(wheel))
    probe = [str(python), "-c", "import importlib.util as u; s = u.find_spec('course_utils'); "
             "print(s.origin if s else 'missing')"]
    before = subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert before.stdout.strip() == "missing", "the fresh venv already sees course_utils"

    done = _run_cell(python, env, tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "course installed", done.stdout + done.stderr
    after = subprocess.run(probe, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert after.stdout.strip().startswith(site), after.stdout + after.stderr
    data = subprocess.run([str(python), "-c", "from course_utils import data, grading; print('ok')"],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert data.stdout.strip() == "ok", data.stderr
    # lessons 08 and 09 read the eye-labelled hands from the installed package
    labels = subprocess.run([str(python), "-c", "from course_utils.hand_samples import "
                             "load_eye_labelled_images as images, read_eye_labels as labels; "
                             "print(len(labels('hand_heldout_labels.csv', 'fingers_by_eye')[0]), "
                             "len(images('hand_tuning_samples.npz')))"],
                            env=env, cwd=tmp_path, capture_output=True, text=True)
    assert labels.stdout.split() == ["112", "336"], labels.stderr

    again = _run_cell(python, dict(env, COURSE_INSTALL_FROM=str(tmp_path / "gone.whl")), tmp_path)
    assert again.returncode == 0 and again.stdout == "", "a second run must not install again"


def test_launch_cell_reports_a_failed_install(tmp_path):
    python, site = _bare_venv(tmp_path / "venv")
    done = _run_cell(python, _clean_env(COURSE_INSTALL_FROM=str(tmp_path / "missing.whl")), tmp_path)
    assert done.returncode != 0 and "installing the course failed" in done.stderr
