"""Shipped checkpoints: one loader gives the verified model, its data, boundary, schedules and results."""
import json

import pytest
import torch

from course_utils.checkpoints import DIRECTORY, Checkpoint, available
from course_utils.scores import PatchSchedule
from course_utils.train import fresh_state, write_checkpoint


def _write(tmp_path, name="tiny"):
    state = fresh_state({"arch": "resnet", "channels": 1, "width": 8, "depth": 2, "padding": "zeros"}, 0, 1e-3)
    write_checkpoint(state, tmp_path / f"{name}.pt", {"command": "python -m course_utils.train --out tiny",
                                                      "data": "digits"})
    return state


def test_model_is_verified_against_its_manifest(tmp_path):
    state = _write(tmp_path)
    checkpoint = Checkpoint("tiny", directory=tmp_path)
    model = checkpoint.model()
    for key, value in state["ema"].state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    assert checkpoint.boundary == "zeros" and not model.training
    blob = bytearray((tmp_path / "tiny.pt").read_bytes())
    blob[-100] ^= 1
    (tmp_path / "tiny.pt").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"tiny\.pt is corrupt.*python -m course_utils\.train"):
        checkpoint.model()
    (tmp_path / "tiny.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"tiny\.pt is missing.*retrain"):
        checkpoint.model()
    with pytest.raises(ValueError, match="no checkpoint named 'huge'.*shipped: tiny"):
        Checkpoint("huge", directory=tmp_path)


def test_missing_schedule_and_results_name_the_command(tmp_path):
    _write(tmp_path)
    checkpoint = Checkpoint("tiny", directory=tmp_path)
    with pytest.raises(ValueError, match="python -m course_utils.calibrate --model tiny"):
        checkpoint.schedule("els")
    with pytest.raises(ValueError, match="python -m course_utils.reproduce --model tiny"):
        checkpoint.results()
    with pytest.raises(ValueError, match="not 'ideal'"):
        checkpoint.schedule("ideal")


def test_schedule_follows_the_file_per_step(tmp_path):
    _write(tmp_path)
    ks = [3, 3, 5, 7]
    (tmp_path / "tiny.schedule.json").write_text(json.dumps({"schedules": {"els": ks, "ls": [1] * 4}}))
    schedule = Checkpoint("tiny", directory=tmp_path).schedule("els")
    assert isinstance(schedule, PatchSchedule) and schedule.ks == ks


def test_shipped_checkpoints_load_and_stay_small():
    names = available()
    assert "digits-resnet-zeros" in names and not any(n.endswith(".schedule") for n in names)
    sizes = 0
    for name in names:
        checkpoint = Checkpoint(name)
        size = checkpoint.weights_path.stat().st_size
        assert size <= 5e6, f"{name} is {size / 1e6:.1f} MB; the limit is 5 MB"
        sizes += size
        assert checkpoint.manifest["config"].items() <= checkpoint.model().config.items()
    assert sizes <= 30e6


@pytest.mark.parametrize("name", [n for n in available() if (DIRECTORY / f"{n}.reproduce.pt").exists()])
def test_shipped_pieces_agree_with_each_other(name):
    """Data, boundary, schedules and results of one checkpoint describe the same network."""
    checkpoint = Checkpoint(name)
    train = checkpoint.train_data()
    assert train.shape[0] == checkpoint.manifest["n_train"]
    assert train.shape[1] == checkpoint.manifest["config"]["channels"]
    results = checkpoint.results()
    assert results["model"] == name and results["boundary"] == checkpoint.boundary
    for machine in ("els", "ls"):
        assert checkpoint.schedule(machine).ks == results[f"{machine}_schedule"]
