"""The in-notebook check: clear verdicts for right, wrong, crashing, unattempted and foreign answers."""
import pytest
import torch

from course_utils import diffusion, metrics
from course_utils.grading import (CheckFailed, check, compare_int, compare_parts, compare_tensors,
                                  core, get_exercise, list_exercises, use_passing)
from course_utils.grading import lesson00


def notebook(fn):
    """``fn`` as if defined in a notebook cell (``__module__ == "__main__"``)."""
    fn.__module__ = "__main__"
    return fn


@pytest.fixture(autouse=True)
def _fresh_session(monkeypatch):
    monkeypatch.setattr(core, "_failures", {})
    monkeypatch.setattr(core, "_passed", {})


def _verdict(capsys, exercise_id, answer):
    check(exercise_id, answer)
    return capsys.readouterr().out


def test_reference_passes(capsys):
    assert _verdict(capsys, "00.add_noise", lesson00.add_noise).startswith("[passed] 00.add_noise")


def test_not_attempted(capsys):
    @notebook
    def add_noise(x0, noise_var, eps):
        raise NotImplementedError()
    out = _verdict(capsys, "00.add_noise", add_noise)
    assert out.startswith("[not attempted yet]") and "add_noise" in out


def test_a_library_function_imported_over_the_learners_name_is_refused(capsys):
    out = _verdict(capsys, "00.add_noise", diffusion.add_noise)
    assert out.startswith("[refused] 00.add_noise") and "course_utils.diffusion.add_noise" in out
    assert "Run your exercise cell again" in out


def test_a_function_from_another_module_is_refused(capsys):
    out = _verdict(capsys, "00.add_noise", lambda x0, noise_var, eps: x0)  # defined in this test module
    assert out.startswith("[refused]") and "not the one you wrote" in out


def test_a_value_instead_of_a_function_is_feedback(capsys):
    assert "should be a function, but it is now of type int" in _verdict(capsys, "00.add_noise", 3)


def test_wrong_answer_names_the_mistake_and_hints_come_in_tiers(capsys):
    wrong = notebook(lambda x0, noise_var, eps: x0 + noise_var ** 0.5 * eps)
    first = _verdict(capsys, "00.add_noise", wrong)
    assert first.startswith("[not yet] 00.add_noise on case 1")
    assert "this looks like: a = 1: x0 is not shrunk by sqrt(1 - b)." in first
    assert "largest error" in first and "hint:" in first
    assert "formula:" not in first and "sqrt(1 - b) * x0" not in first.split("hint:")[1]
    second = _verdict(capsys, "00.add_noise", wrong)
    assert "formula: x = sqrt(1 - b) * x0 + sqrt(b) * eps" in second


def test_an_unrecognised_mistake_still_says_where(capsys):
    out = _verdict(capsys, "00.add_noise", notebook(lambda x0, noise_var, eps: x0 * 0.3))
    assert out.startswith("[not yet] 00.add_noise on case 1") and "values differ" in out
    assert "this looks like" not in out


def test_crash_is_reported_not_raised(capsys):
    out = _verdict(capsys, "00.add_noise", notebook(lambda x0, noise_var, eps: x0 @ eps))
    assert out.startswith("[error] 00.add_noise: `add_noise` raised RuntimeError")


def test_renamed_parameter_says_which_names_to_keep(capsys):
    out = _verdict(capsys, "00.add_noise", notebook(lambda x, b, eps: x))
    assert out.startswith("[error] 00.add_noise") and "(x, b, eps)" in out
    assert "x0=..., noise_var=..., eps=..." in out and "Keep the parameter names" in out


def test_missing_return(capsys):
    out = _verdict(capsys, "00.ideal_denoiser", notebook(lambda x, train, noise_var: None))
    assert "forget `return`" in out


def test_naive_exp_fails_at_small_noise_and_is_named(capsys):
    @notebook
    def naive(x, train, noise_var):
        a = (1 - noise_var) ** 0.5
        w = torch.exp(-torch.cdist(x, a * train) ** 2 / (2 * noise_var))
        return (w / w.sum(1, keepdim=True)) @ train
    out = _verdict(capsys, "00.ideal_denoiser", naive)
    assert out.startswith("[not yet]") and "case 3" in out and "NaN" in out
    assert "this looks like: exp() then a division" in out


@pytest.mark.parametrize("returned", ["0.5", {"a": 1}, object(), (t for t in ()), torch.zeros(2, dtype=torch.cfloat),
                                      [[1.0, 2.0]], float("nan"), torch.ones(3, 2)])
def test_no_answer_crashes_check(capsys, returned):
    for exercise in list_exercises():
        if exercise.kind != "function":
            continue
        params = ", ".join(exercise.cases(0)[0])
        answer = notebook(eval(f"lambda {params}: returned", {"returned": returned}))
        out = _verdict(capsys, exercise.id, answer)
        assert out.startswith(("[not yet]", "[error]")), (exercise.id, out)


def test_answer_cannot_corrupt_reference_by_mutating_inputs(capsys):
    @notebook
    def mutating(x0, noise_var, eps):
        expected = lesson00.add_noise(x0, noise_var, eps)
        x0.zero_()
        return expected
    assert _verdict(capsys, "00.add_noise", mutating).startswith("[passed]")


def test_mutating_inputs_does_not_fool_mistake_matching(capsys):
    @notebook
    def zeroing(x0, noise_var, eps):
        eps.zero_()
        return x0 + noise_var ** 0.5 * eps
    out = _verdict(capsys, "00.add_noise", zeroing)
    assert out.startswith("[not yet]") and "this looks like" not in out


def test_use_passing_uses_the_learners_function_once_its_check_passed(capsys):
    mine = notebook(lambda x0, noise_var, eps: (1 - noise_var) ** 0.5 * x0 + noise_var ** 0.5 * eps)
    assert use_passing("00.add_noise", mine, diffusion.add_noise) is diffusion.add_noise
    assert "the library's `course_utils.diffusion.add_noise`" in capsys.readouterr().out
    check("00.add_noise", mine)
    capsys.readouterr()
    assert use_passing("00.add_noise", mine, diffusion.add_noise) is mine
    assert "uses your `add_noise` (its check passed)" in capsys.readouterr().out
    other = notebook(lambda x0, noise_var, eps: x0)
    check("00.add_noise", other)                         # a later failing try: back to the library
    assert use_passing("00.add_noise", other, diffusion.add_noise) is diffusion.add_noise


def test_unknown_exercise_lists_known_ones():
    with pytest.raises(KeyError, match="00.add_noise"):
        get_exercise("00.nope")


def test_registry_lists_lesson_exercises():
    ids = [ex.id for ex in list_exercises("00")]
    assert ids == ["00.add_noise", "00.cosine_schedule", "00.ideal_denoiser"]


def test_every_exercise_has_tiered_hints_and_mistakes():
    for ex in list_exercises():
        assert ex.hint and ex.formula and ex.hint != ex.formula, ex.id
        assert len(ex.mistakes) >= 4, ex.id


def test_hidden_cases_are_kinds_the_visible_check_shows():
    """Hidden cases differ only in values: each has the keys, tensor ranks and value types of a visible case."""
    def kind(case):
        return tuple(sorted((key, type(value).__name__, value.ndim if torch.is_tensor(value) else None,
                             value.shape[1] if torch.is_tensor(value) and value.ndim == 4 else None)
                            for key, value in case.items()))
    for ex in list_exercises():
        if ex.hidden_cases is None:
            continue
        visible = {kind(case) for case in ex.cases(0)}
        for case in ex.hidden_cases():
            assert kind(case) in visible, (ex.id, kind(case))


@pytest.mark.parametrize("answer, expected, words", [
    (torch.zeros(2), torch.zeros(3), "shape"),
    (torch.zeros(3, 2), torch.zeros(2, 3), "two axes swapped"),
    (torch.zeros(6), torch.zeros(2, 3), "reshaped wrongly"),
    ([1.0], torch.zeros(1), "torch.Tensor"),
    (torch.tensor([float("nan")]), torch.zeros(1), "NaN"),
    (torch.ones(2), torch.zeros(2), "largest error 1"),
    ("3", 3.0, "the string '3'"),
    ((torch.zeros(2),), (torch.zeros(2), torch.zeros(2)), "return a tuple"),
    ((torch.zeros(2), torch.ones(2)), (torch.zeros(2), torch.zeros(2)), "element 1 of the tuple"),
])
def test_compare_tensors_messages(answer, expected, words):
    with pytest.raises(CheckFailed, match=words):
        compare_tensors(answer, expected)


def test_compare_parts_names_the_wrong_element():
    with pytest.raises(CheckFailed, match=r"^v \(element 1 of the tuple\) is wrong"):
        compare_parts("u", "v")((torch.zeros(2), torch.ones(2)), (torch.zeros(2), torch.zeros(2)))


@pytest.mark.parametrize("answer, ok", [(5, True), (torch.tensor(5), True), (5.0, False), ("5", False),
                                        (True, False), (torch.tensor(5.0), False), (4, False)])
def test_compare_int(answer, ok):
    if ok:
        compare_int(answer, 5)
    else:
        with pytest.raises(CheckFailed):
            compare_int(answer, 5)


@pytest.mark.parametrize("exercise_id, library", [("00.add_noise", diffusion.add_noise),
                                                  ("03.ddim_step", diffusion.ddim_step),
                                                  ("03.effective_counts", metrics.effective_counts),
                                                  ("03.held_out_rank", metrics.held_out_rank)])
def test_library_versions_of_exercises_are_refused(capsys, exercise_id, library):
    out = _verdict(capsys, exercise_id, library)
    assert out.startswith(f"[refused] {exercise_id}") and library.__module__ in out


def _lesson_sources():
    import jupytext
    from course_utils import notebooks
    for lesson in notebooks.find_lessons():
        yield lesson, jupytext.read(lesson.source)


def test_lessons_never_bind_a_name_over_a_learners_function():
    """No import or assignment in a lesson rebinds an exercise's name: check would refuse it."""
    import ast
    for lesson, nb in _lesson_sources():
        names = {ex.name for ex in list_exercises(lesson.number)}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                       if not line.lstrip().startswith(("%", "!"))))
            for node in ast.walk(tree):
                bound = []
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound = [alias.asname or alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.Assign):
                    bound = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assert not names & set(bound), (lesson.source.name, names & set(bound))


def test_check_cells_import_check_themselves():
    for lesson, nb in _lesson_sources():
        for cell in nb.cells:
            if cell.cell_type == "code" and "check(\"" in cell.source:
                assert "from course_utils.grading import check\n" in cell.source, lesson.source.name


def test_every_exercise_is_followed_by_use_passing_or_named_as_library_only():
    """Once an exercise passes the lesson goes on with the learner's function, where its signature fits."""
    library_only = {"00.ideal_denoiser", "01.gray_scott_step", "02.count_digits", "04.local_denoiser",
                    "07.calibrated_schedule", "09.self_attention"}
    for lesson, nb in _lesson_sources():
        text = "\n".join(cell.source for cell in nb.cells)
        for ex in list_exercises(lesson.number):
            used = f'use_passing("{ex.id}", {ex.name},' in text
            assert used != (ex.id in library_only), ex.id


def test_hints_never_give_code():
    """The nudge may name a torch function; neither tier is an expression one could paste."""
    code = (".sum(", ".mean(", "dim=", "return ", "lambda", "**", " @ ", "F.")
    for ex in list_exercises():
        assert not [piece for piece in code + ("torch.",) if piece in ex.formula], (ex.id, ex.formula)
        assert not [piece for piece in code if piece in ex.hint], (ex.id, ex.hint)
