"""Plot helpers: grids put every image in its place; source maps encode what they claim."""
import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import plots  # noqa: E402


def test_image_grid_places_each_image_row_major():
    images = torch.linspace(-1, 1, 5)[:, None, None, None].expand(5, 1, 3, 4)
    grid = plots.image_grid(images, ncols=2, pad=1)
    assert grid.shape == (3 * 4 - 1, 2 * 5 - 1, 3)
    for index in range(5):
        top, left = (index // 2) * 4, (index % 2) * 5
        assert np.allclose(grid[top:top + 3, left:left + 4], (images[index, 0, 0, 0].item() + 1) / 2)
    assert np.all(grid[8:, 5:] == 1.0)  # the empty sixth cell stays white


def test_rgb_images_keep_their_channels():
    images = torch.zeros(1, 3, 2, 2)
    images[0, 0] = 1  # red
    grid = plots.image_grid(images)
    assert np.allclose(grid[0, 0], [1.0, 0.5, 0.5])


def test_source_colors_same_image_same_colour_and_white_means_no_shift():
    image = torch.tensor([[[0, 0], [1, 2]]])
    rows, cols = torch.meshgrid(torch.arange(2), torch.arange(2), indexing="ij")
    colours = plots.source_colors(image, rows[None], cols[None], "image")
    assert np.allclose(colours[0, 0, 0], colours[0, 0, 1])
    assert not np.allclose(colours[0, 1, 0], colours[0, 1, 1])
    offsets = plots.source_colors(image, rows[None], cols[None], "offset")
    assert np.allclose(offsets[0], 0.0)  # unshifted pixels: black, apart from every shift's colour
    shifted = plots.source_colors(image, (rows[None] + 1) % 2, cols[None], "offset")
    assert shifted[0, 0, 0].std() > 0.1


def test_show_functions_draw_and_return_a_figure():
    images = torch.rand(6, 1, 8, 8) * 2 - 1
    fig = plots.show_images(images, ncols=3, title="grid")
    assert fig.axes[0].get_images()[0].get_array().shape == (17, 26, 3)
    fig = plots.show_trajectory(torch.stack([images[:2]] * 4), times=[1, 0.6, 0.3, 0])
    assert len(fig.axes[0].get_xticklabels()) == 4
    index = torch.zeros(2, 8, 8, dtype=torch.int64)
    fig = plots.show_sources(images[:2], index, index, index)
    assert len(fig.axes) == 6
    mask = torch.ones(2, 8, 8, dtype=torch.bool)
    mask[:, 0, 0] = False
    fig = plots.show_sources(images[:2], index + 1, index, index, mask=mask)
    shown = fig.axes[1].get_images()[0].get_array()
    assert np.allclose(shown[0, 0], 0.85) and not np.allclose(shown[1, 1], 0.85)
    fig, ax = plt.subplots()
    plots.show_offset_legend(ax, radius=8)
    key = ax.get_images()[0].get_array()
    assert key.shape == (17, 17, 3)  # one cell per whole-pixel shift
    assert np.allclose(key[8, 8], 0.0) and np.allclose(key[0, 0], 1.0)  # centre: no shift
    assert np.allclose(key[8, 16], plots.offset_colors(0, 8, 8))  # right edge: 8 px to the right
    one_pixel = plots.offset_colors(0, 1, 8)
    assert one_pixel.max() - one_pixel.min() > 0.3  # a 1-pixel shift is visibly coloured
    plt.close("all")


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError, match="C = 1"):
        plots.image_grid(torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"\(T, B, C, H, W\)"):
        plots.show_trajectory(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        plots.source_colors(torch.zeros(1, 2, 2, dtype=torch.int64), torch.zeros(1, 2, 2),
                            torch.zeros(1, 2, 2), mode="hue")


def test_show_finger_counts_draws_one_bar_per_count_coloured_by_kind():
    counts = {"a": torch.tensor([5, 5, 4, -1, 6, 6, 6]), "b": torch.tensor([3])}
    fig = plots.show_finger_counts(counts, titles={"a": "first"})
    first, second = fig.axes
    heights = [bar.get_height() for bar in first.patches]
    assert heights == [1, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0]  # counts -1, 0, ..., 9
    key = plots.FINGER_COUNT_COLOURS
    colour = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in first.patches]
    assert colour[0] == matplotlib.colors.to_hex(key["no hand"])
    assert colour[5] == matplotlib.colors.to_hex(key["fewer than 5"])
    assert colour[6] == matplotlib.colors.to_hex(key["5"]) and colour[7] == matplotlib.colors.to_hex(key["more than 5"])
    assert first.get_title() == "first" and second.get_title() == "b"
    assert [text.get_text() for text in fig.legends[0].get_texts()] == list(key)
    plt.close(fig)
