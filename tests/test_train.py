"""Training: seeded, resumable to the bit, a manifest that matches the file, CLI errors."""
import json

import pytest
import torch

from course_utils.models import sha256
from course_utils.train import fresh_state, load_state, main, train_steps

CONFIG = {"arch": "resnet", "channels": 1, "width": 8, "depth": 2, "padding": "zeros"}


def _data():
    return torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_resume_equals_an_uninterrupted_run(tmp_path):
    data = _data()
    straight = train_steps(fresh_state(CONFIG, 3, 1e-3), data, 6, batch=8)
    path = tmp_path / "state.pt"
    train_steps(fresh_state(CONFIG, 3, 1e-3), data, 3, batch=8, state_path=path)
    resumed = train_steps(load_state(path, CONFIG, 3, 1e-3), data, 6, batch=8)
    assert resumed["step"] == 6 and resumed["losses"] == straight["losses"]
    for key, value in straight["ema"].state_dict().items():
        assert torch.equal(resumed["ema"].state_dict()[key], value)


def test_seed_matters_and_repeats():
    data = _data()
    a, b, c = (train_steps(fresh_state(CONFIG, s, 1e-3), data, 2, batch=8) for s in (0, 0, 1))
    assert a["losses"] == b["losses"] and a["losses"] != c["losses"]


def test_resume_refuses_other_settings(tmp_path):
    path = tmp_path / "state.pt"
    train_steps(fresh_state(CONFIG, 0, 1e-3), _data(), 1, batch=4, state_path=path)
    with pytest.raises(ValueError, match="seed=0.*delete it to start over"):
        load_state(path, CONFIG, 1, 1e-3)


ARGS = ["--data", "digits", "--arch", "resnet", "--width", "8", "--depth", "2", "--batch", "8"]


def test_cli_resumes_and_writes_a_true_manifest(tmp_path, capsys):
    out, state_dir = tmp_path / "a.pt", tmp_path / "state"
    assert main(ARGS + ["--steps", "4", "--out", str(out), "--state-dir", str(state_dir)]) == 0
    straight = sha256(out)
    (state_dir / "a.state.pt").unlink()
    assert main(ARGS + ["--steps", "2", "--out", str(out), "--state-dir", str(state_dir)]) == 0
    assert main(ARGS + ["--steps", "4", "--out", str(out), "--state-dir", str(state_dir)]) == 0
    assert "resuming a from step 2" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "a.json").read_text())
    assert manifest["sha256"] == sha256(out) == straight
    assert manifest["steps"] == 4 and manifest["seed"] == 0 and manifest["data"] == "digits"
    assert manifest["command"].startswith("python -m course_utils.train --data digits")
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("args, message", [
    (["--steps", "0", "--out", "x"], "must be positive"),
    (["--data", "cifar", "--out", "x"], "unknown dataset 'cifar'"),
    (["--attention", "--out", "x"], "--attention is for --arch unet"),
    (["--out", "a/b"], "must be a bare name"),
])
def test_cli_errors_exit_2_without_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
