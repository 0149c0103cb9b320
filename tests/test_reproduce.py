"""The comparison: Pearson r as in the paper, results independent of batching, resumable."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import course_utils.reproduce as rep
from course_utils.checkpoints import DIRECTORY, Checkpoint
from course_utils.data import digits
from course_utils.diffusion import eps_from_denoised
from course_utils.models import ResNet
from course_utils.scores import PatchSchedule, ideal_denoise

STEPS = 4
SCHEDULE = PatchSchedule.from_steps([1, 3, 3, 5])


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    return ResNet(width=8, depth=2).eval(), digits(size=8)[0][:16]


def test_pearson_r_matches_numpy():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 1, 5, 5, generator=gen), torch.randn(3, 1, 5, 5, generator=gen)
    b = b + a
    want = [np.corrcoef(a[i].flatten().numpy(), b[i].flatten().numpy())[0, 1] for i in range(3)]
    assert np.allclose(rep.pearson_r(a, b).numpy(), want, atol=1e-6)
    assert torch.allclose(rep.pearson_r(a, 3 * a - 1), torch.ones(3, dtype=torch.float64))


def _run(setup, **kw):
    model, train = setup
    return rep.reproduce(model, train, "zeros", [0, 1, 2], SCHEDULE, SCHEDULE, STEPS, **kw)


def test_results_do_not_depend_on_the_batch(setup):
    one, three = _run(setup, batch=1), _run(setup, batch=3)
    assert one["cnn"].shape == one["noise"].shape == (3, 1, 8, 8)
    for key in ("cnn", "els", "ls", "ideal", "r_els", "r_ls", "r_ideal"):
        assert torch.allclose(one[key].double(), three[key].double(), atol=1e-5), key
    assert torch.equal(one["seeds"], torch.tensor([0, 1, 2]))


def test_an_interrupted_run_continues(setup, tmp_path, monkeypatch):
    straight = _run(setup, batch=1)
    partial = tmp_path / "r.pt.partial"
    undo = _stop_at_batch(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        _run(setup, batch=1, partial=partial)
    undo()
    assert sorted(torch.load(partial, weights_only=True)["payload"]) == [0, 1]
    resumed = _run(setup, batch=1, partial=partial)
    for key in ("cnn", "els", "r_els"):
        assert torch.equal(resumed[key], straight[key])
    model, train = setup  # a longer seed list samples only the new seed
    real, sampled = rep.sample_all, []
    monkeypatch.setattr(rep, "sample_all", lambda *a, **kw: sampled.append(a[3].shape[0]) or real(*a, **kw))
    longer = rep.reproduce(model, train, "zeros", [0, 1, 2, 3], SCHEDULE, SCHEDULE, STEPS,
                           batch=1, partial=partial)
    assert sampled == [1] and torch.equal(longer["els"][:3], straight["els"])


def _stop_at_batch(monkeypatch, number):
    """Make the comparison stop with Ctrl-C in its ``number``-th batch; returns the undo."""
    real, calls = rep.sample_all, []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) == number:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(rep, "sample_all", flaky)
    return lambda: monkeypatch.setattr(rep, "sample_all", real)


def test_saved_seeds_of_another_network_or_dataset_are_never_reused(setup, tmp_path, monkeypatch):
    model, train = setup
    partial = tmp_path / "r.partial.pt"
    undo = _stop_at_batch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _run(setup, batch=1, partial=partial)
    undo()
    torch.manual_seed(1)
    retrained = ResNet(width=8, depth=2).eval()  # the same name, new weights
    with pytest.raises(ValueError, match=r"another run \(weights_sha256 differ"):
        rep.reproduce(retrained, train, "zeros", [0, 1, 2], SCHEDULE, SCHEDULE, STEPS, partial=partial)
    with pytest.raises(ValueError, match=r"another run \(data_sha256 differ"):
        rep.reproduce(model, train.flip(-1), "zeros", [0], SCHEDULE, SCHEDULE, STEPS, partial=partial)
    with pytest.raises(ValueError, match=r"another run \(els_schedule differ"):
        rep.reproduce(model, train, "zeros", [0], PatchSchedule.from_steps([1, 1, 3, 5]), SCHEDULE,
                      STEPS, partial=partial)
    # the batch changes no result beyond rounding, so it is not part of the fingerprint
    resumed = _run(setup, batch=2, partial=partial)
    assert torch.allclose(resumed["els"], _run(setup, batch=1)["els"], atol=1e-5)


@pytest.fixture
def tiny_cli(setup, monkeypatch):
    """reproduce.main on the tiny network of ``setup``, named "tiny"; returns a retrainer."""
    models = {"tiny": setup[0]}
    monkeypatch.setattr(rep, "Checkpoint", lambda name: SimpleNamespace(
        boundary="zeros", model=lambda: models[name], train_data=lambda: setup[1],
        schedule=lambda which: SCHEDULE))

    def retrain():
        torch.manual_seed(len(models) + 6)
        models[f"old{len(models)}"] = models["tiny"]
        models["tiny"] = ResNet(width=8, depth=2).eval()

    return retrain


def _cli_args(out):
    return ["--model", "tiny", "--seeds", "0-2", "--steps", str(STEPS), "--batch", "1", "--out", str(out)]


def test_cli_resumes_an_interrupted_run_and_removes_its_state(tiny_cli, setup, tmp_path, monkeypatch):
    out = tmp_path / "r.pt"
    undo = _stop_at_batch(monkeypatch, 2)
    assert rep.main(_cli_args(out)) == 130
    partial = rep.state_files.state_file("reproduce", out)
    assert partial.exists() and not out.exists()
    undo()
    assert rep.main(_cli_args(out)) == 0
    assert not partial.exists()
    assert torch.equal(torch.load(out, weights_only=True)["els"], _run(setup, batch=1)["els"])


def test_cli_with_a_retrained_checkpoint_does_not_reuse_the_old_seeds(tiny_cli, tmp_path,
                                                                      monkeypatch, capsys):
    out = tmp_path / "r.pt"
    assert rep.main(_cli_args(out)) == 0
    first = torch.load(out, weights_only=True)
    tiny_cli()  # retrained under the same name after a finished run: a fresh start
    assert rep.main(_cli_args(out)) == 0
    assert not torch.equal(first["cnn"], torch.load(out, weights_only=True)["cnn"])
    undo = _stop_at_batch(monkeypatch, 2)
    assert rep.main(_cli_args(out)) == 130
    undo()
    tiny_cli()  # retrained while a run was interrupted: its saved seeds are refused
    capsys.readouterr()
    assert rep.main(_cli_args(out)) == 2
    err = capsys.readouterr().err
    assert "belongs to another run (weights_sha256 differ" in err and "delete it" in err
    assert err.count("\n") == 1


class _IdealNet(torch.nn.Module):
    """A "network" that is the ideal machine: the comparison must find r_ideal ~ 1."""

    def __init__(self, train):
        super().__init__()
        self.train_images = train

    def forward(self, x, b):
        return eps_from_denoised(x, ideal_denoise(x, self.train_images, b.double()), b)


def test_a_network_that_is_the_ideal_machine_matches_it(setup):
    _, train = setup
    result = rep.reproduce(_IdealNet(train), train, "zeros", [0, 1, 2, 3], SCHEDULE, SCHEDULE,
                           STEPS, batch=2)
    summary = rep.summary(result)
    assert summary["median_r_ideal"] > 0.99 and summary["els_beats_ideal"] == 0
    assert summary["seeds"] == 4 and (result["r_ideal"] > result["r_ls"]).all()


def test_cli_errors_exit_2(capsys, tmp_path):
    assert rep.main(["--model", "no-such-model", "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint named 'no-such-model'" in err and "Traceback" not in err


def test_train_count_beyond_the_training_set_exits_2(capsys, tmp_path):
    out = tmp_path / "x.pt"
    assert rep.main(["--model", "mnist-resnet-zeros", "--train-count", "4501", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has only 4500 training images; choose at most 4500" in err and "Traceback" not in err
    assert not out.exists()


def test_comparison_table_puts_our_medians_beside_the_papers():
    fake = {"seeds": torch.arange(3), "r_els": torch.tensor([0.9, 0.5, 0.7]),
            "r_ls": torch.tensor([0.1, 0.2, 0.3]), "r_ideal": torch.tensor([0.6, 0.6, 0.8])}
    table = rep.comparison_table({"mine": fake}, {"mine": ("their model", 0.94, 0.82, 0.61)})
    header, row = table.splitlines()
    assert header.split()[:2] == ["ours", "ELS"]
    assert row.split()[:6] == ["mine", "0.700", "0.200", "0.600", "33%", "3"]
    assert row.split("|")[1].split() == ["their", "model", "0.94", "0.82", "0.61"]


def _readme_rows():
    """{checkpoint name: the README table row that names it in backticks}."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        if line.startswith("| ") and "(`" in line.split("|")[1]:
            rows[line.split("(`")[1].split("`)")[0]] = line
    return rows


def test_the_readme_tables_name_every_shipped_comparison():
    shipped = {path.name.removesuffix(".reproduce.pt") for path in DIRECTORY.glob("*.reproduce.pt")}
    assert shipped and shipped <= set(_readme_rows())


@pytest.mark.parametrize("name", sorted(_readme_rows()))
def test_readme_tables_match_the_shipped_comparisons(name):
    cells = [c.strip() for c in _readme_rows()[name].strip("|").split("|")]
    s = rep.summary(Checkpoint(name).results())
    assert s["seeds"] == (40 if name.startswith("mnist32-") else 100)  # the README's seed counts
    assert cells[1:4] == [f"{s['median_r_els']:.3f}", f"{s['median_r_ls']:.3f}", f"{s['median_r_ideal']:.3f}"]
    assert cells[4] == f"{100 * s['els_beats_ideal']:.0f} %"


@pytest.mark.parametrize("name, steps, seed", [("mnist-resnet-zeros-800", 800, 0),
                                               ("mnist-resnet-zeros-seed1", 1600, 1),
                                               ("mnist-resnet-zeros-3200", 3200, 0)])
def test_training_length_runs_differ_from_the_shipped_resnet_only_in_length_or_seed(name, steps, seed):
    """The README's and lesson 07's training-length rows compare like with like."""
    base, run = Checkpoint("mnist-resnet-zeros"), Checkpoint(name)
    same = ("config", "data", "n_train", "lr", "batch")
    assert {key: run.manifest[key] for key in same} == {key: base.manifest[key] for key in same}
    assert (run.manifest["steps"], run.manifest["seed"]) == (steps, seed)
    calibrated = [json.loads(c.schedule_path.read_text()) for c in (run, base)]
    assert [(c["seeds"], c["ks"], c["steps"]) for c in calibrated] == [(list(range(100, 108)), list(range(3, 16, 2)), 20)] * 2
    assert torch.equal(run.results()["seeds"], base.results()["seeds"])
    assert run.results()["steps"] == base.results()["steps"]


@pytest.mark.parametrize("name, least_r", [("mnist-resnet-zeros", 0.90), ("mnist-unet-zeros", 0.90),
                                           ("mnist32-resnet-zeros", 0.90), ("mnist32-unet-zeros", 0.90),
                                           ("digits-resnet-zeros", 0.90), ("digits-unet-zeros", 0.85)])
def test_shipped_networks_meet_the_papers_bar(name, least_r):
    """The course's claim: the ELS machine predicts its own trained networks as well as the paper's."""
    s = rep.summary(Checkpoint(name).results())
    assert s["median_r_els"] >= least_r and s["els_beats_ideal"] >= 0.9


def test_one_shipped_seed_is_recomputed():
    """The shipped comparison is what the code gives: seed 0 of digits-unet-zeros, sampled again."""
    checkpoint = Checkpoint("digits-unet-zeros")
    shipped = checkpoint.results()
    i = shipped["seeds"].tolist().index(0)
    noise = shipped["noise"][i:i + 1]
    assert torch.equal(noise, rep.seed_noise([0], noise.shape[1:]))
    again = rep.sample_all(checkpoint.model(), checkpoint.train_data(), checkpoint.boundary, noise,
                           checkpoint.schedule("els"), checkpoint.schedule("ls"), shipped["steps"])
    for name in ("cnn", *rep.MACHINES):
        assert (again[name][0] - shipped[name][i]).abs().max() < 1e-3, name
    for name in rep.MACHINES:
        r = rep.pearson_r(again[name], again["cnn"]).item()
        assert abs(r - shipped[f"r_{name}"][i].item()) < 1e-4, name
