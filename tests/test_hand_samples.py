"""Lesson 08's precomputed samples: the command resumes, reports bad input, and its file loads."""
import json

import pytest
import torch

from course_utils import hand_samples


def test_sample_command_resumes_and_reports_errors(tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.npz"
    calls = []
    real = hand_samples._machine_denoiser

    def spy(name, k, train, cnn):
        calls.append((name, k))
        return real(name, k, train, cnn)

    monkeypatch.setattr(hand_samples, "_machine_denoiser", spy)
    args = ["sample", "--out", str(out), "--n", "2", "--steps", "2", "--patch-sizes", "3"]
    assert hand_samples.main(args) == 0
    samples, meta = hand_samples.load_samples(out)
    assert meta["machines"] == ["IS", "LS k=3", "ELS k=3"]
    assert all(x.shape == (2, 1, 24, 24) and x.min() >= -1 and x.max() <= 1 for x in samples.values())
    assert not list(tmp_path.glob("*.tmp"))
    first = {key: x.clone() for key, x in samples.items()}
    calls.clear()
    assert hand_samples.main(args) == 0  # everything is there: nothing is sampled again
    assert calls == []
    again, _ = hand_samples.load_samples(out)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert hand_samples.main(["sample", "--out", str(out), "--patch-sizes", "4"]) == 2
    assert "odd" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no samples"):
        hand_samples.load_samples(tmp_path / "missing.npz")


def test_shipped_samples_load():
    if not hand_samples.SAMPLES_FILE.exists():
        pytest.skip("samples not made yet: python -m course_utils.hands sample")
    samples, meta = hand_samples.load_samples()
    assert "IS" in samples and any(label.startswith("ELS") for label in samples)
    assert json.loads(json.dumps(meta))["config"]["dataset"] == "hands"
