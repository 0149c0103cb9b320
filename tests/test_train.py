"""Training: seeded, resumable to the bit, a manifest that matches the file, CLI errors."""
import json

import pytest
import torch

import course_utils.train as train
from course_utils import state as state_files
from course_utils.files import sha256
from course_utils.train import (fresh_state, load_state, main, run_fingerprint, state_payload,
                                train_steps)

CONFIG = {"arch": "resnet", "channels": 1, "width": 8, "depth": 2, "padding": "zeros"}


def _data():
    return torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _fingerprint(seed=3, batch=8, data=None):
    data = _data() if data is None else data
    return run_fingerprint(CONFIG, seed, 1e-3, batch, "random", data)


def test_resume_equals_an_uninterrupted_run(tmp_path):
    data = _data()
    straight = train_steps(fresh_state(CONFIG, 3, 1e-3), data, 6, batch=8)
    path, want = tmp_path / "state.pt", _fingerprint()
    train_steps(fresh_state(CONFIG, 3, 1e-3), data, 3, batch=8, save_every=3,
                save=lambda s: state_files.save(path, want, state_payload(s)))
    resumed = train_steps(load_state(path, want), data, 6, batch=8)
    assert resumed["step"] == 6 and resumed["losses"] == straight["losses"]
    for key, value in straight["ema"].state_dict().items():
        assert torch.equal(resumed["ema"].state_dict()[key], value)


def test_the_given_loss_is_the_one_minimised():
    data, seen = _data(), []

    def recording_loss(model, x0, noise_var, eps):
        seen.append((tuple(x0.shape), tuple(noise_var.shape), tuple(eps.shape)))
        return train.noise_prediction_loss(model, x0, noise_var, eps)

    default = train_steps(fresh_state(CONFIG, 3, 1e-3), data, 3, batch=8)
    given = train_steps(fresh_state(CONFIG, 3, 1e-3), data, 3, batch=8, loss=recording_loss)
    assert seen == [((8, 1, 8, 8), (8,), (8, 1, 8, 8))] * 3 and given["losses"] == default["losses"]
    doubled = train_steps(fresh_state(CONFIG, 3, 1e-3), data, 1, batch=8,
                          loss=lambda *args: 2 * train.noise_prediction_loss(*args))
    assert doubled["losses"][0] == pytest.approx(2 * default["losses"][0])


def test_seed_matters_and_repeats():
    data = _data()
    a, b, c = (train_steps(fresh_state(CONFIG, s, 1e-3), data, 2, batch=8) for s in (0, 0, 1))
    assert a["losses"] == b["losses"] and a["losses"] != c["losses"]


@pytest.mark.parametrize("other, field", [
    (dict(seed=1), "seed"), (dict(batch=16), "batch"),
    (dict(data=_data() + 0.5), "data_sha256"), (dict(data=_data()[:16]), "data_sha256, data_shape"),
])
def test_resume_refuses_other_settings(tmp_path, other, field):
    path, want = tmp_path / "state.pt", _fingerprint()
    train_steps(fresh_state(CONFIG, 3, 1e-3), _data(), 1, batch=8, save_every=1,
                save=lambda s: state_files.save(path, want, state_payload(s)))
    with pytest.raises(ValueError, match=f"another run \\({field} differ.*delete it to start over"):
        load_state(path, _fingerprint(**other))


ARGS = ["--data", "digits", "--arch", "resnet", "--width", "8", "--depth", "2", "--batch", "8",
        "--save-every", "1"]


def _interrupt_at(monkeypatch, step):
    """Make training stop with Ctrl-C when it reaches ``step`` (counted from this call)."""
    real, calls = train.training_loss, []

    def loss(*args):
        calls.append(1)
        if len(calls) > step:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train, "training_loss", loss)
    return lambda: monkeypatch.setattr(train, "training_loss", real)


def test_cli_resumes_an_interrupted_run_and_writes_a_true_manifest(tmp_path, capsys, monkeypatch):
    out = tmp_path / "a.pt"
    assert main(ARGS + ["--steps", "4", "--out", str(out)]) == 0
    straight = sha256(out)
    assert list(state_files.state_dir().rglob("*.pt")) == []  # a finished run leaves no state
    out.unlink()
    restore = _interrupt_at(monkeypatch, 2)
    assert main(ARGS + ["--steps", "4", "--out", str(out)]) == 130
    assert capsys.readouterr().err == state_files.INTERRUPTED + "\n"
    assert not out.exists() and state_files.state_file("train", out).exists()
    restore()
    assert main(ARGS + ["--steps", "4", "--out", str(out)]) == 0
    assert "resuming a from step 2" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "a.json").read_text())
    assert manifest["sha256"] == sha256(out) == straight
    assert manifest["steps"] == 4 and manifest["seed"] == 0 and manifest["data"] == "digits"
    assert manifest["command"].startswith("python -m course_utils.train --data digits")
    assert not list(tmp_path.glob(".*tmp*")) and not state_files.state_file("train", out).exists()


@pytest.mark.parametrize("change, field", [
    (["--batch", "4"], "batch"),
    (["--data", "hands"], "data, data_sha256, data_shape"),
])
def test_cli_never_resumes_another_runs_state(tmp_path, capsys, monkeypatch, change, field):
    out = tmp_path / "a.pt"
    restore = _interrupt_at(monkeypatch, 2)
    assert main(ARGS + ["--steps", "4", "--out", str(out)]) == 130
    restore()
    saved = state_files.state_file("train", out).read_bytes()
    capsys.readouterr()
    assert main(ARGS + change + ["--steps", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"belongs to another run ({field} differ" in err and err.count("\n") == 1
    assert not out.exists() and state_files.state_file("train", out).read_bytes() == saved


@pytest.mark.parametrize("args, message", [
    (["--steps", "0", "--out", "x"], "argument --steps: must be an integer >= 1"),
    (["--data", "cifar", "--out", "x"], "unknown dataset 'cifar'"),
    (["--attention", "--out", "x"], "--attention is for --arch unet"),
    (["--out", "a/b"], "must be a bare name"),
])
def test_cli_errors_exit_2_without_traceback(args, message, capsys):
    try:
        code = main(args)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
