"""Lesson 08's precomputed samples: the command resumes, reports bad input, and its file loads."""
import json

import pytest
import torch

from course_utils import hand_samples


def _spy(monkeypatch, stop_at=None):
    """Record the machines sampled; with ``stop_at``, stop with Ctrl-C at that machine."""
    calls, real = [], hand_samples._machine_denoiser

    def spy(name, k, train, cnn):
        calls.append((name, k))
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        return real(name, k, train, cnn)

    monkeypatch.setattr(hand_samples, "_machine_denoiser", spy)
    return calls


def test_sample_command_resumes_an_interrupted_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.npz"
    args = ["sample", "--out", str(out), "--n", "2", "--steps", "2", "--patch-sizes", "3"]
    state_path = hand_samples.state_files.state_file("hands-sample", out)
    _spy(monkeypatch, stop_at=2)
    assert hand_samples.main(args) == 130
    assert not out.exists() and state_path.exists()
    saved = torch.load(state_path, weights_only=True)["payload"]
    calls = _spy(monkeypatch)
    assert hand_samples.main(args) == 0
    assert calls == [("LS", 3), ("ELS", 3)]  # only what the first run had not done
    samples, meta = hand_samples.load_samples(out)
    assert meta["machines"] == ["IS", "LS k=3", "ELS k=3"]
    assert torch.equal(torch.from_numpy(hand_samples._quantise(samples["IS"])), saved["IS"])
    assert all(x.shape == (2, 1, 24, 24) and x.min() >= -1 and x.max() <= 1 for x in samples.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]
    assert not state_path.exists()  # a finished run leaves no state


def test_sample_command_never_resumes_another_runs_state(tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.npz"
    args = ["sample", "--out", str(out), "--n", "2", "--steps", "2", "--patch-sizes", "3"]
    _spy(monkeypatch, stop_at=2)
    assert hand_samples.main(args) == 130
    capsys.readouterr()
    assert hand_samples.main(args + ["--n", "3"]) == 2
    err = capsys.readouterr().err
    assert "belongs to another run (n, noise_shape differ: n was 2, now 3)" in err and "delete it" in err


def test_sample_command_reports_errors(tmp_path, capsys):
    assert hand_samples.main(["sample", "--out", str(tmp_path / "s.npz"), "--n", "1", "--cnn", "nope"]) == 2
    assert "no checkpoint named 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no samples"):
        hand_samples.load_samples(tmp_path / "missing.npz")


def test_shipped_samples_load():
    if not hand_samples.SAMPLES_FILE.exists():
        pytest.skip("samples not made yet: python -m course_utils.hands sample")
    samples, meta = hand_samples.load_samples()
    assert "IS" in samples and any(label.startswith("ELS") for label in samples)
    assert json.loads(json.dumps(meta))["config"]["dataset"] == "hands"
