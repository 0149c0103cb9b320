"""Plotting helpers shared by the lessons: image grids, trajectory strips, source maps.

Small API, all taking torch tensors of images in [-1, 1] with shape (B, C, H, W):

- ``image_grid(images, ncols)`` -> one tiled (H', W', 3) float array in [0, 1];
- ``show_images(images, ncols, title, ax)`` draws such a grid (one ``imshow``);
- ``show_trajectory(frames, times)`` draws samples (rows) over time (columns);
- ``source_colors(image, row, col, ...)`` -> (B, H, W, 3) colours that say where each
  output pixel was copied from (which training image, which position);
- ``show_sources(samples, image, row, col)`` draws samples beside those maps, and
  ``show_offset_legend(ax, radius)`` the colour key of the shift map;
- ``show_finger_counts(counts)`` draws one histogram of finger counts per machine.

Every ``show_*`` returns the matplotlib Figure it drew on and never calls
``plt.show()``: the caller decides when to display or save.
"""
import colorsys

import matplotlib.pyplot as plt
import numpy as np
import torch

GOLDEN = 0.618033988749895  # hue step that keeps consecutive indices far apart in colour


def _as_images(images):
    """(B, C, H, W) or (C, H, W) tensor/array -> (B, H, W, 3) float numpy in [0, 1]."""
    images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images have shape {tuple(images.shape)}; pass (B, C, H, W) with C = 1 "
                         f"(grey) or C = 3 (RGB), pixels in [-1, 1]")
    x = ((images.detach().cpu().double().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def image_grid(images, ncols=8, pad=1, pad_value=1.0):
    """(B, C, H, W) in [-1, 1] -> (rows*(H+pad)-pad, cols*(W+pad)-pad, 3) array in [0, 1].

    Images fill the grid row by row; the spacing between them is ``pad`` pixels of
    ``pad_value`` (1 = white).
    """
    return _tile(_as_images(images), ncols, pad, pad_value)


def _tile(rgb, ncols, pad, pad_value):
    """(B, H, W, 3) in [0, 1] -> one tiled image, row-major."""
    if ncols < 1 or pad < 0:
        raise ValueError(f"ncols must be >= 1 and pad >= 0, got ncols={ncols}, pad={pad}")
    count, height, width, _ = rgb.shape
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    grid = np.full((nrows * (height + pad) - pad, ncols * (width + pad) - pad, 3), pad_value)
    for index in range(count):
        top, left = (index // ncols) * (height + pad), (index % ncols) * (width + pad)
        grid[top:top + height, left:left + width] = rgb[index]
    return grid


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def show_images(images, ncols=8, title=None, ax=None, scale=0.6):
    """Draw (B, C, H, W) images in [-1, 1] as one grid; returns the Figure."""
    grid = image_grid(images, ncols)
    fig, ax = _axes(ax, (scale * grid.shape[1] / 17 + 0.2, scale * grid.shape[0] / 17 + 0.4))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def show_trajectory(frames, times=None, row_labels=None, scale=0.9, title=None):
    """frames (T, B, C, H, W): one row per sample, one column per time; returns the Figure.

    ``times`` (T,) labels the columns (e.g. t or the noise variance); ``row_labels`` (B,)
    the rows.
    """
    frames = torch.as_tensor(frames)
    if frames.ndim != 5:
        raise ValueError(f"frames have shape {tuple(frames.shape)}; pass (T, B, C, H, W), e.g. "
                         f"a DDIM trajectory's 'x' or 'denoised'")
    steps, batch = frames.shape[:2]
    if times is not None and len(times) != steps:
        raise ValueError(f"{len(times)} times for {steps} frames; give one label per frame")
    # column-major tiling: sample b, time t goes to row b, column t
    grid = image_grid(frames.transpose(0, 1).reshape(steps * batch, *frames.shape[2:]), ncols=steps)
    fig, ax = plt.subplots(figsize=(scale * steps + 0.6, scale * batch + 0.5))
    ax.imshow(grid, interpolation="nearest")
    height, width = frames.shape[-2:]
    ax.set_yticks([(height + 1) * b + height / 2 for b in range(batch)] if row_labels is not None else [])
    if row_labels is not None:
        ax.set_yticklabels(row_labels, fontsize=8)
    ax.set_xticks([(width + 1) * t + width / 2 for t in range(steps)] if times is not None else [])
    if times is not None:
        ax.set_xticklabels([f"{float(t):.2g}" for t in times], fontsize=8)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def image_colors(count):
    """(count, 3) distinct RGB colours in [0, 1], one per training image index."""
    hues = (np.arange(count) * GOLDEN) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.75, 0.95) for h in hues])


def offset_colors(drow, dcol, radius):
    """Colour key for a 2-D shift, (...) -> (..., 3): black = no shift, hue = direction,
    saturation from 0.35 (1 pixel) to 1 (``radius`` or more), so that a short shift still shows."""
    drow, dcol = np.asarray(drow, dtype=float), np.asarray(dcol, dtype=float)
    length = np.hypot(drow, dcol)
    hue = (np.arctan2(drow, dcol) / (2 * np.pi)) % 1.0
    saturation = 0.35 + 0.65 * np.clip(length / max(radius, 1e-9), 0, 1)
    colours = plt.matplotlib.colors.hsv_to_rgb(np.stack([hue, saturation, np.full_like(hue, 0.95)], axis=-1))
    colours[length == 0] = 0.0
    return colours


def show_offset_legend(ax, radius):
    """Draw the key of ``offset_colors`` on ``ax``: one cell per whole-pixel (row, col) shift up to ``radius``."""
    shifts = np.arange(-int(radius), int(radius) + 1)
    drow, dcol = np.meshgrid(shifts, shifts, indexing="ij")
    key = offset_colors(drow, dcol, radius)
    key[np.hypot(drow, dcol) > radius] = 1.0  # white outside the disc
    edge = int(radius) + 0.5
    ax.imshow(key, extent=(-edge, edge, edge, -edge), interpolation="nearest")
    ax.set_xlabel("column shift q - p (px)", fontsize=8)
    ax.set_ylabel("row shift (px, down)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("shift colour key\n(black: no shift)", fontsize=9)
    return ax.figure


def source_colors(image, row, col, mode="image"):
    """Where each pixel came from, as colour: (B, H, W) indices -> (B, H, W, 3) in [0, 1].

    mode "image": one colour per source training image (equal colours = same image);
    mode "offset": the shift from the output pixel to the source position, black = same
    place (what a position-locked LS machine must do), hue = direction, saturation = length.
    """
    image, row, col = (torch.as_tensor(v).cpu().numpy() for v in (image, row, col))
    if not image.shape == row.shape == col.shape or image.ndim != 3:
        raise ValueError(f"image, row, col have shapes {image.shape}, {row.shape}, {col.shape}; "
                         f"pass three (B, H, W) index arrays, e.g. els_denoise(..., return_source=True)")
    if mode == "image":
        return image_colors(int(image.max()) + 1)[image]
    if mode == "offset":
        height, width = image.shape[1:]
        rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        return offset_colors(row - rows, col - cols, radius=max(height, width) / 2)
    raise ValueError(f"mode must be 'image' or 'offset', not {mode!r}")


def show_sources(samples, image, row, col, mask=None, scale=1.3,
                 titles=("sample", "source image", "source offset")):
    """Each sample beside its source-image and source-offset maps; returns the Figure.

    samples (B, C, H, W) in [-1, 1]; image, row, col (B, H, W) as from
    ``els_denoise(..., return_source=True)``: the training image and position of the
    patch that dominates each output pixel. ``mask`` (B, H, W) bool, optional: pixels
    where it is False are drawn light grey in the maps (e.g. blank background, whose
    source is an arbitrary pick among many identical patches).
    """
    panels = [_as_images(samples), source_colors(image, row, col, "image"),
              source_colors(image, row, col, "offset")]
    if mask is not None:
        hidden = ~torch.as_tensor(mask, dtype=torch.bool).cpu().numpy()
        if hidden.shape != panels[1].shape[:3]:
            raise ValueError(f"mask has shape {hidden.shape}; pass (B, H, W) like image, row, col")
        for panel in panels[1:]:
            panel[hidden] = 0.85
    batch = panels[0].shape[0]
    fig, axes = plt.subplots(batch, 3, figsize=(3 * scale + 0.3, batch * scale + 0.4),
                             squeeze=False)
    for b in range(batch):
        for column, panel in enumerate(panels):
            axes[b, column].imshow(panel[b], interpolation="nearest")
            axes[b, column].set_axis_off()
            if b == 0:
                axes[b, column].set_title(titles[column], fontsize=9)
    return fig


# Okabe-Ito colours, safe for colour-blind readers, and grey for "no hand"
FINGER_COUNT_COLOURS = {"no hand": "0.75", "fewer than 5": "#0072B2", "5": "0.2",
                        "more than 5": "#E69F00"}


def show_finger_counts(counts, titles=None, ylabel="samples", width=1.45, height=2.3):
    """{name: (n,) int finger counts, -1 = no hand} -> Figure: one bar chart per name, bars
    coloured by no hand / fewer than five / five / more, with their key above.

    ``titles``: {name: panel title}, the name where missing.
    """
    bins = torch.arange(-1, 10)
    key = FINGER_COUNT_COLOURS
    colours = [key["no hand"]] + [key["fewer than 5"]] * 5 + [key["5"]] + [key["more than 5"]] * 4
    fig, axes = plt.subplots(1, len(counts), figsize=(width * len(counts), height), sharey=True,
                             squeeze=False)
    for ax, (name, values) in zip(axes[0], counts.items()):
        values = torch.as_tensor(values)
        ax.bar(bins, torch.stack([(values == b).sum() for b in bins]), color=colours)
        ax.set(xticks=[-1, 5, 9], xticklabels=["none", "5", "9"])
        ax.set_title((titles or {}).get(name, name), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel(ylabel)
    fig.supxlabel("fingers counted", fontsize=9)
    fig.legend(handles=[plt.matplotlib.patches.Patch(color=c, label=k) for k, c in key.items()],
               loc="upper center", ncol=len(key), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    return fig
