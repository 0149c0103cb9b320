"""Stored figures are verified: the tolerance passes rendering noise and fails real changes.

The synthetic figure is drawn as the inline backend draws a lesson's figure (PNG, the
figure's dpi, tight bounding box). The comments give what matplotlib 3.11.2 measured: for
noise the largest move of a 3x3 mean (the level is 96), for changes the pixels above it.
"""
import base64
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

from figure_compare import (CHANGE_LEVEL, changed_pixels, decode_png,  # noqa: E402
                            difference_image, drawn_by, figure_difference, figure_problems,
                            png_outputs, write_images)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def draw(title="Score along the chain", cmap="viridis", bump=0.0, shift=0.0, noise=0.0,
         extra_panel=False, rc=None):
    """A lesson-like figure (curves with title and legend, an image with colour bar) -> base64 PNG."""
    with plt.style.context("default"), matplotlib.rc_context(rc or {}):
        field = np.random.default_rng(0).standard_normal((12, 12)).cumsum(0)
        field += noise * np.random.default_rng(1).standard_normal(field.shape)
        x = np.linspace(0, 1, 25)
        y = np.sin(2 * np.pi * x) + shift
        y[12] += bump
        fig, axes = plt.subplots(1, 3 if extra_panel else 2, figsize=(6, 2.6))
        axes[0].plot(x, y, label="ELS")
        axes[0].plot(x, np.cos(2 * np.pi * x), "--", label="network")
        axes[0].set(xlabel="time t", ylabel="value", title=title)
        axes[0].legend(fontsize=8)
        image = axes[1].imshow(field, cmap=cmap, vmin=-4, vmax=4)
        fig.colorbar(image, ax=axes[1])
        axes[1].set_title("patch field")
        if extra_panel:
            axes[2].hist(field.ravel(), bins=10)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def stored():
    return draw()


@pytest.mark.parametrize("name, changed", [
    ("drawn again", {}),  # 0: drawing is deterministic
    ("text without antialiasing", {"rc": {"text.antialiased": False}}),  # 85: font rendering
    ("font size 10 -> 10.05", {"rc": {"font.size": 10.05}}),  # 37: sub-pixel glyph placement
    ("curve 0.4 px higher", {"shift": 0.005}),  # 85: a line snaps to the next pixel row
    ("image values +-1e-2", {"noise": 1e-2}),  # 3: colour quantisation
])
def test_rendering_noise_passes(stored, name, changed):
    assert figure_difference(stored, draw(**changed)) is None, name


@pytest.mark.parametrize("name, changed, words", [
    ("one word of the title", {"title": "Score along the path"}, "pixels changed"),  # 532
    ("one letter of the title", {"title": "Score along the chair"}, "pixels changed"),  # 348
    ("colour map viridis -> magma", {"cmap": "magma"}, "pixels changed"),  # 19 131
    ("colour map viridis -> cividis", {"cmap": "cividis"}, "pixels changed"),  # 5 140
    ("one of 25 curve points moved 9 px", {"bump": 0.1}, "pixels changed"),  # 89
    ("one of 25 curve points moved 4.5 px", {"bump": 0.05}, "pixels changed"),  # 12
    ("a third panel", {"extra_panel": True}, "size changed"),
])
def test_real_changes_fail(stored, name, changed, words):
    reason = figure_difference(stored, draw(**changed))
    assert reason is not None and words in reason, name


def _edge(column, width=12):
    """(8, width, 4) white image, black from ``column`` on."""
    image = np.full((8, width, 4), 255, dtype=np.int16)
    image[:, column:, :3] = 0
    return image


def test_level_lies_between_a_one_and_a_two_pixel_shift():
    assert 255 / 3 < CHANGE_LEVEL < 2 * 255 / 3
    assert not changed_pixels(_edge(5), _edge(6)).any()
    assert changed_pixels(_edge(5), _edge(7)).any()


def test_the_matplotlib_minor_release_is_compared(stored):
    assert drawn_by(stored) == ".".join(matplotlib.__version__.split(".")[:2])
    image = Image.open(io.BytesIO(base64.b64decode(stored)))
    buffer = io.BytesIO()
    software = _software("Matplotlib version3.10.9, https://matplotlib.org/")  # as 3.10.9 writes it
    image.save(buffer, format="png", pnginfo=software)
    older = base64.b64encode(buffer.getvalue()).decode("ascii")
    reason = figure_difference(older, stored)
    assert "matplotlib 3.10" in reason and "install matplotlib 3.10.x" in reason


def _software(text):
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", text)
    return info


def test_only_the_figures_that_differ_are_reported(stored):
    new = draw(title="Score along the path")
    assert figure_problems([stored, stored], [stored, stored]) == []
    [(place, stored_png, new_png, reason)] = figure_problems([stored, stored], [stored, new])
    assert (place, stored_png, new_png) == (2, stored, new) and "pixels changed" in reason


def test_difference_image_marks_changes_on_a_common_canvas():
    stored, new = _edge(5), _edge(8, width=14)
    picture = difference_image(stored, new)
    assert picture.shape == (8, 14, 4) and picture.dtype == np.uint8
    red = (picture == (220, 0, 0, 255)).all(axis=-1)
    assert red[:, 6].all() and not red[:, 0].any()


def test_failure_images_are_written(tmp_path, stored):
    new = draw(cmap="magma")
    diff = write_images(tmp_path / "figures", "lessons_04-cell3-figure1", stored, new)
    assert diff == tmp_path / "figures" / "lessons_04-cell3-figure1-diff.png"
    assert (tmp_path / "figures" / "lessons_04-cell3-figure1-stored.png").read_bytes() == \
        base64.b64decode(stored)
    assert decode_png(base64.b64encode(diff.read_bytes())).shape == decode_png(stored).shape
    assert sorted(p.name for p in diff.parent.iterdir()) == [
        "lessons_04-cell3-figure1-diff.png", "lessons_04-cell3-figure1-new.png",
        "lessons_04-cell3-figure1-stored.png"]


# End to end: a tiny notebook, executed as the generator executes lessons, then checked by
# pytest's nbval with the repository's conftest (so with this plugin), in a fresh process.
PROBE_SOURCE = """\
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 1, 25)
y = np.sin(2 * np.pi * x)
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(x, y)
title = ax.set_title("A probe")  # assigned: only the figure shows the title
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A folder with an executed one-figure notebook and the repository's test set-up."""
    from course_utils.notebooks import execute
    folder = tmp_path_factory.mktemp("probe")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1 + 1)"), nbformat.v4.new_code_cell(PROBE_SOURCE)]
    execute(nb, folder)
    assert png_outputs(nb.cells[1].outputs), "the probe drew no inline figure"
    nbformat.write(nb, folder / "probe.ipynb")
    shutil.copy(TESTS / "conftest.py", folder / "conftest.py")
    (folder / "pytest.ini").write_text("[pytest]\n")  # the rootdir; not the repository's addopts
    return folder


def _run_nbval(folder, *options):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-q", "--color=no", *options, "probe.ipynb"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def _edited(probe, folder, old, new):
    """A copy of the probe in folder whose figure cell's source changed, outputs kept (not rebuilt)."""
    copy = shutil.copytree(probe, folder / "probe")
    nb = nbformat.read(copy / "probe.ipynb", as_version=4)
    assert old in nb.cells[1].source
    nb.cells[1].source = nb.cells[1].source.replace(old, new)
    nbformat.write(nb, copy / "probe.ipynb")
    return copy


def test_an_unchanged_notebook_passes(probe):
    run = _run_nbval(probe)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (probe / "test-output").exists()


def test_nbval_alone_misses_a_changed_title(probe, tmp_path):
    edited = _edited(probe, tmp_path, '"A probe"', '"A probe!"')
    run = _run_nbval(edited, "-p", "no:figure-comparison")
    assert run.returncode == 0, "nbval compares the figure's text only, which is unchanged"


@pytest.mark.parametrize("old, new", [
    ('"A probe"', '"A probe!"'),  # the title
    ("np.sin(2 * np.pi * x)", "np.sin(2 * np.pi * x) + (x == x[12]) * 0.1"),  # one plotted value
    ("ax.plot(x, y)", "ax.plot(x, y, color='C1')"),  # a colour
])
def test_a_changed_source_without_rebuilding_fails_with_the_diff(probe, tmp_path, old, new):
    edited = _edited(probe, tmp_path, old, new)
    run = _run_nbval(edited)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Cell 1: Stored figure differs from the re-drawn one" in run.stdout, run.stdout
    folder = edited / "test-output" / "figures"
    assert sorted(p.name for p in folder.iterdir()) == [
        "probe-cell1-figure1-diff.png", "probe-cell1-figure1-new.png",
        "probe-cell1-figure1-stored.png"]
    assert "test-output/figures/probe-cell1-figure1-diff.png" in run.stdout
