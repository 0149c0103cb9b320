"""Key numbers that lesson texts state: recomputed through the library, and matched
against the stored notebooks' printed lines and the texts that quote them."""
import json
import re
from pathlib import Path

import torch

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
