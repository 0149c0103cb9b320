"""How new is a sample? Distances to the training set, the ideal denoiser's effective number
of training images, and agreement between two samplers.

Distances are root-mean-square pixel differences (the typical per-pixel error, on the
same scale as pixels in [-1, 1]) so that whole images and k x k patches
(``scores.nearest_patches``) compare directly. Everything is computed in float64 over
chunks of the training set; each distance is computed on its own, so results do not
depend on batch or chunk size.
"""
import torch


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


PASS_ELEMENTS = 2 ** 23  # float64 differences held at once (64 MB): memory stays flat in B


def nearest_image(samples, train, chunk=256):
    """(B, C, H, W), (N, C, H, W) -> dict(dist (B,) RMS pixel distance, index (B,) int64).

    ``index`` is the nearest training image; ties go to the lowest index.
    """
    _check_pair(samples, train)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of training images, not {chunk}")
    x = samples.detach().double().flatten(1)
    rows = max(1, PASS_ELEMENTS // (min(chunk, len(train)) * x.shape[1]))
    best, index = (torch.cat(parts) for parts in zip(*(_nearest_rows(x[start:start + rows], train, chunk)
                                                        for start in range(0, len(x), rows))))
    return {"dist": (best / x.shape[1]).sqrt(), "index": index}


def _nearest_rows(x, train, chunk):
    """(B, D) float64 flat samples -> (B,) squared distance to and (B,) index of the nearest training image."""
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
    return best, index


def held_out_rank(samples, train, held_out):
    """(B, C, H, W), (N, C, H, W), (M, C, H, W) -> (B,) share of held-out images nearer to the training set.

    The memorisation measure of lesson 03: each sample's distance to its nearest training
    image, ranked among the held-out images' own distances. A new image drawn like the
    held-out ones scores anywhere in [0, 1] (uniformly); 0 means closer to a training image
    than every held-out image: a copy.
    """
    _check_images("held_out", held_out)
    if len(held_out) == 0:
        raise ValueError("held_out is empty; pass at least one held-out image as the yardstick")
    yardstick = nearest_image(held_out, train)["dist"]
    dist = nearest_image(samples, train)["dist"]
    return (yardstick[None, :] < dist[:, None]).double().mean(dim=1)


def effective_counts(xs, noise_vars, train):
    """(T, B, C, H, W) states, (T,) noise variances, (N, C, H, W) -> (T, B) float64 N_eff = 1 / sum_mu w_mu^2.

    ``w`` are the ideal denoiser's softmax weights over the training images at each state
    of a trajectory (``diffusion.Trajectory``'s ``x`` and ``noise_vars``): N_eff is N when
    all weigh the same, 1 when one image takes all.
    """
    if not isinstance(xs, torch.Tensor) or xs.ndim != 5:
        raise ValueError("xs must be a (T, B, C, H, W) tensor of states along trajectories, "
                         "e.g. diffusion.Trajectory().x")
    levels = torch.as_tensor(noise_vars, dtype=torch.float64).flatten()
    if len(levels) != len(xs):
        raise ValueError(f"{len(levels)} noise variances for {len(xs)} states; pass one per state")
    if not bool(((levels > 0) & (levels <= 1)).all()):
        raise ValueError("noise variances must lie in (0, 1]: at b = 0 the weights are undefined")
    _check_pair(xs[0], train)
    phi = train.detach().double().flatten(1)
    counts = []
    for x, b in zip(xs.detach().double().flatten(2), levels.tolist()):
        a = (1 - b) ** 0.5
        # the expansion |x|^2 - 2a x.phi + a^2 |phi|^2 keeps memory at (B, N); in float64 its
        # cancellation error (~1e-13) is far below the smallest 2b the sampler visits
        d2 = (x * x).sum(1, keepdim=True) - 2 * a * x @ phi.T + a * a * (phi * phi).sum(1)
        weights = torch.softmax(-d2 / (2 * b), dim=1)
        counts.append(1 / (weights ** 2).sum(dim=1))
    return torch.stack(counts)


def nearest_patches_in_place(samples, train, k):
    """(B, C, H, W), (N, C, H, W), odd k -> dict(dist, image), each (B, H, W): the nearest training window at the same position.

    The library an LS machine may copy from: the k x k window (zero-padded) centred on
    each pixel against the training windows centred on that same pixel only. ``dist``
    is the RMS pixel distance (float64, the scale of ``scores.nearest_patches``, which
    searches every admissible position instead); ``image`` the nearest training image
    (ties to the lowest index).
    """
    _check_pair(samples, train)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"k must be an odd positive int (the window side), not {k!r}")
    unfold = lambda images: torch.nn.functional.unfold(  # noqa: E731
        images.detach().double(), k, padding=k // 2).permute(2, 0, 1)  # (HW, N, C k k)
    queries, patches = unfold(samples), unfold(train)
    # direct differences (no |q|^2 - 2 q.p + |p|^2), as in nearest_image: a copied
    # window sits at distance ~0, where the expansion would cancel
    dist = torch.cdist(queries, patches, compute_mode="donot_use_mm_for_euclid_dist")  # (HW, B, N)
    best, image = dist.min(dim=2)
    shape = (len(samples), *samples.shape[2:])
    return {"dist": (best.T / queries.shape[2] ** 0.5).reshape(shape), "image": image.T.reshape(shape)}


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


ROUNDING_FLOORS = {torch.float64: 1e-12, torch.float32: 1e-5}


def difference_text(difference, dtype):
    """A largest absolute difference of values near 1 -> "0.0123", or "< 1e-05 (float32 rounding)".

    Differences at rounding level depend on the CPU's arithmetic paths (the order of sums in
    a matrix product), so a lesson prints their bound, which every machine reproduces.
    """
    floor = ROUNDING_FLOORS[dtype]
    if difference < floor:
        return f"< {floor:.0e} ({str(dtype).removeprefix('torch.')} rounding)"
    return f"{difference:.3g}"
