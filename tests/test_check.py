"""The in-notebook check: clear verdicts for right, wrong, crashing and unattempted answers."""
import pytest
import torch

from course_utils.grading import CheckFailed, check, compare_tensors, get_exercise, list_exercises
from course_utils.grading import lesson00


def _verdict(capsys, exercise_id, answer):
    check(exercise_id, answer)
    return capsys.readouterr().out


def test_reference_passes(capsys):
    assert _verdict(capsys, "00.add_noise", lesson00.add_noise).startswith("[passed] 00.add_noise")


def test_not_attempted(capsys):
    def add_noise(x0, noise_var, eps):
        raise NotImplementedError()
    out = _verdict(capsys, "00.add_noise", add_noise)
    assert out.startswith("[not attempted yet]") and "add_noise" in out


def test_wrong_answer_says_where(capsys):
    out = _verdict(capsys, "00.add_noise", lambda x0, noise_var, eps: x0 + noise_var * eps)
    assert out.startswith("[not yet] 00.add_noise on case 1") and "largest error" in out
    assert "hint:" in out


def test_crash_is_reported_not_raised(capsys):
    out = _verdict(capsys, "00.add_noise", lambda x0, noise_var, eps: x0 @ eps)
    assert out.startswith("[error] 00.add_noise: `add_noise` raised RuntimeError")


def test_missing_return(capsys):
    out = _verdict(capsys, "00.ideal_denoiser", lambda x, train, noise_var: None)
    assert "forget `return`" in out


def test_naive_exp_fails_at_small_noise(capsys):
    def naive(x, train, noise_var):
        a = (1 - noise_var) ** 0.5
        w = torch.exp(-torch.cdist(x, a * train) ** 2 / (2 * noise_var))
        return (w / w.sum(1, keepdim=True)) @ train
    out = _verdict(capsys, "00.ideal_denoiser", naive)
    assert out.startswith("[not yet]") and "case 3" in out and "NaN" in out


def test_answer_cannot_corrupt_reference_by_mutating_inputs(capsys):
    def mutating(x0, noise_var, eps):
        expected = lesson00.add_noise(x0, noise_var, eps)
        x0.zero_()
        return expected
    assert _verdict(capsys, "00.add_noise", mutating).startswith("[passed]")


def test_unknown_exercise_lists_known_ones():
    with pytest.raises(KeyError, match="00.add_noise"):
        get_exercise("00.nope")


def test_registry_lists_lesson_exercises():
    ids = [ex.id for ex in list_exercises("00")]
    assert ids == ["00.add_noise", "00.ideal_denoiser"]


@pytest.mark.parametrize("answer, expected, words", [
    (torch.zeros(2), torch.zeros(3), "shape"),
    ([1.0], torch.zeros(1), "torch.Tensor"),
    (torch.tensor([float("nan")]), torch.zeros(1), "NaN"),
    (torch.ones(2), torch.zeros(2), "largest error 1"),
])
def test_compare_tensors_messages(answer, expected, words):
    with pytest.raises(CheckFailed, match=words):
        compare_tensors(answer, expected)
