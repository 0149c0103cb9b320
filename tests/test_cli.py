"""The shared command-line plumbing: atomic writes, one runner, one spelling, resumable state;
and every course CLI's answer to the mistakes a new user makes."""
import os
import stat
import urllib.error

import pytest
import torch

import benchmarks.__main__ as bench_all
import benchmarks.bench_scores as bench_scores
import benchmarks.bench_turing as bench_turing
import course_utils.calibrate as calibrate
import course_utils.diffusion as diffusion
import course_utils.hand_samples as hand_samples
from course_utils.checkpoints import Checkpoint
import course_utils.notebooks as notebooks
import course_utils.reproduce as reproduce
import course_utils.train as train
from course_utils import cli, files, state
from course_utils.data import downloads
from course_utils.checkpoints import DIRECTORY as CHECKPOINT_DIR


# ------------------------------------------------------------------------- files


def test_write_atomic_gives_the_umask_mode_and_leaves_nothing_on_failure(tmp_path):
    old = os.umask(0o022)
    try:
        files.write_text(tmp_path / "a.txt", "one\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert (tmp_path / "a.txt").read_bytes() == b"one\n"

    def fail(stream):
        stream.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomic(tmp_path / "a.txt", fail)
    assert (tmp_path / "a.txt").read_text() == "one\n"  # the old file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_save_torch_round_trips_and_sha256_is_the_files(tmp_path):
    import hashlib
    files.save_torch({"x": torch.arange(3)}, tmp_path / "x.pt")
    assert torch.equal(torch.load(tmp_path / "x.pt", weights_only=True)["x"], torch.arange(3))
    assert files.sha256(tmp_path / "x.pt") == hashlib.sha256((tmp_path / "x.pt").read_bytes()).hexdigest()


def test_tensor_sha256_sees_values_shapes_and_names():
    a = {"w": torch.zeros(2, 3)}
    assert files.tensor_sha256(a) == files.tensor_sha256({"w": torch.zeros(2, 3)})
    for other in ({"w": torch.zeros(3, 2)}, {"v": torch.zeros(2, 3)},
                  {"w": torch.zeros(2, 3).double()}, {"w": torch.eye(2, 3)}):
        assert files.tensor_sha256(other) != files.tensor_sha256(a)
    assert files.tensor_sha256({"s": torch.tensor(1.0)}) != files.tensor_sha256({"s": torch.tensor(2.0)})


# --------------------------------------------------------------------------- cli


def test_ranges_and_their_errors():
    assert cli.parse_range("0-3") == [0, 1, 2, 3]
    assert cli.parse_range("3-9:2,13") == [3, 5, 7, 9, 13]
    with pytest.raises(cli.UsageError, match="write e.g. 0-99"):
        cli.parse_range("a-b")
    with pytest.raises(cli.UsageError, match="empty"):
        cli.parse_range("5-1")


def test_patch_sizes_take_both_spellings():
    p = cli.Parser(prog="x")
    cli.add_patch_sizes(p, "3-7:2", "--ks")
    assert cli.patch_sizes(p.parse_args([])) == [3, 5, 7]
    assert cli.patch_sizes(p.parse_args(["--patch-sizes", "3", "5", "11"])) == [3, 5, 11]
    assert cli.patch_sizes(p.parse_args(["--ks", "3-15:4"])) == [3, 7, 11, 15]


def test_runner_maps_mistakes_to_one_line_and_exit_2(capsys):
    p = cli.Parser(prog="prog")
    p.add_argument("--n", type=cli.positive_int, default=1)

    def body(args, argv):
        raise cli.UsageError(f"n={args.n} is wrong; pass another")

    assert cli.run(body, p, ["--n", "3"]) == 2
    assert capsys.readouterr().err == "error: n=3 is wrong; pass another\n"
    with pytest.raises(SystemExit) as stop:
        cli.run(body, p, ["--n", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "prog: error: argument --n: must be an integer >= 1, not '0'; see --help\n"

    def interrupted(args, argv):
        raise KeyboardInterrupt

    assert cli.run(interrupted, p, []) == 130
    assert capsys.readouterr().err == "interrupted: nothing was written\n"
    assert cli.run(interrupted, p, [], interrupted=state.INTERRUPTED) == 130
    assert "run the same command again" in capsys.readouterr().err
    assert cli.run(lambda args, argv: None, p, []) == 0


def test_output_file_checks_without_writing(tmp_path):
    assert cli.output_file(tmp_path / "a.pt") == tmp_path / "a.pt"
    with pytest.raises(cli.UsageError, match="does not exist; create the folder"):
        cli.output_file(tmp_path / "nodir" / "a.pt")
    with pytest.raises(cli.UsageError, match="is a folder"):
        cli.output_file(tmp_path)
    with pytest.raises(cli.UsageError, match="/dev/null is not a folder"):
        cli.output_file("/dev/null/x.pt")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- state


def test_state_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "s"))
    assert state.state_dir() == tmp_path / "s"
    one, two = state.state_file("reproduce", "a/r.pt"), state.state_file("reproduce", "b/r.pt")
    assert one.parent == tmp_path / "s" / "reproduce" and one != two
    assert state.state_file("reproduce", "a/r.pt") == one
    monkeypatch.delenv("COURSE_STATE_DIR")
    assert state.state_dir() == state.Path("~/.cache/local-rules-course/state").expanduser()


def test_state_is_reused_only_with_the_same_fingerprint(tmp_path):
    path = tmp_path / "s.pt"
    want = state.fingerprint(batch=8, weights="abc")
    assert state.load(path, want) is None
    state.save(path, want, {"done": torch.ones(2)})
    assert torch.equal(state.load(path, state.fingerprint(batch=8, weights="abc"))["done"], torch.ones(2))
    with pytest.raises(cli.UsageError, match=r"belongs to another run \(batch differ: batch was 8, now 16\)"
                                             r".*delete it to start over"):
        state.load(path, state.fingerprint(batch=16, weights="abc"))
    assert "course_utils" in want and "torch" in want


def test_an_unwritable_state_folder_is_reported_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("COURSE_STATE_DIR", str(tmp_path / "file" / "state"))
    with pytest.raises(cli.UsageError, match="cannot keep progress in .*; set COURSE_STATE_DIR"):
        state.load(state.state_file("train", tmp_path / "a.pt"), state.fingerprint())


def test_a_truncated_state_names_the_file_to_delete(tmp_path):
    path = tmp_path / "s.pt"
    state.save(path, state.fingerprint(a=1), {"x": torch.zeros(100)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(cli.UsageError, match=f"{path} is unreadable.*delete it to start over"):
        state.load(path, state.fingerprint(a=1))


# ------------------------------------------------ every CLI, tried as a new user would

def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))

    def refuse(*args, **kw):
        raise urllib.error.URLError(OSError("network is unreachable"))

    monkeypatch.setattr(downloads.urllib.request, "urlopen", refuse)


def _never(what):
    def fail(*args, **kw):
        raise AssertionError(f"{what} ran before the mistake was reported")
    return fail


MISTAKES = [  # (CLI, arguments, what stderr says, prepare)
    (train.main, ["--width", "0", "--out", "x"], "argument --width: must be an integer >= 1", None),
    (train.main, ["--threads", "0", "--out", "x"], "argument --threads: must be an integer >= 1", None),
    (train.main, ["--out", "/dev/null/x.pt"], "/dev/null is not a folder", None),
    (train.main, ["--lr", "-1", "--out", "x"], "argument --lr: must be a positive number", None),
    (train.main, ["--seed", "-1", "--out", "x"], "argument --seed: must be an integer >= 0", None),
    (train.main, ["--arch", "unet", "--width", "3", "--out", "x"], "a UNet needs a multiple of 2", None),
    (train.main, ["--out"], "argument --out: expected one argument", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--steps", "0"], "argument --steps", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--steps", "-4"], "argument --steps", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--threads", "0"], "argument --threads", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--seeds", "5-1"], "argument --seeds: '5-1' is an empty range", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--ks", "2,4"], "must be odd", None),
    (calibrate.main, ["--model", "digits-resnet-zeros", "--out", "nodir/c.json"],
     "nodir does not exist", lambda mp: mp.setattr(Checkpoint, "model", _never("loading"))),
    (calibrate.main, ["--model", "nope"], "no checkpoint named 'nope'", None),
    (reproduce.main, ["--model", "digits-resnet-zeros", "--out", "nodir/r.pt"],
     "nodir does not exist", lambda mp: mp.setattr(Checkpoint, "model", _never("loading"))),
    (reproduce.main, ["--model", "digits-resnet-zeros", "--batch", "0", "--out", "r.pt"], "argument --batch", None),
    (reproduce.main, ["--model", "digits-resnet-zeros", "--seeds", "x", "--out", "r.pt"], "is not a range", None),
    (hand_samples.main, ["sample", "--seed", "-1"], "argument --seed: must be an integer >= 0", None),
    (hand_samples.main, ["sample", "--patch-sizes", "4"], "argument --patch-sizes: patch sizes must be odd", None),
    (hand_samples.main, ["sample", "--n", "0"], "argument --n", None),
    (hand_samples.main, ["sample", "--cnn", "nope", "--out", "s.npz"], "no checkpoint named 'nope'",
     lambda mp: mp.setattr(diffusion, "ddim_sample", _never("sampling"))),
    (hand_samples.main, ["sample", "--out", "nodir/s.npz"], "nodir does not exist", None),
    (hand_samples.main, [], "the following arguments are required: command", None),
    (notebooks.main, ["build", "99"], "no lesson source for 99", None),
    (notebooks.main, [], "the following arguments are required: command", None),
    (bench_all.main, ["nope"], "no benchmark named nope", None),
    (bench_turing.main, ["--steps", "3"], "argument --steps: must be at least 10", None),
    (bench_turing.main, ["--out", "nodir/t.md"], "nodir does not exist",
     lambda mp: mp.setattr(bench_turing, "measure", _never("measuring"))),
    (bench_scores.main, ["--train", "0"], "argument --train", None),
    (bench_scores.main, ["--results", "nodir/s.md"], "nodir does not exist",
     lambda mp: mp.setattr(bench_scores, "speed", _never("timing"))),
]


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("main, args, message, prepare", MISTAKES,
                         ids=[f"{m.__module__.split('.')[-1]} {' '.join(a)}" for m, a, *_ in MISTAKES])
def test_each_mistake_ends_in_one_line_and_exit_2(main, args, message, prepare, tmp_path,
                                                  monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if prepare:
        prepare(monkeypatch)
    shipped = _listing(CHECKPOINT_DIR)
    try:
        code = main(args)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert _listing(tmp_path) == [] and _listing(CHECKPOINT_DIR) == shipped
    assert _listing(state.state_dir()) == []


def test_train_offline_dataset_exits_2_with_the_by_hand_instructions(tmp_path, monkeypatch, capsys):
    _offline(monkeypatch, tmp_path)
    downloads._idx_split.cache_clear()
    assert train.main(["--data", "mnist", "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    # the instructions list one file a line: the only message allowed more than one line
    assert err.startswith("error: could not download") and "put these files in" in err
    assert "Traceback" not in err and not list(tmp_path.glob("*.pt"))


def test_train_refuses_a_truncated_state_naming_it(tmp_path, capsys):
    out = tmp_path / "a.pt"
    path = state.state_file("train", out)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 cut short")
    args = ["--width", "8", "--depth", "2", "--batch", "8", "--steps", "2", "--out", str(out)]
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert err == f"error: the saved state {path} is unreadable (RuntimeError: it was cut short " \
                  f"or is not a state file); delete it to start over\n"
    assert not out.exists()
