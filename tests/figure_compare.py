"""Stored figures are verified: every PNG a notebook re-draws is compared with the stored one.

nbval leaves ``image/png`` out of its comparison (unless nbdime is installed), so a figure
is otherwise checked only as its text, "<Figure size 640x480 with 2 Axes>". The plugin
runs right after nbval's own check of each cell, on the outputs nbval has just collected:
no second execution. The i-th PNG of a cell is compared with the i-th stored one.

A figure passes when it has the same size in pixels, was drawn by the same matplotlib
minor release, and no 3x3 neighbourhood's mean colour moved by more than
``CHANGE_LEVEL`` (of 255) in any channel. Why that level: an edge that moves by one
pixel (line snapping, float noise in plotted data, antialiasing of glyphs) changes one
column of a 3x3 block, so the block's mean by at most 255 / 3 = 85; a curve point that
moved, a new word or a new colour puts ink where there was none and exceeds it. The
cases behind this are measured in tests/test_figure_compare.py. Patch releases of
matplotlib draw identical pixels (3.11.0, 3.11.1 and 3.11.2 were measured); a minor
release changes how text is rasterised (3.10 -> 3.11), hence the version check.

On failure the stored, new and difference images go to ``test-output/figures/``,
named after the notebook, the cell and the figure's place in it.
"""
import base64
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHANGE_LEVEL = 96  # just above 255 / 3: a one-pixel shift of any edge stays below it
PNG = "image/png"
MATPLOTLIB_VERSION = re.compile(r"Matplotlib version\s*(\d+)\.(\d+)(?:\.(\d+))?")


def decode_png(data):
    """Base64 text (as stored in a notebook) -> (H, W, 4) int16 RGBA pixels."""
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    return np.asarray(image.convert("RGBA"), dtype=np.int16)


def drawn_by(data):
    """The 'major.minor' of the matplotlib that wrote the PNG (its Software tag), or None."""
    software = Image.open(io.BytesIO(base64.b64decode(data))).info.get("Software", "")
    found = MATPLOTLIB_VERSION.search(software)
    return f"{found[1]}.{found[2]}" if found else None


def neighbourhood_mean(image):
    """(H, W, C) -> (H, W, C) float mean over each pixel's 3x3 block (edges repeated)."""
    height, width = image.shape[:2]
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    total = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3))
    return total / 9


def changed_pixels(stored, new):
    """Two (H, W, 4) images -> (H, W) bool: blocks whose mean moved by > CHANGE_LEVEL."""
    moved = np.abs(neighbourhood_mean(stored) - neighbourhood_mean(new)).max(axis=-1)
    return moved > CHANGE_LEVEL


def figure_difference(stored_png, new_png):
    """Why the re-drawn PNG is not the stored one (one line), or None when it matches."""
    stored_version, new_version = drawn_by(stored_png), drawn_by(new_png)
    if stored_version and new_version and stored_version != new_version:
        return (f"stored figure was drawn by matplotlib {stored_version}, this one by "
                f"{new_version}: pixels are comparable within one minor release only; "
                f"install matplotlib {stored_version}.x (pip install -e '.[test]')")
    stored, new = decode_png(stored_png), decode_png(new_png)
    if stored.shape != new.shape:
        return (f"size changed: stored {stored.shape[1]}x{stored.shape[0]} px, "
                f"re-drawn {new.shape[1]}x{new.shape[0]} px")
    changed = int(changed_pixels(stored, new).sum())
    if changed:
        return (f"{changed} pixels changed (3x3 mean colour moved by more than "
                f"{CHANGE_LEVEL}/255)")
    return None


def difference_image(stored, new):
    """Two RGBA images, any sizes -> (H, W, 4) uint8: the stored one faded, changes in red."""
    height, width = max(stored.shape[0], new.shape[0]), max(stored.shape[1], new.shape[1])
    canvases = []
    for image in (stored, new):
        canvas = np.full((height, width, 4), 255, dtype=np.int16)  # white where one is smaller
        canvas[:image.shape[0], :image.shape[1]] = image
        canvases.append(canvas)
    picture = (155 + canvases[0] * 100 // 255).astype(np.uint8)
    picture[..., 3] = 255
    picture[changed_pixels(*canvases)] = (220, 0, 0, 255)
    return picture


def png_outputs(outputs):
    """The base64 PNGs among a cell's outputs, in order."""
    return [output["data"][PNG] for output in outputs
            if PNG in output.get("data", {})]


def _write_atomic(path, data):
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(tmp, path)


def write_images(folder, stem, stored_png, new_png):
    """Save stem-stored.png, stem-new.png, stem-diff.png in folder; returns the diff's path."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / f"{stem}-stored.png", base64.b64decode(stored_png))
    _write_atomic(folder / f"{stem}-new.png", base64.b64decode(new_png))
    buffer = io.BytesIO()
    Image.fromarray(difference_image(decode_png(stored_png), decode_png(new_png))).save(
        buffer, format="png")
    diff_path = folder / f"{stem}-diff.png"
    _write_atomic(diff_path, buffer.getvalue())
    return diff_path


def figure_problems(stored_pngs, new_pngs):
    """[(place from 1, stored PNG, new PNG, reason)] for the figures of one cell that differ."""
    problems = []
    for place, (stored_png, new_png) in enumerate(zip(stored_pngs, new_pngs), start=1):
        reason = figure_difference(stored_png, new_png)
        if reason:
            problems.append((place, stored_png, new_png, reason))
    return problems


class FigureComparison:
    """pytest plugin: after nbval has run and checked a cell, compare its figures too."""

    def __init__(self, rootpath):
        self.rootpath = Path(rootpath)
        self.folder = self.rootpath / "test-output" / "figures"

    def pytest_sessionstart(self, session):
        shutil.rmtree(self.folder, ignore_errors=True)  # images of an earlier run would mislead

    def _stem(self, item):
        """lessons/04_locality.ipynb, cell 6 -> 'lessons_04_locality-cell6'."""
        path = Path(item.path).with_suffix("")
        parts = path.relative_to(self.rootpath).parts if path.is_relative_to(self.rootpath) \
            else (path.name,)
        return f"{'_'.join(parts)}-cell{item.cell_num}"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        result = yield  # nbval's execution and text comparison; its failure propagates
        from nbval.plugin import IPyNbCell, NbCellError
        checked = (isinstance(item, IPyNbCell) and item.options["check"]
                   and not item.options["skip"] and item.cell.execution_count is not None)
        if not checked:
            return result
        stored, new = png_outputs(item.cell.outputs), png_outputs(item.test_outputs or [])
        if len(stored) != len(new):
            lines = [f"the cell stored {len(stored)} figure(s) and drew {len(new)}"]
        else:
            lines = [f"figure {place}: {reason}; see "
                     f"{self._write(item, place, stored_png, new_png)} (and -stored/-new.png)"
                     for place, stored_png, new_png, reason in figure_problems(stored, new)]
        if not lines:
            return result
        raise NbCellError(item.cell_num, "Stored figure differs from the re-drawn one: "
                          + "; ".join(lines), item.cell.source,
                          "\n".join(lines) + "\nIf the change is intended, rebuild the lesson: "
                          "python -m course_utils.notebooks build NN")

    def _write(self, item, place, stored_png, new_png):
        """The three images of a failed figure; returns the diff's path from the rootdir."""
        diff_path = write_images(self.folder, f"{self._stem(item)}-figure{place}", stored_png, new_png)
        return diff_path.relative_to(self.rootpath)
