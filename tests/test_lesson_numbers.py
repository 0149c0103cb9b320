"""Key numbers that lesson texts state: recomputed through the library, and matched
against the stored notebooks' printed lines and the texts that quote them."""
import json
import re
from pathlib import Path

import torch

from course_utils import turing
from course_utils.diffusion import ddim_sample
from course_utils.scores import ideal_denoise

ROOT = Path(__file__).resolve().parents[1]


def _printed_lines(notebook):
    """All stdout lines of a stored notebook."""
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    return [line for cell in cells if cell["cell_type"] == "code"
            for out in cell.get("outputs", []) if out.get("name") == "stdout"
            for line in "".join(out["text"]).splitlines()]


def _markdown(notebook):
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _pentagon_nearest_distances(steps):
    """Lesson 00's setup: 500 DDIM samples of the ideal denoiser of 5 points -> (500,)."""
    angles = torch.arange(5, dtype=torch.float64) * 2 * torch.pi / 5 + torch.pi / 2
    train = 1.5 * torch.stack([angles.cos(), angles.sin()], dim=1)

    def point_denoiser(x, noise_var):
        return ideal_denoise(x.reshape(-1, 2, 1, 1), train.reshape(-1, 2, 1, 1),
                             noise_var).reshape(-1, 2)

    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
    samples = ddim_sample(point_denoiser, noise, steps)
    return torch.cdist(samples, train).min(dim=1).values, torch.pdist(train).min().item()


def test_lesson00_every_sample_is_a_copy_within_a_tenth_of_the_spacing():
    distances, spacing = _pentagon_nearest_distances(20)
    assert (distances < spacing / 10).all()
    assert distances.max() > 0.05  # the misses the text explains are really there


def test_lesson00_text_quotes_the_printed_memorisation_rate():
    for notebook in ["solutions/00_paradox.ipynb", "lessons/00_paradox.ipynb"]:
        printed = "\n".join(_printed_lines(notebook))
        rate = re.search(r"land on a training point: ([\d.]+) %", printed).group(1)
        share = re.search(r"\(([\d.]+) % of the spacing\)", printed).group(1)
        text = _markdown(notebook)
        assert rate == "100.0" and "100 % of the samples are copies" in text
        assert f"within {share} % of the spacing" in text


def _digit_lists(notebook):
    """Lesson 02's printed polydactyly lines -> {kind: [digits of the six buds]}."""
    found = {}
    for line in _printed_lines(notebook):
        match = re.match(r"\s*(normal|wider bud|shorter wavelength): digits of the six buds "
                         r"\[([\d, ]+)\]", line)
        if match:
            found[match.group(1)] = [int(d) for d in match.group(2).split(",")]
    return found


def test_lesson02_text_matches_the_printed_digit_counts():
    for notebook in ["solutions/02_morphogenesis.ipynb", "lessons/02_morphogenesis.ipynb"]:
        counts, text = _digit_lists(notebook), " ".join(_markdown(notebook).split())
        assert counts["normal"] == [5] * 6 and "grows five digits every time" in text
        assert counts["shorter wavelength"] == [6] * 6 and "six digits in all six buds" in text
        wider = counts["wider bud"]
        assert sorted(wider) == [6] * 3 + [7] * 3
        assert "six in three buds and seven in the other three" in text


def test_lesson02_digits_are_real_digits_not_wall_slivers():
    widths = torch.tensor([60.0] * 6 + [72.0] * 6 + [60.0] * 6)
    Du = torch.tensor([0.05] * 12 + [0.028] * 6)
    record, shape = turing.limb_bud(widths, rows=100, steps_per_row=100, seed=2, Du=Du)
    digits = [turing.count_digits(r[-1], m[-1], **turing.LIMB_DIGITS) for r, m in zip(record, shape)]
    assert digits[:6] == [5] * 6 and digits[12:] == [6] * 6 and min(digits[6:12]) >= 6
    for r, m in zip(record, shape):  # every counted digit is at least 2 cells wide
        assert all(stop - start >= 2 for start, stop in turing.digit_runs(r[-1], m[-1], **turing.LIMB_DIGITS))


def _printed_list(notebook, prefix):
    """The Python list printed after ``prefix`` in a stored notebook."""
    line = next(line for line in _printed_lines(notebook) if line.startswith(prefix))
    return json.loads(line[len(prefix):].strip())


def test_lesson02_the_unpatterned_shoulder_row_is_no_digit():
    for notebook in ["solutions/02_morphogenesis.ipynb", "lessons/02_morphogenesis.ipynb"]:
        along = _printed_list(notebook, "elements from shoulder to fingertips, every 11th row:")
        ranges = _printed_list(notebook, "range of u across the bud, every 11th row:")
        bare = _printed_list(notebook, "the same rows without the amplitude floor:")
        floor = turing.LIMB_DIGITS["min_amplitude"]
        assert ranges[0] < floor / 3 and along[0] == 0 and bare[0] >= 1  # seed noise, not a digit
        assert all(r > floor for r in ranges[1:]) and along[1:] == bare[1:]
        assert along[-1] == 5 and min(ranges[-3:]) > 15 * floor
        assert "climbs 1, 2, 3, 4, 5" in " ".join(_markdown(notebook).split())


def test_lesson01_critical_ratio_and_presets_are_the_printed_ones():
    from course_utils import turing

    d_c = turing.critical_ratio(turing.schnakenberg_jacobian(0.1, 0.9, 0.06))
    for notebook in ["solutions/01_local_rules.ipynb", "lessons/01_local_rules.ipynb"]:
        printed = "\n".join(_printed_lines(notebook))
        text = " ".join(_markdown(notebook).split())
        assert f"critical diffusion ratio d_c = D_v / D_u = {d_c:.2f}" in printed
        assert f"{d_c:.2f}" in text and "only *stripes* lies in a Turing region" in text
        turing_presets = re.search(r"Turing region \(the conditions above\), presets: (.*)", printed).group(1)
        assert turing_presets == "spots False, stripes True, holes False, worms False"
        states = [line for line in printed.splitlines() if line.strip().startswith("(u, v) =")]
        assert len(states) == 4 and sum("Turing-unstable True" in line for line in states) == 1


def test_lesson00_schedule_ends_are_printed():
    from course_utils.diffusion import cosine_noise_var

    b0 = cosine_noise_var(0.0).item()
    for notebook in ["solutions/00_paradox.ipynb", "lessons/00_paradox.ipynb"]:
        printed = "\n".join(_printed_lines(notebook))
        assert (f"b(0) = {b0:.2e}  (noise amplitude sqrt(b(0)) = {b0 ** 0.5:.4f}),  "
                f"b(1) = 1.000000") in printed
        assert f"noise left by the last step, sqrt(b(0)): {b0 ** 0.5:.3f}" in printed
        assert f"\\sqrt{{b(0)}} \\approx {b0 ** 0.5:.3f}" in _markdown(notebook)
