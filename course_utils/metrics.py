"""How new is a sample? Distances to the training set, and agreement between two samplers.

Distances are root-mean-square pixel differences (the typical per-pixel error, on the
same scale as pixels in [-1, 1]) so that whole images and k x k patches compare
directly. Everything is computed in float64 over chunks of the training set; each
distance is computed on its own, so results do not depend on batch or chunk size.
"""
import torch
import torch.nn.functional as F

BOUNDARIES = ("zeros", "circular")
QUERY_BLOCK = 2048  # query windows per distance block: bounds memory at 2048 x chunk*H*W


def _check_images(name, images, ndim=4):
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, C, H, W), "
                         f"not {type(images).__name__}")
    if images.ndim != ndim:
        raise ValueError(f"{name} has shape {tuple(images.shape)}; pass (N, C, H, W) images "
                         f"(add a batch axis with {name}[None] for a single image)")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} contains NaN or inf; check the sampler's output first")


def _check_pair(samples, train):
    _check_images("samples", samples)
    _check_images("train", train)
    if samples.shape[1:] != train.shape[1:]:
        raise ValueError(f"samples are {tuple(samples.shape[1:])} but training images are "
                         f"{tuple(train.shape[1:])}; both must have the same (C, H, W)")
    if len(train) == 0:
        raise ValueError("train is empty; pass at least one training image")


def nearest_image(samples, train, chunk=256):
    """(B, C, H, W), (N, C, H, W) -> dict(dist (B,) RMS pixel distance, index (B,) int64).

    ``index`` is the nearest training image; ties go to the lowest index.
    """
    _check_pair(samples, train)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of training images, not {chunk}")
    x = samples.detach().double().flatten(1)
    best = torch.full((len(x),), float("inf"), dtype=torch.float64)
    index = torch.zeros(len(x), dtype=torch.int64)
    for start in range(0, len(train), chunk):
        phi = train[start:start + chunk].detach().double().flatten(1)
        # direct differences, not |x|^2 - 2 x.phi + |phi|^2: copies sit at distance ~0,
        # where the expansion would cancel catastrophically
        d2 = ((x[:, None, :] - phi[None]) ** 2).sum(-1)
        value, arg = d2.min(dim=1)
        better = value < best
        best = torch.where(better, value, best)
        index = torch.where(better, arg + start, index)
    return {"dist": (best / x.shape[1]).sqrt(), "index": index}


def _pad(images, k, boundary):
    """(N, C, H, W) -> (N, C, H + k - 1, W + k - 1), wrapped or zero-padded."""
    r = k // 2
    return F.pad(images, (r, r, r, r), mode="circular" if boundary == "circular" else "constant")


def _windows(images, k, boundary):
    """(N, C, H, W) -> (N, H*W, C*k*k) float64 windows centred on every pixel."""
    return F.unfold(_pad(images.detach().double(), k, boundary), k).transpose(1, 2)


def nearest_patch(samples, train, k, boundary="zeros", chunk=8):
    """(B, C, H, W), (N, C, H, W) -> dict(dist, image, row, col), each (B, H, W).

    For every pixel p of every sample: the k x k window at p against every k x k window
    of every training image at every position (padded as ``boundary`` says), and the
    RMS pixel distance to the closest one, with where it lies. Small everywhere means
    every local piece of the sample exists somewhere in the training set.
    """
    _check_pair(samples, train)
    if not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"k must be an odd positive integer (a window centred on a pixel), not {k!r}")
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, not {boundary!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of training images, not {chunk}")
    B, C, H, W = samples.shape
    query = _windows(samples, k, boundary).reshape(B * H * W, -1)
    query32 = query.float()
    best = torch.full((B * H * W,), float("inf"))
    where = torch.zeros(B * H * W, dtype=torch.int64)
    for start in range(0, len(train), chunk):
        patches = _windows(train[start:start + chunk], k, boundary).reshape(-1, query.shape[1]).float()
        p2 = (patches ** 2).sum(1)
        for rows in range(0, len(query), QUERY_BLOCK):
            # |q|^2 is the same for every candidate of a row: leave it out of the argmin
            d2 = torch.addmm(p2, query32[rows:rows + QUERY_BLOCK], patches.T, alpha=-2)
            value, arg = d2.min(dim=1)
            block = slice(rows, rows + len(value))
            better = value < best[block]
            best[block] = torch.where(better, value, best[block])
            where[block] = torch.where(better, arg + start * H * W, where[block])
    # float32 only chooses the patch; its distance is recomputed exactly in float64
    image, position = where // (H * W), where % (H * W)
    row, col = position // W, position % W
    padded = _pad(train.detach().double(), k, boundary)
    offsets = torch.arange(k)
    chosen = padded[image[:, None, None, None], torch.arange(C)[None, :, None, None],
                    (row[:, None] + offsets)[:, None, :, None],
                    (col[:, None] + offsets)[:, None, None, :]]
    best = ((query - chosen.flatten(1)) ** 2).sum(1)
    shape = (B, H, W)
    return {"dist": (best / query.shape[1]).sqrt().reshape(shape),
            "image": image.reshape(shape), "row": row.reshape(shape), "col": col.reshape(shape)}


def pearson_r(a, b):
    """(B, ...), (B, ...) -> (B,) float64 Pearson r per sample, as Kamb & Ganguli report it.

    Each image is centred by its own scalar mean (over all pixels and channels),
    scaled to unit norm, and the two are dotted.
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ValueError("pearson_r compares two torch.Tensors of the same shape (B, ...)")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"shapes {tuple(a.shape)} and {tuple(b.shape)}: pass two batches of the "
                         f"same shape (B, ...), one image per row")
    a = a.detach().double().flatten(1)
    b = b.detach().double().flatten(1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    norms = a.norm(dim=1) * b.norm(dim=1)
    if (norms == 0).any():
        flat = int((norms == 0).nonzero()[0])
        raise ValueError(f"image {flat} is constant in one of the batches; Pearson r is undefined "
                         f"for an image without contrast")
    return (a * b).sum(1) / norms
