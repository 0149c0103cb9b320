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


def _lesson03_numbers(notebook):
    """Lesson 03's printed memorisation and N_eff lines -> {name: the number as printed}."""
    printed = "\n".join(_printed_lines(notebook))
    patterns = {
        "is_median": r"IS samples: +RMS distance to nearest training digit median ([\d.]+)",
        "is_largest": r"IS samples: +RMS distance .* largest ([\d.]+)",
        "held_median": r"held-out digits: RMS distance to nearest training digit median ([\d.]+)",
        "held_smallest": r"held-out digits: RMS distance .* smallest ([\d.]+)",
        "fold": r"the closest held-out digit is ([\d.]+) times farther",
        "median_fold": r"the median held-out digit (\d+) times",
        "is_rank_largest": r"IS samples: +rank median [\d.]+, largest ([\d.]+)",
        "control_median": r"control \(\d+ held-out vs the other \d+\): rank median ([\d.]+)",
        "n_eff_half": r"t = 0.50: N_eff median +([\d.]+)",
        "decided_half": r"t = 0.50: .*N_eff < 1.5: +(\d+) of 64",
        "n_eff_upper_half": r"t = 0.50: .*90 % below +([\d.]+)",
        "n_eff_largest_half": r"t = 0.50: .*largest +([\d.]+)",
        "n_eff_end": r"t = 0.05: N_eff median +[\d.]+, .*largest +([\d.]+)",
    }
    return {name: re.search(pattern, printed).group(1) for name, pattern in patterns.items()}


def test_lesson03_text_quotes_the_printed_memorisation_numbers():
    for notebook in ["solutions/03_diffusion.ipynb", "lessons/03_diffusion.ipynb"]:
        n, text = _lesson03_numbers(notebook), " ".join(_markdown(notebook).split())
        assert n["is_rank_largest"] == "0.00" and "Every IS sample has rank 0" in text
        assert float(n["is_largest"]) < float(n["held_smallest"])  # no held-out digit is as near
        assert (f"farthest IS sample is at {n['is_largest']}, the closest held-out digit at "
                f"{n['held_smallest']}, {n['fold']} times farther") in text
        assert f"median held-out digit ({n['held_median']}) {n['median_fold']} times farther" in text
        assert f"median IS sample ({n['is_median']})" in text
        assert f"(median {n['control_median']}," in text
        assert f"weighs {float(n['n_eff_half']):.2g} digits, and {n['decided_half']} of the 64" in text
        assert (f"a tenth of them, the band's upper edge, still weigh more than "
                f"{float(n['n_eff_upper_half']):.2g} digits, and the largest "
                f"{float(n['n_eff_largest_half']):.2g}") in text
        assert n["n_eff_end"] == "1" and "from $t = 0.05$ on every one of the 64 weighs a single" in text


def test_lesson03_ideal_samples_are_nearer_than_every_held_out_digit():
    """Fresh seeds, through the library: the IS copies, and its N_eff runs from N down to 1."""
    from course_utils import diffusion, metrics
    from course_utils.data import lesson_data

    train, _ = lesson_data("mnist5k", "train")
    test, _ = lesson_data("mnist5k", "test")
    noise = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(11))
    path = diffusion.Trajectory()
    samples = ddim_sample(lambda x, b: ideal_denoise(x, train, b), noise, 20, callback=path)
    assert (metrics.held_out_rank(samples, train, test) == 0).all()
    counts = metrics.effective_counts(path.x, path.noise_vars, train)
    assert torch.allclose(counts[0], torch.full((8,), float(len(train)), dtype=torch.float64))
    assert torch.allclose(counts[-1], torch.ones(8, dtype=torch.float64), atol=1e-6)
