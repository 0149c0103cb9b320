"""Calibration of k(t): recovers a known schedule at the right indices; ties and ranges."""
import math
from types import SimpleNamespace

import pytest
import torch

from course_utils.calibrate import (best_patch_sizes, calibrate, cosine_similarity,
                                    median_schedule, seed_noise)
from course_utils.data import digits
from course_utils.diffusion import sampling_noise_vars
from course_utils.scores import machine

STEPS = 5


@pytest.fixture(scope="module")
def train():
    return digits(size=8)[0][:24]


@pytest.mark.parametrize("name, boundary", [("els", "zeros"), ("els", "circular"), ("local", "zeros")])
def test_a_machine_compared_with_itself_gets_its_own_schedule(train, name, boundary):
    # a reference whose k changes per step; the calibration must read it back at the
    # same indices (schedule[i - 1] for the step starting at t = i / steps)
    truth = [1, 3, 3, 5, 7]
    levels = sampling_noise_vars(STEPS).tolist()
    reference = machine(name, train, lambda b: truth[levels.index(b) - 1], boundary)

    result = calibrate(reference, lambda k: machine(name, train, k, boundary),
                       seed_noise([0, 1, 2], (1, 8, 8)), [1, 3, 5, 7], STEPS)
    informative = [i for i in range(STEPS) if not math.isnan(result["best"][i, 0])]
    assert informative and all((result["best"][i] == truth[i]).all() for i in informative)
    assert all(result["schedule"][i] == truth[i] for i in informative)


def test_noise_does_not_depend_on_how_seeds_are_grouped():
    both = seed_noise([4, 9], (1, 6, 6))
    assert torch.equal(both[1], seed_noise([9], (1, 6, 6))[0])


def test_ties_take_the_nearest_informative_step():
    table = torch.tensor([[[0.1], [0.9]], [[0.8], [0.2]], [[1.0], [1.0]]], dtype=torch.float64)
    best = best_patch_sizes(table, [3, 5])
    assert best[0, 0] == 5 and best[1, 0] == 3 and math.isnan(best[2, 0])
    assert median_schedule(best) == [5, 3, 3]


def test_median_is_over_seeds_per_step():
    best = torch.tensor([[3.0, 5.0, 5.0], [7.0, 9.0, math.nan]], dtype=torch.float64)
    assert median_schedule(best) == [5, 7]


def test_cosine_similarity_in_float64():
    a = torch.randn(3, 1, 4, 4)
    assert torch.allclose(cosine_similarity(a, 2 * a), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(cosine_similarity(a, -a), -torch.ones(3, dtype=torch.float64))


def test_even_patch_sizes_are_refused():
    with pytest.raises(ValueError, match="must be odd"):
        calibrate(None, None, torch.zeros(1, 1, 4, 4), [2, 4])


def test_cli_writes_a_readable_schedule_with_its_command(train, tmp_path, monkeypatch, capsys):
    import json
    import os
    import stat

    import course_utils.calibrate as cal
    from course_utils.models import ResNet
    torch.manual_seed(0)
    model = ResNet(width=8, depth=2).eval()
    fake = SimpleNamespace(boundary="zeros", model=lambda: model, train_data=lambda: train)
    monkeypatch.setattr(cal, "Checkpoint", lambda name: fake)
    out = tmp_path / "tiny.schedule.json"
    old = os.umask(0o022)
    try:
        assert cal.main(["--model", "tiny", "--seeds", "0,1", "--ks", "1,3", "--steps", "3",
                         "--out", str(out)]) == 0
    finally:
        os.umask(old)
    payload = json.loads(out.read_text())
    assert payload["seeds"] == [0, 1] and payload["ks"] == [1, 3] and len(payload["schedules"]["els"]) == 3
    assert payload["command"] == f"python -m course_utils.calibrate --model tiny --seeds 0,1 --ks 1,3 --steps 3 --out {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and sorted(tmp_path.iterdir()) == [out]


def test_an_interrupted_calibration_continues_and_refuses_other_settings(train, tmp_path, monkeypatch):
    import course_utils.calibrate as cal
    from course_utils.cli import UsageError
    from course_utils.models import ResNet
    torch.manual_seed(0)
    model = ResNet(width=8, depth=2).eval()
    args = (model, train, "zeros", [0, 1], [1, 3], 3)
    straight = cal.calibrate_model(*args)
    partial = tmp_path / "c.state.pt"
    real, calls = cal.similarity_column, []

    def flaky(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(cal, "similarity_column", flaky)
    with pytest.raises(KeyboardInterrupt):
        cal.calibrate_model(*args, partial=partial)
    assert sorted(torch.load(partial, weights_only=True)["payload"]) == ["els/1", "els/3"]
    resumed = cal.calibrate_model(*args, partial=partial)
    assert len(calls) == 5  # the two saved columns were not computed again
    for name in ("els", "local"):
        assert torch.equal(resumed[name]["similarity"], straight[name]["similarity"])
        assert resumed[name]["schedule"] == straight[name]["schedule"]
    with pytest.raises(UsageError, match="ks differ"):
        cal.calibrate_model(model, train, "zeros", [0, 1], [1, 5], 3, partial=partial)
