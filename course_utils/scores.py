"""The closed-form denoisers of Kamb & Ganguli (ICML 2025): IS, LS and ELS machines.

Every machine returns D(x) = E[x0 | x] for x = sqrt(1-b) x0 + sqrt(b) eps under its own
model of the data (ELS_NOTES.md):

- ``ideal_denoise``: the ideal score machine (IS), a softmax over training images;
- ``local_denoise``: the local score machine (LS), one softmax per pixel over the
  k x k windows of the training images at the same position;
- ``els_denoise``: the equivariant local score machine (ELS), one softmax per pixel
  over every admissible k x k training patch, anywhere in any training image.

All three stream over chunks of training data with a running log-sum-exp (sum, then
normalise once), so results do not depend on the chunk size. ELS and nearest_patches
by default prepare the training patches once per (train, k, boundary) in a small
cache (identical patches merged with a log count, one augmented GEMM per chunk:
benchmarks/RESULTS.md); ``cache=False`` streams training images instead, with memory
that does not grow with the training set.
"""
import math
import operator
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch
import torch.nn.functional as F

BOUNDARIES = ("circular", "zeros")
DEFAULT_CHUNK = 64  # training images per chunk (IS, LS, streaming ELS)
# Softmaxes run in bits (log base 2): the logits carry a factor log2(e), folded into the
# GEMM's coefficients, and weights are 2 ** (logit - max). A float32 exp2 costs a
# fraction of an exp in torch on CPU (a quarter on the AMD EPYC of benchmarks/RESULTS.md),
# with the same rounding (about 1e-7 relative).
LOG2E = 1 / math.log(2)
BANK_CHUNK = 1024  # training patches per GEMM of a prepared bank: a (BANK_CHUNK, ROW_TILE) block of
ROW_TILE = 128     # logits stays in a core's cache between the GEMM, the max, the exp and the second GEMM


# ---------------------------------------------------------------- input checks
def _check_images(x, train):
    """Validate the (B, C, H, W) query and (N, C, H, W) training tensors; returns train on x's device and dtype."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {_describe(x)}; add batch and "
                         "channel axes, e.g. x[None, None] for one grey image")
    if not isinstance(train, torch.Tensor) or train.ndim != 4:
        raise ValueError(f"train must be an (N, C, H, W) tensor, got {_describe(train)}")
    if not x.is_floating_point():
        raise ValueError(f"x has dtype {x.dtype}; pass a float tensor, e.g. x.float()")
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch; pass at least one image")
    if train.shape[0] == 0:
        raise ValueError("train is empty; pass at least one training image "
                         "(for a class-conditional machine, check that the class has images)")
    if train.shape[1:] != x.shape[1:]:
        raise ValueError(f"train images have shape {tuple(train.shape[1:])} but x has "
                         f"{tuple(x.shape[1:])}; (C, H, W) must match (same channels and size)")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf; check the sampler's noise levels and inputs")
    train = train.to(device=x.device, dtype=x.dtype)
    if not torch.isfinite(train).all():
        raise ValueError("train contains NaN or inf; clean the training images first")
    return train


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _check_noise_var(noise_var, x):
    """float or (B,) noise variance -> (B,) float64 tensor on x's device, each in (0, 1]."""
    b = torch.as_tensor(noise_var, dtype=torch.float64)
    if b.ndim == 0:
        b = b.expand(x.shape[0])
    if b.shape != (x.shape[0],):
        raise ValueError(f"noise_var has shape {tuple(b.shape)}; pass a float or a "
                         f"({x.shape[0]},) tensor, one value per image")
    if torch.isnan(b).any() or (b <= 0).any() or (b > 1).any():
        raise ValueError(f"noise_var must lie in (0, 1] (b = 1 is pure noise), got "
                         f"{b.tolist() if b.numel() < 9 else 'values outside it'}; "
                         "b -> 0 is the nearest_patches limit")
    return b.to(x.device)


def _check_k(k):
    """Odd positive patch size (any int-like, e.g. numpy ints from a schedule) -> int."""
    try:
        value = operator.index(k)
    except TypeError:
        value = None
    if isinstance(k, bool) or value is None or value < 1 or value % 2 == 0:
        raise ValueError(f"patch size k must be an odd positive integer (1, 3, 5, ...), got {k!r}")
    return value


def _check_boundary(boundary):
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be 'circular' or 'zeros', not {boundary!r}")


def _check_chunk(chunk_size, banked=False):
    """None -> the default for the path; else a positive int (results do not depend on it)."""
    if chunk_size is None:
        return BANK_CHUNK if banked else DEFAULT_CHUNK
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer (or None), got {chunk_size!r}")
    return chunk_size


# ---------------------------------------------------------------- geometry
def _padded(images, k, boundary):
    """(N, C, H, W) -> (N, C, H + 2h, W + 2h), h = k // 2: wrapped (any k) or zero-padded."""
    h = k // 2
    if boundary == "zeros":
        return F.pad(images, (h, h, h, h))
    rows = torch.arange(-h, images.shape[2] + h, device=images.device) % images.shape[2]
    cols = torch.arange(-h, images.shape[3] + h, device=images.device) % images.shape[3]
    return images[:, :, rows][:, :, :, cols]


def _windows(images, k, boundary):
    """(N, C, H, W) -> (N, H*W, C*k*k) windows centred on every pixel, padded by ``boundary``."""
    count, _, height, width = images.shape
    return _window_view(images, k, boundary).reshape(count, height * width, -1)


def _pixel_major_windows(images, k, boundary):
    """(N, C, H, W) -> (H*W, N, C*k*k) contiguous: every pixel's windows of all images.

    Copied from the strided window view in one pass whose inner runs are k contiguous
    floats; unfolding first and then transposing gathers at a stride of H*W floats.
    """
    count, channels, height, width = images.shape
    view = _window_view(images, k, boundary).permute(1, 2, 0, 3, 4, 5)
    return view.reshape(height * width, count, channels * k * k)


def _position_classes(height, width, k):
    """Zero-padding classes: lists of flat positions whose windows overlap the padding identically."""
    h = k // 2
    row_key = [(min(r, h), min(height - 1 - r, h)) for r in range(height)]
    col_key = [(min(c, h), min(width - 1 - c, h)) for c in range(width)]
    classes = {}
    for r in range(height):
        for c in range(width):
            classes.setdefault((row_key[r], col_key[c]), []).append(r * width + c)
    return list(classes.values())


# ---------------------------------------------------------------- streaming softmax
class _Accumulator:
    """Running log-sum-exp over chunks, logits l in bits: sum_j 2^(l_j - m) v_j and sum_j 2^(l_j - m) per query row."""

    def __init__(self, groups, rows, values, like, track_source):
        self.max = torch.full((groups, rows), -math.inf, dtype=like.dtype, device=like.device)
        self.total = torch.zeros((groups, rows), dtype=like.dtype, device=like.device)
        self.weighted = torch.zeros((groups, rows, values), dtype=like.dtype, device=like.device)
        self.source = (torch.zeros((groups, rows), dtype=torch.int64, device=like.device)
                       if track_source else None)

    def add(self, logits, values, offset):
        """logits (G, M, P) and values (G, P, V) of training entries offset .. offset + P."""
        chunk_max, chunk_arg = logits.max(dim=2)
        if self.source is not None:
            better = chunk_max > self.max  # strict: ties keep the earliest entry
            self.source = torch.where(better, chunk_arg + offset, self.source)
        new_max = torch.maximum(self.max, chunk_max)
        rescale = torch.exp2(self.max - new_max)
        weights = _exp2_below_zero_(logits - new_max[..., None])
        self.total = self.total * rescale + weights.sum(dim=2)
        self.weighted = self.weighted * rescale[..., None] + torch.bmm(weights, values)
        self.max = new_max

    def mean(self):
        return self.weighted / self.total[..., None]


def _exp2_below_zero_(shifted):
    """2 ** x, in place, of logits in bits minus their running maximum (all <= 0).

    Far below the maximum, 2 ** x lands in (or near) the subnormal range, where CPUs
    compute it ten to thirty times slower. Such terms weigh less than 1e-34 (float32)
    against the maximum's 1, far below rounding, so they are raised to a floor just
    inside the normal range first.
    """
    return shifted.clamp_(min=0.9 * math.log2(torch.finfo(shifted.dtype).tiny)).exp2_()


def _coefficients(b, rows_per_image):
    """(B,) float64 noise variance -> per query row (a / b, a^2 / (2 b)) in bits, repeated for each image's rows."""
    a = torch.sqrt(1 - b)
    return ((a / b * LOG2E).repeat_interleave(rows_per_image),
            (a * a / (2 * b) * LOG2E).repeat_interleave(rows_per_image))


def _logits(queries, patches, lin, sq):
    """q.p lin - |p|^2 sq for queries (G, M, D), patches (G, P, D) -> (G, M, P).

    With (lin, sq) from ``_coefficients``: -(|q - a p|^2 - |q|^2) / (2 b), in bits.
    """
    dots = torch.bmm(queries, patches.transpose(1, 2))
    return dots * lin[:, None] - sq[:, None] * (patches * patches).sum(dim=2)[:, None, :]


# ---------------------------------------------------------------- machines
def ideal_denoise(x, train, noise_var, chunk_size=None):
    """(B, C, H, W) noisy, (N, C, H, W) training -> (B, C, H, W) E[x0 | x] of the ideal score machine."""
    train = _check_images(x, train)
    b = _check_noise_var(noise_var, x)
    chunk_size = _check_chunk(chunk_size)
    lin, sq = (c.to(x.dtype) for c in _coefficients(b, 1))
    queries = x.reshape(1, x.shape[0], -1)
    acc = _Accumulator(1, x.shape[0], queries.shape[2], x, False)
    for start in range(0, train.shape[0], chunk_size):
        flat = train[start:start + chunk_size].reshape(1, -1, queries.shape[2])
        acc.add(_logits(queries, flat, lin, sq), flat, start)
    return acc.mean().reshape(x.shape)


def local_denoise(x, train, noise_var, k, boundary="zeros", chunk_size=None):
    """(B, C, H, W) noisy, (N, C, H, W) training -> (B, C, H, W) E[x0 | x] of the local score machine (patch size k)."""
    train = _check_images(x, train)
    b = _check_noise_var(noise_var, x)
    k = _check_k(k)
    _check_boundary(boundary)
    chunk_size = _check_chunk(chunk_size)
    batch, channels, height, width = x.shape
    lin, sq = (c.to(x.dtype) for c in _coefficients(b, 1))
    # one group per pixel: queries (HW, B, Ckk) against that pixel's training windows
    queries = _pixel_major_windows(x, k, boundary)
    acc = _Accumulator(height * width, batch, channels, x, False)
    for start in range(0, train.shape[0], chunk_size):
        chunk = train[start:start + chunk_size]
        centres = chunk.reshape(chunk.shape[0], channels, -1).permute(2, 0, 1)
        acc.add(_logits(queries, _pixel_major_windows(chunk, k, boundary), lin, sq),
                centres.contiguous(), start)
    return acc.mean().permute(1, 2, 0).reshape(x.shape)


def els_denoise(x, train, noise_var, k, boundary="circular", chunk_size=None, cache=True,
                return_source=False):
    """(B, C, H, W) noisy, (N, C, H, W) training -> (B, C, H, W) E[x0 | x] of the ELS machine (patch size k).

    cache=True prepares the training patches once per (train, k, boundary), about k*k
    times the training set in memory, and reuses them (the fast path); cache=False
    streams chunks of ``chunk_size`` training images with memory independent of N.
    With ``return_source`` also returns, per output pixel, the training patch with the
    largest weight: dict(image, row, col) of (B, H, W) int64 tensors (its centre pixel).
    """
    train = _check_images(x, train)
    b = _check_noise_var(noise_var, x)
    k = _check_k(k)
    _check_boundary(boundary)
    chunk_size = _check_chunk(chunk_size, cache)
    if cache:
        out, source = _els_banked(_bank_windows(x, k, boundary), _banks(train, k, boundary), b,
                                  chunk_size, True, return_source)
    else:
        out, source = _els(x, train, b, k, boundary, chunk_size, True, return_source)
    out = out.transpose(1, 2).reshape(x.shape)
    if return_source:
        return out, _source_dict(source, x.shape)
    return out


def nearest_patches(x, train, k, boundary="circular", chunk_size=None, cache=True):
    """(B, C, H, W) images -> the closest admissible training patch to each k x k window (the b -> 0 limit of ELS).

    Returns dict(dist, image, row, col), each (B, H, W): the RMS pixel distance (float64,
    the scale of ``metrics.nearest_image``) and the training image and centre pixel of
    the nearest patch. Admissible as for ELS: any position on the torus ("circular");
    with "zeros" a window that overlaps the border only matches training windows that
    overlap it the same way. Small everywhere: every local piece exists in the training set.
    """
    train = _check_images(x, train)
    k = _check_k(k)
    _check_boundary(boundary)
    chunk_size = _check_chunk(chunk_size, cache)
    ones = torch.ones(x.shape[0], dtype=torch.float64, device=x.device)
    if cache:
        _, flat = _els_banked(_bank_windows(x, k, boundary), _banks(train, k, boundary), ones,
                              chunk_size, False, True)
    else:
        _, flat = _els(x, train, ones, k, boundary, chunk_size, False, True)
    source = _source_dict(flat, x.shape)
    # the winners' distances directly, in float64: no cancellation as in |q|^2 - 2 q.p + |p|^2
    queries = _windows(x.double(), k, boundary).reshape(-1, x.shape[1] * k * k)
    offsets = torch.arange(k, device=x.device)
    rows = source["row"].reshape(-1, 1) + offsets  # padded coordinates of the winning window
    cols = source["col"].reshape(-1, 1) + offsets
    best = _padded(train.double(), k, boundary)[source["image"].reshape(-1, 1, 1), :,
                                                rows[:, :, None], cols[:, None, :]]
    best = best.permute(0, 3, 1, 2).reshape(queries.shape)
    source["dist"] = ((queries - best) ** 2).mean(dim=1).sqrt().reshape(source["row"].shape)
    return source


# ---------------------------------------------------------------- fast path: prepared patch banks
_BANKS = OrderedDict()
BANK_CACHE_SIZE = 4  # (train, k, boundary) entries kept: a trajectory cycles through a few k


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): assume a small laptop
        return 8 * 2**30


# bytes of banks kept while the next is prepared: at 32 x 32 one k = 27 bank is ~14 GB, and
# four such entries would exhaust any laptop
BANK_CACHE_BYTES = _physical_memory() // 4
BLOCK = 256  # training patches per bounded block: a cluster with a centre and a radius
ROUNDING_SLACK = 1.0  # nats added to the skip threshold for the float rounding of the logits
# rows per piece when one bank's preparation is shared out: fixed, so that the pieces (and
# the bank) do not depend on the thread count; a multiple of 4096 rows keeps every row's
# memory alignment, and with it each row's rounding, the same as in one pass
PIECE_ROWS = 1 << 15
_COUNTERS = {"pairs": 0, "computed": 0}


class _Bank:
    """The admissible training patches of one position class, in blocks of nearby patches.

    patches (P, D + 3): [phi, |phi|^2, log count, 1], phi in bank order (_bank_windows), so
    that [a/b x, -a^2/(2b), 1, -shift] . row is the logit minus a per-query shift (the
    kernel scales the query side by log2 e: bits);
    values_t (C + 1, P): [centre pixel; 1] so that one GEMM of the weights gives the weighted
    sum and the normaliser, value_scale its largest |entry|; source (P,): image * H * W + position.
    Identical patches are stored once with their log count (exact: same logit, same centre).
    Rows are ordered by a PCA tree into blocks starts[i] .. starts[i + 1] with centre,
    radius, largest log count and one member, which bound every logit of the block; for
    _Rows' float64 GEMMs, centres_t (D + 2, nb) holds [centre; 1; |centre|^2] and reps_t
    (D + 2, nb) the member's [phi; |phi|^2; log count].
    """

    def __init__(self, positions, rows, centres, source, workers=1):
        self.positions = positions
        keep, counts = _merge_duplicates(rows, workers)
        order, self.starts = _cluster_order(_principal_coords(rows, keep, workers), BLOCK, workers)
        keep, log_counts = keep[order], counts[order].to(rows.view.dtype).log()
        dim = rows.shape[1]
        # one allocation, filled column by column: no (P, D) intermediate copies of the bank
        self.patches = rows.view.new_empty(keep.shape[0], dim + 3)
        body = self.patches[:, :dim]

        def fill(lo, hi):  # no (P, D) temporary for the norms
            rows.take(keep[lo:hi], out=body[lo:hi])
            torch.linalg.vector_norm(body[lo:hi], dim=1, out=self.patches[lo:hi, dim]).square_()
        _in_pieces(fill, keep.shape[0], workers)
        self.patches[:, dim + 1] = log_counts
        self.patches[:, dim + 2] = 1
        kept_centres = torch.index_select(centres, 0, keep)
        self.values_t = torch.cat([kept_centres, torch.ones_like(kept_centres[:, :1])], 1).T.contiguous()
        self.value_scale = float(self.values_t.abs().max())
        self.source = source[keep]
        block_centres, self.radii, rep = _block_geometry(body, self.starts, workers=workers)
        block_of = _block_index(self.starts, rows.view.device)
        self.top_log_count = torch.full_like(self.radii, -math.inf).scatter_reduce_(
            0, block_of, log_counts.double(), "amax")
        self.centres_t = torch.cat([block_centres, torch.ones_like(self.radii)[:, None],
                                    (block_centres * block_centres).sum(dim=1, keepdim=True)], 1).T.contiguous()
        self.reps_t = torch.index_select(self.patches, 0, rep)[:, :dim + 2].double().T.contiguous()


def _block_index(starts, device):
    """Block boundaries [0, ..., P] -> (P,) the block of every row."""
    sizes = torch.tensor(starts, device=device).diff()
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes)


def _window_view(images, k, boundary):
    """(N, C, H, W) -> (N, H, W, C, k, k) view of every k x k window (no copy of the windows)."""
    padded = _padded(images, k, boundary).contiguous()
    count, channels, height, width = images.shape
    s = padded.stride()
    return padded.as_strided((count, height, width, channels, k, k), (s[0], s[2], s[3], s[1], s[2], s[3]))


def _bank_windows(images, k, boundary):
    """(N, C, H, W) -> (N, H*W, C*k*k) windows as _windows, each in bank order (row, channel, column): what banks hold."""
    count, _, height, width = images.shape
    return _window_view(images, k, boundary).transpose(3, 4).reshape(count, height * width, -1)


def _strips(images, k, boundary):
    """(N, C, H, W) -> (N, W, H + 2h, C, k) column strips, strip[n, c, y, ch, dx] = padded[n, ch, y, c + dx].

    The window of pixel (r, c) in bank order is the contiguous run strip[n, c, r:r + k]:
    k times less memory than all windows, and any row of patches is one slice of it.
    """
    padded = _padded(images, k, boundary).contiguous()
    count, channels, rows, _ = padded.shape
    s = padded.stride()
    return padded.as_strided((count, images.shape[3], rows, channels, k),
                             (s[0], s[3], s[2], s[1], s[3])).contiguous()


class _PatchRows:
    """The (N * P, C*k*k) patch rows of one position class (row image * P + i, bank order), never all copied.

    Every row is a contiguous run of the column strips: an overlapping view of them
    gives any rows by index_select, at the cost of copying those rows only. At 32 x 32
    and large k a class's full patch matrix takes gigabytes; the strips k times less.
    """

    def __init__(self, strips, positions, width):
        count, _, rows, channels, k = strips.shape
        flat = strips.reshape(-1)
        self.shape = (count * len(positions), channels * k * k)
        self.view = flat.as_strided((flat.numel() - self.shape[1] + 1, self.shape[1]), (1, 1))
        offset = ((positions % width) * rows + positions // width) * (channels * k)
        image = torch.arange(count, device=strips.device)[:, None] * strips[0].numel()
        self.starts = (image + offset).reshape(-1)

    def take(self, index, out=None):
        """(n,) row indices (or a slice) -> (n, C*k*k) those rows."""
        return torch.index_select(self.view, 0, self.starts[index], out=out)

    def in_pieces(self, fn, workers):
        """fn(lo, hi, rows lo .. hi) for the fixed pieces of PIECE_ROWS rows, each gathered into a per-thread buffer."""
        def run(lo, hi, buffer):
            fn(lo, hi, self.take(slice(lo, hi), out=buffer[:hi - lo]))
        _in_pieces(_with_scratch(run, PIECE_ROWS, self.shape[1], self.view), self.shape[0], workers)


def _merge_duplicates(rows, workers=1):
    """_PatchRows (P, D) -> keep (U,) the first of each set of identical rows, counts (U,) their sizes."""
    # hash rows by a random projection, then confirm equality: a collision merges nothing wrong
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(rows.shape[1], dtype=torch.float64, generator=gen).to(rows.view)
    everyone = torch.arange(rows.shape[0], device=rows.view.device)
    hashes = rows.view.new_empty(rows.shape[0])
    rows.in_pieces(lambda lo, hi, piece: torch.mv(piece, probe, out=hashes[lo:hi]), workers)
    _, inverse = torch.unique(_integer_view(hashes), return_inverse=True)  # identical rows: identical bits
    first = torch.full((int(inverse.max()) + 1,), rows.shape[0], device=everyone.device)
    candidate = first.scatter_reduce_(0, inverse, everyone, "amin")[inverse]
    twins = (candidate != everyone).nonzero().squeeze(1)
    same = (rows.take(twins) == rows.take(candidate[twins])).all(dim=1)
    owner = everyone.clone()
    owner[twins[same]] = candidate[twins[same]]
    keep = (owner == everyone).nonzero().squeeze(1)
    return keep, torch.bincount(owner, minlength=rows.shape[0])[keep]


def _integer_view(values):
    """Float tensor -> the integer tensor of its bit patterns (same width, no copy).

    Non-negative floats sort in the order of their bit patterns, and equal floats (but for
    -0 and +0) share them; torch sorts integers by radix, several times faster than floats.
    """
    return values.view({8: torch.int64, 4: torch.int32, 2: torch.int16}[values.element_size()])


def _principal_coords(rows, keep, workers=1, dims=8):
    """_PatchRows (P, D), keep (U,) -> (U, <= dims) float64 coordinates of the kept rows on their widest principal axes."""
    sample = rows.take(keep[::max(1, keep.shape[0] // 4096)])
    directions = _widest_axes(sample - sample.mean(dim=0), min(rows.shape[1], dims))
    coords = rows.view.new_empty(rows.shape[0], directions.shape[1])  # projected first: no (U, D) copy
    rows.in_pieces(lambda lo, hi, piece: torch.mm(piece, directions, out=coords[lo:hi]), workers)
    return torch.index_select(coords, 0, keep).double()


def _widest_axes(centred, dims, iterations=1):
    """(m, D) centred rows -> (D, dims) orthonormal approximations of their top principal axes.

    A seeded randomised range finder with a power iteration, in the rows' dtype: a few
    (m, D) x (D, dims + 8) products instead of a (D, D) eigendecomposition, which at D = 361 and hundreds of
    position classes (32 x 32, zero padding) cost more than everything else. Any
    directions give valid bounds; good ones give small blocks.
    """
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(centred.shape[1], dims + 8, dtype=torch.float64, generator=gen).to(centred)
    basis = torch.linalg.qr(centred @ probe)[0]
    for _ in range(iterations):
        basis = torch.linalg.qr(centred @ (centred.T @ basis))[0]
    return torch.linalg.svd(basis.T @ centred, full_matrices=False)[2][:dims].T


def _cluster_order(coords, block, workers=1, sample_per_leaf=16):
    """(P, d) coordinates -> order (P,) and block boundaries [0, ..., P]: blocks of about ``block`` nearby rows.

    A PCA tree: every level splits each group at the median of its widest coordinate, so
    that a block's radius, and with it the bound on its logits, is small. The split planes
    come from an evenly spaced sample of about ``sample_per_leaf`` rows per leaf; every row
    then descends the tree, one comparison per level, and one sort by leaf makes the leaves
    contiguous runs of the order. Any split gives valid bounds; the sample only lets the
    leaves' sizes vary about the target.
    """
    count = coords.shape[0]
    levels = max(0, math.ceil(math.log2(count / block)))
    sample = coords[::max(1, count // (sample_per_leaf << levels))]
    planes = _split_planes(sample, levels)
    leaf = torch.zeros(count, dtype=torch.int64, device=coords.device)

    def descend(lo, hi):
        node = leaf[lo:hi]
        for axis, threshold in planes:
            value = coords[lo:hi].gather(1, axis[node][:, None]).squeeze(1)
            node = 2 * node + (value > threshold[node])
        leaf[lo:hi] = node
    _in_pieces(descend, count, workers)
    sizes = torch.bincount(leaf, minlength=2 ** levels)
    return torch.argsort(leaf, stable=True), [0] + torch.cumsum(sizes[sizes > 0], 0).tolist()


def _split_planes(sample, levels):
    """(m, d) sample rows -> per level of the tree (axis (G,), threshold (G,)), G = 2 ** level.

    Each group of the sample is split at the median of its widest coordinate; rows above
    the group's threshold go to its second child. Groups stay contiguous runs of the
    sample, so one sort by (group, coordinate) splits them all.
    """
    count, dim = sample.shape
    device = sample.device
    # each coordinate scaled to [0, 1/2]: group + coordinate sorts by group, then coordinate
    low, width = sample.amin(dim=0), (sample.amax(dim=0) - sample.amin(dim=0)).clamp(min=1e-300)
    scaled = (sample - low) / width / 2
    sizes, planes = torch.tensor([count], device=device), []
    for _ in range(levels):
        group = torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes)
        sums = torch.zeros(len(sizes), 2 * dim, dtype=scaled.dtype, device=device).index_add_(
            0, group, torch.cat([scaled, scaled * scaled], dim=1))
        counts = sizes[:, None].clamp(min=1)
        axis = ((sums[:, dim:] - sums[:, :dim] ** 2 / counts) * width ** 2).argmax(dim=1)
        perm = torch.argsort(_integer_view(group + scaled.gather(1, axis[group][:, None]).squeeze(1)), stable=True)
        sample, scaled = torch.index_select(sample, 0, perm), torch.index_select(scaled, 0, perm)
        left = (sizes + 1) // 2
        last_left = (torch.cumsum(sizes, 0) - sizes + left - 1).clamp(min=0)
        # an empty group sends everything to its first child
        threshold = torch.where(sizes > 0, sample[last_left, axis], math.inf)
        planes.append((axis, threshold))
        sizes = torch.stack([left, sizes // 2], dim=1).reshape(-1)
    return planes


def _block_geometry(patches, starts, rows_per_pass=32768, workers=1):
    """(P, D) clustered rows -> centres (nb, D), radii (nb,) in float64, rep (nb,) the member nearest each centre.

    Computed in the rows' dtype over whole blocks at a time. The centre is any point (the
    mean, rounded); the radius bounds the exact distance of every member from it: the
    computed |p - c|^2 is raised by its worst-case rounding, (D + 4) relative errors of
    the dtype's unit roundoff, twice over (subtraction, square, any summation order, square
    root), and the squares' underflow.
    """
    count, dim = len(starts) - 1, patches.shape[1]
    centres = patches.new_empty(count, dim)
    radii = patches.new_empty(count)
    rep = torch.empty(count, dtype=torch.int64, device=patches.device)
    per_pass = max(1, rows_per_pass * count // patches.shape[0])

    def blocks(first, last, scratch):
        lo, hi = starts[first], starts[last]
        rows = patches[lo:hi]
        block_of = _block_index([s - lo for s in starts[first:last + 1]], patches.device)
        sizes = torch.bincount(block_of, minlength=last - first).to(rows.dtype)
        mean = torch.zeros_like(centres[first:last]).index_add_(0, block_of, rows) / sizes[:, None]
        diff = torch.index_select(mean, 0, block_of, out=scratch[:hi - lo])
        distance = torch.linalg.vector_norm(torch.sub(rows, diff, out=diff), dim=1)
        nearest = torch.full_like(radii[first:last], math.inf).scatter_reduce_(0, block_of, distance, "amin")
        member = torch.where(distance == nearest[block_of], torch.arange(lo, hi, device=patches.device), hi)
        centres[first:last] = mean
        radii[first:last] = torch.zeros_like(nearest).scatter_reduce_(0, block_of, distance, "amax")
        rep[first:last] = torch.full_like(rep[first:last], hi).scatter_reduce_(0, block_of, member, "amin")
    largest = max(starts[min(i + per_pass, count)] - starts[i] for i in range(0, count, per_pass))
    _in_pieces(_with_scratch(blocks, largest, dim, patches), count, workers, per_pass)
    info = torch.finfo(patches.dtype)
    slack = 1 + 2 * (dim + 4) * info.eps
    return centres.double(), (radii.double() ** 2 * slack + dim * info.tiny).sqrt(), rep


def _banks(train, k, boundary):
    """Prepared patch banks of (train, k, boundary), one per position class; cached."""
    key = (id(train), train._version, train.data_ptr(), tuple(train.shape), train.dtype,
           train.device, k, boundary)
    if key in _BANKS:
        _BANKS.move_to_end(key)
        return _BANKS[key][1]
    count, channels, height, width = train.shape
    _make_room(count * height * width * channels * k * k * train.element_size())
    strips = _strips(train, k, boundary)
    classes = ([list(range(height * width))] if boundary == "circular"
               else _position_classes(height, width, k))
    flat = train.reshape(count, channels, height * width).transpose(1, 2).reshape(-1, channels)
    image_start = torch.arange(count, device=train.device)[:, None] * (height * width)

    def bank(positions, workers):
        pos = torch.tensor(positions, dtype=torch.int64, device=train.device)
        source = (image_start + pos).reshape(-1)
        return _Bank(pos, _PatchRows(strips, pos, width), torch.index_select(flat, 0, source), source, workers)

    # many small sorts and scatters: a thread pool under them mostly waits, worst on a busy
    # machine. So each position class is prepared on one thread; a single class (circular)
    # shares its row-wise steps out in fixed pieces instead.
    each = torch.get_num_threads() if len(classes) == 1 and train.device.type == "cpu" else 1
    banks = _map_single_threaded(lambda positions: bank(positions, each), classes, train.device)
    _BANKS[key] = (train, banks, _bank_bytes(banks))  # holding train keeps its id from being reused
    while len(_BANKS) > BANK_CACHE_SIZE:
        _BANKS.popitem(last=False)
    return banks


def _bank_bytes(banks):
    return sum(t.numel() * t.element_size() for bank in banks for t in vars(bank).values()
               if isinstance(t, torch.Tensor))


def _make_room(needed):
    """Drop the least recently used banks until ``needed`` more bytes fit in BANK_CACHE_BYTES."""
    while _BANKS and sum(entry[2] for entry in _BANKS.values()) + needed > BANK_CACHE_BYTES:
        _BANKS.popitem(last=False)


def clear_cache():
    """Drop every prepared patch bank (frees their memory)."""
    _BANKS.clear()


def kernel_counters(reset=True):
    """Work of the banked ELS kernel since the last reset: dict(pairs, computed).

    ``pairs``: (query window, training patch) pairs a brute-force machine would score;
    ``computed``: those the kernel scored; the rest were skipped by the logit bound.
    """
    counts = dict(_COUNTERS)
    if reset:
        _COUNTERS.update(pairs=0, computed=0)
    return counts


class _Rows:
    """The query rows of one bank: rows_t (D + 2, R) augmented for the GEMM (tiles add a shift row), and what the bound needs."""

    def __init__(self, queries, bank, lin, sq, log_count, a, b):
        count = len(bank.positions)
        q = queries[:, bank.positions].reshape(-1, queries.shape[2])  # (R, D), image-major
        lin, sq = lin.repeat_interleave(count), sq.repeat_interleave(count)
        self.bank, self.count = bank, count
        self.order = torch.arange(q.shape[0], device=q.device)  # row i of the tiles is query row order[i]
        if a is not None:
            a, b = a.repeat_interleave(count), b.repeat_interleave(count)
            q64 = q.double()
            q_sq = (q64 * q64).sum(dim=1)
            # float64 rows whose product with a bank's augmented columns is, in one GEMM,
            # |q - a c|^2 against block centres and the exact logit against block members
            self.distance_rows = torch.cat([q64 * (-2 * a)[:, None], q_sq[:, None], (a * a)[:, None]], 1)
            self.logit_rows = torch.cat([q64 * (a / b)[:, None], -(a * a / (2 * b))[:, None],
                                         torch.ones_like(a)[:, None]], 1)
            self.a, self.curvature, self.offset = a, -1 / (2 * b), q_sq / (2 * b)
            # rows that expect the same blocks share tiles, so that a tile can skip what none of them needs
            home = torch.cat([self.upper_bound(s, s + ROW_TILE).argmax(dim=1)
                              for s in range(0, q.shape[0], ROW_TILE)])
            self.order = torch.argsort(home, stable=True)
            q, lin, sq = q[self.order], lin[self.order], sq[self.order]
            for name in ("distance_rows", "logit_rows", "a", "curvature", "offset"):
                setattr(self, name, torch.index_select(getattr(self, name), 0, self.order))
            self.floor = torch.mm(self.logit_rows, bank.reps_t).amax(dim=1)
        self.rows_t = torch.cat([q * lin[:, None].to(q.dtype), -sq[:, None].to(q.dtype),
                                 torch.full_like(q[:, :1], log_count)], dim=1).T.contiguous()

    def upper_bound(self, start, stop, shift=None):
        """(M, nb) float64 upper bound on the logit (minus ``shift`` (M,)) of every patch of each block for rows start .. stop.

        A member p of a block with centre c and radius r has |q - a p| >= gap = max(0, |q - a c| - a r),
        so its logit (|q|^2 - |q - a p|^2) / (2 b) + log count is at most (|q|^2 - gap^2) / (2 b) + the block's top log count.
        """
        bank, rows = self.bank, slice(start, stop)
        gap = torch.mm(self.distance_rows[rows], bank.centres_t).clamp_(min=0).sqrt_()
        gap.addr_(self.a[rows], bank.radii, alpha=-1).clamp_(min=0)
        offset = self.offset[rows] if shift is None else self.offset[rows] - shift
        return gap.square_().mul_(self.curvature[rows, None]).add_(offset[:, None]).add_(bank.top_log_count)


def _skip_threshold(total_patches, dtype):
    """Nats below the running max beyond which a patch's weight is dropped.

    Every skipped patch weighs at most exp(-threshold) relative to the largest term (1),
    so all of them together weigh below eps / 2 of the sum: under its rounding.
    """
    return math.log(total_patches) - math.log(torch.finfo(dtype).eps / 2) + ROUNDING_SLACK


def _els_banked(queries, banks, b, chunk_size, average, track_source, group=None):
    """queries (B, HW, D) -> (B, HW, C) ELS average (or None), (B, HW) flat source index (or None).

    ``average=False`` gives the nearest-patch argmax: b is ignored, logit = q.p - |p|^2 / 2.
    With a torch.distributed ``group`` each rank holds a slice of the training patches;
    partial maxima and sums are combined exactly by all-reduce (average only).
    """
    batch, hw, dim = queries.shape
    channels = banks[0].values_t.shape[0] - 1
    if average:  # logits in bits, log counts too
        a = torch.sqrt(1 - b)
        lin, sq = _coefficients(b, 1)
        jobs = [_Rows(queries, bank, lin, sq, LOG2E, a, b) for bank in banks]
    else:  # duplicates do not change which patch is nearest
        one = torch.ones_like(b)
        jobs = [_Rows(queries, bank, one, one / 2, 0.0, None, None) for bank in banks]
    total = sum(bank.patches.shape[0] for bank in banks)
    if group is not None:
        total = _all_reduce_sum(torch.tensor([float(total)], device=queries.device), group).item()
        # every rank orders rows by its own blocks: exchange them in query order
        floors = _all_reduce_max(torch.cat([_unpermute(job.floor, job.order) for job in jobs]), group)
        for job, floor in zip(jobs, floors.split([job.floor.shape[0] for job in jobs])):
            job.floor = floor[job.order]
    threshold = _skip_threshold(total, queries.dtype) if average else None
    tiles = [(job, start, min(start + ROW_TILE, job.rows_t.shape[1]))
             for job in jobs for start in range(0, job.rows_t.shape[1], ROW_TILE)]
    done = _map_single_threaded(lambda tile: _tile(*tile, chunk_size, average, track_source, threshold),
                                tiles, queries.device)
    out = queries.new_empty(batch, hw, channels) if average else None
    source = torch.empty(batch, hw, dtype=torch.int64, device=queries.device) if track_source else None
    for job in jobs:
        parts = [result for tile, result in zip(tiles, done) if tile[0] is job]
        _COUNTERS["pairs"] += job.order.shape[0] * job.bank.patches.shape[0]
        _COUNTERS["computed"] += sum(p[3] for p in parts)
        index = job.order
        image, position = index // job.count, job.bank.positions[index % job.count]
        if average:
            acc = torch.cat([p[1] for p in parts], dim=1)
            if group is not None:
                best = torch.cat([p[0] for p in parts])
                acc = _combine(_unpermute(best, index), _unpermute(acc.T, index), group)[index].T
            out[image, position] = (acc[:channels] / acc[channels:]).T.to(out.dtype)
        if track_source:
            source[image, position] = torch.cat([p[2] for p in parts])
    return out, source


def _unpermute(values, order):
    """Rows given in tile order (row i is query row order[i]) -> rows in query order."""
    out = torch.empty_like(values)
    out[order] = values
    return out


def _map_single_threaded(fn, items, device):
    """[fn(item) for item in items]; on CPU one single-threaded worker per torch thread, items taken from a queue.

    Independent items (row tiles, position classes) need no barrier between small ops, so
    a core that another program slows down stalls only its own item; and each item's
    arithmetic is the same whatever the number of threads, so results do not depend on it.
    """
    if device.type != "cpu":
        return [fn(item) for item in items]
    with _single_threaded_torch() as threads:
        return _pool_map(fn, items, threads)


@contextmanager
def _single_threaded_torch():
    """Torch ops run on one thread inside; yields the thread count they had before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def _pool_map(fn, items, workers):
    """[fn(item) for item in items] on up to ``workers`` threads, items taken from a queue."""
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _in_pieces(fn, count, workers, step=PIECE_ROWS):
    """fn(lo, hi) for the fixed pieces lo .. hi = lo + step of range(count), on up to ``workers`` threads.

    Torch must already run single-threaded (``_single_threaded_torch``) when workers > 1.
    """
    _pool_map(lambda lo: fn(lo, min(lo + step, count)), range(0, count, step), workers)


def _with_scratch(fn, rows, cols, like):
    """fn(lo, hi, buffer) -> fn(lo, hi) with one (rows, cols) buffer of like's dtype per thread, reused.

    A fresh large allocation costs its page faults again every time (about 2 us per 4 KiB
    page on the VM of benchmarks/RESULTS.md), more than one pass of arithmetic over it.
    """
    local = threading.local()

    def run(lo, hi):
        if not hasattr(local, "buffer"):
            local.buffer = like.new_empty(rows, cols)
        return fn(lo, hi, local.buffer)
    return run


def _tile(job, start, stop, chunk_size, average, track_source, threshold):
    """Log-sum-exp of rows start .. stop over the bank's needed blocks.

    Returns best (M,) float64 in nats, acc (C + 1, M) float64 [weighted sum; sum] relative
    to exp(best) (or None), source (M,) (or None) and the number of (row, patch) pairs scored.
    The GEMM's logits are in bits when averaging (``_els_banked``); bounds and the returned
    best are in nats.
    """
    bank, every = job.bank, range(len(job.bank.starts) - 1)
    # the GEMM subtracts a per-row shift (a known logit, or 0): its last row against the ones column
    if average:
        shift = (job.floor[start:stop] * LOG2E).to(job.rows_t.dtype)  # in bits, as the GEMM
        nats = 1 / LOG2E
    else:
        shift, nats = job.rows_t.new_zeros(stop - start), 1.0
    rows_t = torch.cat([job.rows_t[:, start:stop], -shift[None]])
    shift = shift.double() * nats  # the same shift in nats
    if threshold is None:
        state = _TileState(rows_t, bank, average, track_source, fixed=False)
        state.run(every, chunk_size)
        return state.best * nats + shift, state.acc, state.source, state.computed
    bound = job.upper_bound(start, stop, shift)  # bounds on the shifted logits
    # scale of the logits' terms: their float rounding widens the threshold
    top = bound.amax(dim=1)
    slack = 1e-5 * (top.abs() + job.floor[start:stop].abs())
    fixed = float((top + slack).max()) <= _fixed_shift_range(bank, chunk_size)
    state = _TileState(rows_t, bank, average, track_source, fixed)
    if fixed:  # no shifted logit can overflow: weigh by 2 ** (logit - shift) in bits, no running max
        state.run((bound >= -(threshold + slack)[:, None]).any(dim=0).nonzero().squeeze(1).tolist(),
                  chunk_size)
        return shift, state.acc, state.source, state.computed
    home = torch.unique(bound.argmax(dim=1))  # the likeliest block of each row, first
    state.run(home.tolist(), chunk_size)
    level = torch.maximum(state.best.double() * nats, torch.zeros_like(slack)) - threshold - slack
    needed = (bound >= level[:, None]).any(dim=0)
    needed[home] = False
    state.run(needed.nonzero().squeeze(1).tolist(), chunk_size)
    return state.best * nats + shift, state.acc, state.source, state.computed


def _fixed_shift_range(bank, chunk_size):
    """Nats a shifted logit may reach before exp(it) times a chunk of values could overflow float32."""
    return (math.log(torch.finfo(bank.patches.dtype).max) - math.log(chunk_size)
            - math.log(max(1.0, bank.value_scale)) - 2.0)


class _TileState:
    """Running max (or fixed shift), float64 sums and argmax of one row tile while blocks of the bank stream past.

    Logits in bits: weights are 2 ** (logit - max).
    """

    def __init__(self, rows_t, bank, average, track_source, fixed):
        self.rows_t, self.bank, self.average, self.track_source = rows_t, bank, average, track_source
        self.fixed = fixed
        m = rows_t.shape[1]
        self.best = rows_t.new_full((m,), -math.inf)
        # float32 GEMMs sum along their inner axis one term after another (error ~ length * eps):
        # keep chunks short and add their partial sums in float64
        self.acc = rows_t.new_zeros(bank.values_t.shape[0], m, dtype=torch.float64) if average else None
        self.partial = rows_t.new_empty(bank.values_t.shape[0], m) if average else None
        self.source = torch.zeros(m, dtype=torch.int64, device=rows_t.device) if track_source else None
        self.buffer = rows_t.new_empty(0)
        self.computed = 0

    def run(self, blocks, chunk_size):
        """Stream the given blocks (ascending indices) in GEMMs of <= chunk_size patches.

        Runs of consecutive blocks are contiguous rows of the bank: sliced, never copied.
        """
        starts = self.bank.starts
        for first, last in _runs(blocks):
            for lo in range(starts[first], starts[last + 1], chunk_size):
                self.chunk(lo, min(lo + chunk_size, starts[last + 1]))

    def chunk(self, lo, hi):
        """One GEMM block: the bank's rows lo .. hi."""
        bank = self.bank
        size = (hi - lo) * self.rows_t.shape[1]
        if self.buffer.numel() < size:
            self.buffer = self.rows_t.new_empty(size)
        logits = torch.mm(bank.patches[lo:hi], self.rows_t, out=self.buffer[:size].view(hi - lo, -1))  # (n, M)
        self.computed += size
        if self.fixed:
            _exp2_below_zero_(logits)
            self.acc.add_(torch.mm(bank.values_t[:, lo:hi], logits, out=self.partial))
            return
        if self.track_source:
            chunk_best, chunk_arg = logits.max(dim=0)
            found = bank.source[lo:hi][chunk_arg]
            # on ties the lower image and position wins, whatever order the blocks come in
            better = (chunk_best > self.best) | ((chunk_best == self.best) & (found < self.source))
            self.source = torch.where(better, found, self.source)
        else:
            chunk_best = logits.amax(dim=0)
        new_best = torch.maximum(self.best, chunk_best)
        if self.average:
            self.acc.mul_(torch.exp2(self.best - new_best).to(self.acc.dtype))
            _exp2_below_zero_(logits.sub_(new_best))
            self.acc.add_(torch.mm(bank.values_t[:, lo:hi], logits, out=self.partial))
        self.best = new_best


def _runs(blocks):
    """Ascending block indices -> (first, last) of each run of consecutive ones."""
    runs = []
    for block in blocks:
        if runs and runs[-1][1] == block - 1:
            runs[-1][1] = block
        else:
            runs.append([block, block])
    return runs


def _combine(best, acc, group):
    """Partial (R,) maxima and (R, C + 1) sums of each rank -> the sums of all ranks relative to the global max."""
    top = _all_reduce_max(best.clone(), group)
    return _all_reduce_sum(acc * torch.exp(best - top).to(acc.dtype)[:, None], group)


def _all_reduce_max(tensor, group):
    import torch.distributed as dist
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=group)
    return tensor


def _all_reduce_sum(tensor, group):
    import torch.distributed as dist
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    return tensor

def _els(x, train, b, k, boundary, chunk_size, average, track_source):
    """Streaming ELS without prepared banks: (B, HW, C) average (or None), (B, HW) flat source (or None)."""
    batch, channels, height, width = x.shape
    queries = _windows(x, k, boundary)  # (B, HW, Ckk)
    if average:
        lin_b, sq_b = (c.to(x.dtype) for c in _coefficients(b, 1))
    else:
        lin_b = torch.ones(batch, dtype=x.dtype, device=x.device)
        sq_b = torch.full((batch,), 0.5, dtype=x.dtype, device=x.device)
    if boundary == "circular":
        classes = [list(range(height * width))]
    else:
        classes = _position_classes(height, width, k)
    out = torch.empty(batch, height * width, channels, dtype=x.dtype, device=x.device)
    source = torch.empty(batch, height * width, dtype=torch.int64, device=x.device)
    for positions in classes:
        pos = torch.tensor(positions, dtype=torch.int64, device=x.device)
        count = len(positions)
        q = queries[:, pos].reshape(1, batch * count, -1)
        lin, sq = lin_b.repeat_interleave(count), sq_b.repeat_interleave(count)
        acc = _Accumulator(1, batch * count, channels, x, track_source)
        for start in range(0, train.shape[0], chunk_size):
            chunk = train[start:start + chunk_size]
            patches = _windows(chunk, k, boundary)[:, pos].reshape(1, -1, q.shape[2])
            centres = chunk.reshape(chunk.shape[0], channels, -1)[:, :, pos]
            centres = centres.transpose(1, 2).reshape(1, -1, channels)
            acc.add(_logits(q, patches, lin, sq), centres, start * count)
        if average:
            out[:, pos] = acc.mean().reshape(batch, count, channels)
        if track_source:
            index = acc.source.reshape(batch, count)
            source[:, pos] = (index // count) * (height * width) + pos[index % count]
    return (out if average else None), (source if track_source else None)


def _source_dict(source, shape):
    """(B, H*W) flat index image * H * W + position -> dict(image, row, col) of (B, H, W) tensors."""
    batch, _, height, width = shape
    image, flat = source // (height * width), source % (height * width)
    return {"image": image.reshape(batch, height, width),
            "row": (flat // width).reshape(batch, height, width),
            "col": (flat % width).reshape(batch, height, width)}


class PatchSchedule:
    """Patch size as a function of the noise level: the k of the calibrated level nearest in log-SNR.

    ``noise_vars`` (S,) and ``ks`` (S,) pair each calibrated noise variance with its k;
    calling the schedule with a noise variance (float, or a (B,) tensor of one value)
    returns an int k, so any sampler, at any number of steps, can drive the machine.
    """

    def __init__(self, noise_vars, ks):
        levels = torch.as_tensor(noise_vars, dtype=torch.float64).flatten()
        ks = [_check_k(k) for k in ks]
        if len(ks) != len(levels) or not ks:
            raise ValueError(f"a patch schedule pairs each noise level with one k: got "
                             f"{len(levels)} noise levels and {len(ks)} patch sizes")
        if bool(((levels <= 0) | (levels > 1)).any()):
            raise ValueError("calibrated noise variances must lie in (0, 1]")
        self.noise_vars, self.ks = levels, ks

    @classmethod
    def from_steps(cls, ks):
        """A schedule from a per-step list: ``ks[i - 1]`` drives the DDIM update that starts
        at t = i / len(ks) on the cosine schedule (the calibration files' layout)."""
        from .diffusion import sampling_noise_vars
        return cls(sampling_noise_vars(len(ks))[1:], ks)

    def __call__(self, noise_var):
        b = torch.as_tensor(noise_var, dtype=torch.float64).flatten()
        if b.numel() == 0 or bool((b != b[0]).any()):
            raise ValueError("a patch-size schedule needs one noise level per call; "
                             "sample a batch at a common noise level")
        log_snr = lambda v: torch.log1p(-v.clamp(max=1 - 1e-12)) - torch.log(v)  # noqa: E731
        return self.ks[int((log_snr(self.noise_vars) - log_snr(b[0])).abs().argmin())]

    def __repr__(self):
        return f"PatchSchedule(ks={self.ks})"


def patch_size_at(k, noise_var):
    """The patch size a machine uses at ``noise_var``: ``k`` itself, or ``k(noise_var)`` for a schedule."""
    return k(noise_var) if callable(k) else _check_k(k)


def machine(name, train, k=None, boundary="circular", **options):
    """The denoiser ``(x, noise_var) -> E[x0 | x]`` of machine "ideal", "local" or "els".

    ``k``: the patch size of "local" / "els", an odd int or a schedule mapping the noise
    level to k (``PatchSchedule``); "ideal" takes none. ``options`` go to the machine's
    function (chunk_size, cache).
    """
    if name == "ideal":
        if k is not None:
            raise ValueError("the ideal machine has no patch size; drop k")
        return lambda x, noise_var: ideal_denoise(x, train, noise_var, **options)
    if name not in ("local", "els"):
        raise ValueError(f"unknown machine {name!r}; choose 'ideal', 'local' or 'els'")
    if k is None:
        raise ValueError(f"the {name} machine needs a patch size: k=3, or a PatchSchedule")
    if not callable(k):
        _check_k(k)
    _check_boundary(boundary)
    denoise = local_denoise if name == "local" else els_denoise
    return lambda x, noise_var: denoise(x, train, noise_var, patch_size_at(k, noise_var),
                                        boundary, **options)
