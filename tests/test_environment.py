"""environment.yml (conda, JupyterHub) and binder/ (Binder) stay in step with the Makefile set-up."""
import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"


def _environment(path):
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    conda = [d for d in spec["dependencies"] if isinstance(d, str)]
    return spec, conda, pip


def test_conda_environment_matches_the_makefile_torch():
    torch_version = re.search(r"^TORCH_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    spec, conda, pip = _environment(ROOT / "environment.yml")
    assert spec["name"] == "local-rules" and "python=3.11" in conda and "pip" in conda
    assert pip[0] == CPU_INDEX, "the CPU index must come first, or pip fetches the CUDA build"
    assert f"torch=={torch_version}" in pip and pip[-1] == "-e .[test]"


def test_binder_environment_is_the_conda_one_without_the_package():
    spec, conda, pip = _environment(ROOT / "environment.yml")
    binder_spec, binder_conda, binder_pip = _environment(ROOT / "binder" / "environment.yml")
    assert binder_spec["name"] == spec["name"] and binder_conda == conda
    assert binder_pip == pip[:-1]
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert 'pip install --no-cache-dir -e ".[test]"' in post_build.read_text()
