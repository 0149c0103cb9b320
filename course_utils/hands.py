"""Procedural hands with a known finger count, and a classical finger counter.

``make_hands(n, fingers, seed, size)`` draws hands: an elliptic palm on a wrist with a
fan of 3..7 fingers that vary in length, width, angle and spacing, rotated a little and
jittered in position. Hand ``i`` of a seed depends only on ``(seed, i)``: the first
``m`` hands of ``make_hands(n)`` are ``make_hands(m)``.

``count_fingers(images)`` counts them back with classical image analysis (below), and
returns -1 for images that are not hand-like. ``hand_dataset(split)`` is the course's
fixed set of five-finger hands (``course_utils.data.load_dataset("hands")``).

``python -m course_utils.hands sample --out FILE`` precomputes the samples lesson 08
loads (IS, LS, ELS at several patch sizes, a CNN); the command and its file format live
in ``course_utils.hand_samples``.
"""
import math
import sys
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F


FINGER_RANGE = (3, 7)
MAX_FINGERS = FINGER_RANGE[1]
NOT_A_HAND = -1

# The fixed course dataset: 24 x 24 keeps the ELS machine affordable (its cost grows as
# N (H W)^2 k^2), yet a finger is still ~2 pixels wide and countable.
DATASET_SIZE = 24
DATASET_SEEDS = {"train": 0, "test": 1}
DATASET_COUNTS = {"train": 128, "test": 64}

# Geometry is drawn in "hand units": pixels of a 32 x 32 image, scaled to ``size``.
_COLUMNS = 11 + 3 * MAX_FINGERS
_RENDER_CHUNK = 512


def _fingers_table(fingers):
    """An int or a sequence of ints in 3..7 -> (K,) int64 tensor of the counts to draw from."""
    try:
        values = [fingers] if isinstance(fingers, Integral) else list(fingers)
    except TypeError:
        values = [fingers]
    if not values or not all(isinstance(f, Integral) and not isinstance(f, bool) for f in values):
        raise ValueError(f"fingers must be an int or a non-empty sequence of ints, not {fingers!r}")
    bad = [int(f) for f in values if not FINGER_RANGE[0] <= f <= FINGER_RANGE[1]]
    if bad:
        raise ValueError(f"finger counts {bad} are out of range; use counts from "
                         f"{FINGER_RANGE[0]} to {FINGER_RANGE[1]}")
    return torch.tensor([int(f) for f in values], dtype=torch.int64)


def _hand_parameters(u, table):
    """(n, _COLUMNS) uniforms -> dict of per-hand shape parameters in hand units."""
    u = torch.as_tensor(u, dtype=torch.float64)
    count = table[(u[:, 0] * len(table)).long().clamp(max=len(table) - 1)]
    k = torch.arange(MAX_FINGERS, dtype=torch.float64)
    centre = (count.double()[:, None] - 1) / 2
    # Middle fingers are longest, as on a real hand.
    profile = 1 - 0.3 * ((k - centre) / centre.clamp(min=1)) ** 2
    spacing = 0.42 + 0.1 * u[:, 6:7]
    finger = slice(11, 11 + MAX_FINGERS)
    angle_jitter = slice(11 + MAX_FINGERS, 11 + 2 * MAX_FINGERS)
    width_jitter = slice(11 + 2 * MAX_FINGERS, 11 + 3 * MAX_FINGERS)
    return {
        "count": count,
        "rotation": (u[:, 1] - 0.5) * 2 * 0.26,
        "shift": (u[:, 2:4] - 0.5) * 2 * 1.5,
        "palm": torch.stack([6.2 + 1.4 * u[:, 4], 5.6 + 1.3 * u[:, 5]], dim=1),
        "angle": (k - centre) * spacing + (u[:, 7:8] - 0.5) * 0.2
                 + (u[:, angle_jitter] - 0.5) * 0.1,
        "wrist": 3.4 + 1.0 * u[:, 8],
        "length": (6.0 + 2.5 * u[:, 9:10]) * profile * (0.85 + 0.3 * u[:, finger]),
        "radius": (1.05 + 0.3 * u[:, 10:11]) * (0.9 + 0.2 * u[:, width_jitter]),
        "present": k[None, :] < count[:, None],
    }


def _segment_distance(px, py, ax, ay, bx, by):
    """Points (n, 1, S, S), segments (n, K, 1, 1) -> (n, K, S, S) distance to each segment."""
    dx, dy = bx - ax, by - ay
    t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    return torch.hypot(px - ax - t * dx, py - ay - t * dy)


def _render(p, size):
    """Shape parameters of n hands -> (n, 1, size, size) float32 images in [-1, 1]."""
    scale = size / 32
    n = len(p["count"])
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / scale  # pixel centres, hand units
    gx, gy = coords[None, None, None, :], coords[None, None, :, None]
    cx = 16 + p["shift"][:, 0].view(n, 1, 1, 1)
    cy = 21.5 + p["shift"][:, 1].view(n, 1, 1, 1)
    cos, sin = (torch.cos(p["rotation"]).view(n, 1, 1, 1),
                torch.sin(p["rotation"]).view(n, 1, 1, 1))
    # Pixel positions in the hand's own frame: palm at the origin, fingers up (-y).
    lx = cos * (gx - cx) + sin * (gy - cy)
    ly = -sin * (gx - cx) + cos * (gy - cy)
    rx, ry = p["palm"][:, 0].view(n, 1, 1, 1), p["palm"][:, 1].view(n, 1, 1, 1)
    palm = (torch.hypot(lx / rx, ly / ry) - 1) * torch.minimum(rx, ry)
    zero = torch.zeros(n, 1, 1, 1, dtype=torch.float64)
    wrist = _segment_distance(lx, ly, zero, zero, zero, zero + 40) - p["wrist"].view(n, 1, 1, 1)
    theta = p["angle"][:, :, None, None]
    dir_x, dir_y = torch.sin(theta), -torch.cos(theta)
    # Where the finger's axis leaves the palm ellipse.
    edge = 1 / torch.hypot(dir_x / rx, dir_y / ry)
    start, end = 0.5 * edge, edge + p["length"][:, :, None, None]
    fingers = (_segment_distance(lx, ly, start * dir_x, start * dir_y, end * dir_x, end * dir_y)
               - p["radius"][:, :, None, None])
    fingers = fingers.masked_fill(~p["present"][:, :, None, None], math.inf)
    sdf = torch.cat([palm, wrist, fingers], dim=1).amin(dim=1, keepdim=True) * scale
    # One pixel of anti-aliasing: coverage of the pixel by the shape.
    return (2 * (0.5 - sdf).clamp(0, 1) - 1).float()


def make_hands(n, fingers=5, seed=0, size=32):
    """-> (n, 1, size, size) float32 hands in [-1, 1] and their (n,) int64 finger counts.

    fingers: an int in 3..7, or a sequence of counts to draw from uniformly.
    """
    if not isinstance(n, Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    if not isinstance(size, Integral) or size < 16:
        raise ValueError(f"size must be an integer >= 16 (fingers need ~2 pixels), not {size!r}")
    if not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    table = _fingers_table(fingers)
    # numpy fills row by row, so hand i depends only on (seed, i), not on n.
    u = torch.from_numpy(np.random.default_rng(int(seed)).random((int(n), _COLUMNS)))
    p = _hand_parameters(u, table)
    images = torch.empty(int(n), 1, int(size), int(size))
    for lo in range(0, int(n), _RENDER_CHUNK):
        part = {key: value[lo:lo + _RENDER_CHUNK] for key, value in p.items()}
        images[lo:lo + _RENDER_CHUNK] = _render(part, int(size))
    return images, p["count"].clone()


def hand_dataset(split="train"):
    """The course's five-finger hands: (N, 1, 24, 24) float32 in [-1, 1], (N,) int64 counts.

    split: "train" (128 hands, seed 0) or "test" (64 held-out hands, seed 1).
    """
    if split not in DATASET_SEEDS:
        raise ValueError(f"split must be one of {', '.join(map(repr, DATASET_SEEDS))}, not {split!r}")
    return make_hands(DATASET_COUNTS[split], fingers=5, seed=DATASET_SEEDS[split],
                      size=DATASET_SIZE)


# Finger counting, in hand units (pixels of a 32 x 32 image) on a 2x upsampled mask.
_UPSAMPLE = 2
_OPEN_RADIUS = 2.2      # wider than any finger (radius <= 1.6), narrower than palm and wrist
_CUT_RADIUS = 1.0       # fingers start this far outside the palm
_MIN_FINGER_AREA = 2.0  # in square hand units: smaller leftovers are ragged palm edge
_PALM_RADIUS = 5.0      # a palm holds disks this big (the drawn ones: >= 5.6)
_PALM_SHARE = 0.6       # ... and they cover most of it (hands: >= 0.67; digit strokes: less)
_SMALL_HAND_FINGERS = 3  # a palm too small for those disks still makes a hand with this many
_MAX_STRAY = 0.1        # fingers, when at most this share of the ink lies away from the hand
                        # (machines draw small hands; clutter and digit strokes fail)
_MAX_HOLE_AREA = 2.0    # a hand has no holes; an 8, a 6, a 0 do
_MAX_FOREGROUND = 0.55  # a hand covers well under half the image
_FINGER_THRESHOLD = -0.4  # fingers are cut at a lower grey level than the palm: faint ones count
_HAND_THRESHOLD = -0.2    # ... but a hand is seen only by its fingers above this grey level:
                          # the blurred edges of digit strokes do not make one
_VALLEY_DEPTH = 0.2     # a pixel this much darker than the mean of two opposite neighbours
                        # one source pixel away is a gap between fingers, even when grey
_MAX_BREAK = 2.0        # a finger cut across by a gap up to this wide (1.5 pixels at 24 x 24)
                        # still counts, once
_FORK_LENGTH = 3.0      # fused fingers part at least this far from their tips (drawn fingers reach >= 3.6)
_CORE_RADIUS = 3.5      # a drawn palm bends no tighter than radius 5.6**2 / 7.6 = 4.1, so it
                        # survives this opening; a finger up to 7 wide does not
_FAT_CUT = 0.5          # a finger too wide for the first opening starts this far out of the core
_FAT_REACH = 3.0        # ... and reaches this far (drawn fingers: >= 3.6 beyond the palm's edge);
                        # the fillets between finger roots do not


def _disk(radius):
    """-> (1, 1, 2r+1, 2r+1) float32 kernel of the pixels within ``radius`` of the centre."""
    r = math.floor(radius)
    offsets = torch.arange(-r, r + 1, dtype=torch.float32)
    return ((offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius ** 2).float()[None, None]


def _hits(mask, radius):
    """(B, 1, H, W) bool -> (B, 1, H, W) number of set pixels within ``radius`` of each pixel.

    Pixels outside the image repeat the border: a wrist that leaves the image is not
    cut off by the frame.
    """
    kernel = _disk(radius)
    pad = kernel.shape[-1] // 2
    padded = F.pad(mask.float(), (pad, pad, pad, pad), mode="replicate")
    return F.conv2d(padded, kernel).round()


def _erode(mask, radius):
    return _hits(mask, radius) == _disk(radius).sum()


def _dilate(mask, radius):
    return _hits(mask, radius) > 0


def _valleys(big, gap):
    """(B, 1, H, W) grey image -> (B, 1, H, W) bool: pixels darker than both neighbours ``gap``
    pixels away along a row, column or diagonal, by more than ``_VALLEY_DEPTH`` on average.

    Blurred or network-drawn fingers touch through grey gaps that a threshold fills in;
    the gap is still a valley across the two fingers.
    """
    h, w = big.shape[-2:]
    padded = F.pad(big, (gap,) * 4, mode="replicate")

    def shifted(dy, dx):
        return padded[..., gap + dy:gap + dy + h, gap + dx:gap + dx + w]

    valley = torch.zeros_like(big, dtype=torch.bool)
    for dy, dx in ((0, gap), (gap, 0), (gap, gap), (gap, -gap)):
        valley |= big < (shifted(dy, dx) + shifted(-dy, -dx)) / 2 - _VALLEY_DEPTH
    return valley


def label_components(mask, connectivity=8, wrap=False):
    """(..., H, W) bool -> (..., H, W) int64 labels of connected components, 0 = background.

    ``connectivity`` 4 joins edge neighbours, 8 also corner neighbours; ``wrap=True``
    joins opposite edges (a torus, as the Turing simulations). Each component carries
    the largest flat index (plus one) of its pixels. Labels spread to the neighbours'
    maximum; pointer jumping (a pixel takes the label of the pixel its label names) makes
    long components converge in a few rounds, not one per pixel.
    """
    if mask.ndim < 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (..., H, W); got {mask.dtype} "
                         f"of shape {tuple(mask.shape)}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, not {connectivity!r}")
    *batch, h, w = mask.shape
    on = mask.reshape(-1, h, w)
    # int32 halves the memory traffic of int64; flat indices stay far below 2**31 here
    index = torch.arange(1, h * w + 1, dtype=torch.int32, device=mask.device).reshape(1, h, w)
    labels = torch.where(on, index, 0)
    while True:
        p = F.pad(labels[:, None], (1, 1, 1, 1), mode="circular" if wrap else "constant")[:, 0]
        if connectivity == 8:  # the 3 x 3 maximum, one axis after the other
            across = torch.maximum(torch.maximum(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])
            spread = torch.maximum(torch.maximum(across[:, :-2], across[:, 1:-1]), across[:, 2:])
        else:
            spread = torch.maximum(torch.maximum(p[:, :-2, 1:-1], p[:, 2:, 1:-1]),
                                   torch.maximum(p[:, 1:-1, :-2], p[:, 1:-1, 2:]))
            spread = torch.maximum(spread, labels)
        spread = torch.where(on, spread, 0)
        # labels only grow and always name a pixel of the same component
        jumped = torch.gather(spread.flatten(1), 1, (spread.flatten(1).long() - 1).clamp(min=0))
        spread = torch.where(on, torch.maximum(spread, jumped.view_as(spread)), 0)
        if torch.equal(spread, labels):
            return labels.long().reshape(*batch, h, w)
        labels = spread


def _component_areas(labels):
    """(B, 1, H, W) labels -> (B, H*W + 1) pixel count of every label (index 0: background)."""
    flat = labels.flatten(1)
    areas = torch.zeros(flat.shape[0], flat.shape[1] + 1, dtype=torch.int64)
    return areas.scatter_add_(1, flat, torch.ones_like(flat))


def _reached(labels, where):
    """(B, 1, H, W) labels and bool mask -> (B, H*W + 1) bool: labels with a pixel in ``where``."""
    reached = torch.zeros(labels.shape[0], labels[0].numel() + 1, dtype=torch.bool)
    reached.scatter_(1, (labels * where).flatten(1), True)
    reached[:, 0] = False
    return reached


def _keep(labels, chosen):
    """(B, 1, H, W) labels, (B, L + 1) bools -> the labels with the unchosen ones set to 0."""
    return labels * torch.gather(chosen, 1, labels.flatten(1)).view_as(labels)


def _border(mask):
    """(B, 1, H, W) -> (B, 1, H, W) bool: the image's outermost pixels."""
    border = torch.zeros_like(mask, dtype=torch.bool)
    border[..., 0, :] = border[..., -1, :] = border[..., :, 0] = border[..., :, -1] = True
    return border


def _bottom_edge(mask):
    """(B, 1, H, W) -> (B, 1, H, W) bool: the image's bottom row, where the wrist leaves it."""
    edge = torch.zeros_like(mask, dtype=torch.bool)
    edge[..., -1, :] = True
    return edge


def _holes(mask):
    """(B, 1, H, W) bool -> (B, 1, H, W) bool: background pixels enclosed by the mask."""
    labels = label_components(~mask)
    return _keep(labels, ~_reached(labels, _border(mask))) > 0


def _broken_fingers(stub_ink, finger_labels, fingers, candidates, unit):
    """Ink at the palm's rim, finger-piece labels, counted finger labels, (B, H*W + 1)
    finger-sized uncounted pieces -> (B,) fingers cut across.

    A finger broken by a gap near its root leaves a stub at the palm, too short to count,
    and a piece that touches nothing. The piece counts when it is finger-sized, lies within
    ``_MAX_BREAK`` of a stub and farther than that from every counted finger (else it is
    the tip of a counted finger broken further out).
    """
    stub = stub_ink & ~(fingers > 0)
    near_stub = _reached(finger_labels, _dilate(stub, _MAX_BREAK * unit))
    near_finger = _reached(finger_labels, _dilate(fingers > 0, _MAX_BREAK * unit))
    pieces = candidates & near_stub & ~near_finger
    return pieces.sum(dim=1)


def _distance_to(mask):
    """(B, 1, H, W) bool -> (B, 1, H, W) float32 Euclidean distance in pixels to the nearest set pixel.

    Exact, in two passes of squared distances: down the columns, then along the rows.
    """
    h, w = mask.shape[-2:]
    far = float(h * h + w * w)
    squared = torch.where(mask, 0.0, far)
    for axis, n in ((-2, h), (-1, w)):
        offsets = torch.arange(n, dtype=torch.float32)
        step = (offsets[:, None] - offsets[None, :]) ** 2  # (out, in)
        squared = torch.stack([(squared + (step[i].view(-1, 1) if axis == -2 else step[i]))
                               .amin(dim=axis) for i in range(n)], dim=axis)
    return squared.sqrt()


def _forks(palm, fingers, unit):
    """Palm, counted finger labels -> (B,) fingers beyond the first of each forked piece.

    Two fused fingers make one piece that parts in two further out. Cut the piece at each
    distance t from the palm (every half unit from the margin out); its parts that reach
    ``_FORK_LENGTH`` beyond the cut are fingers. A piece holds as many fingers as the most
    such parts at any cut; a short bump on a finger's side is not long enough to count.
    """
    on = fingers > 0
    flat = fingers.flatten(1)
    most = torch.zeros(flat.shape[0], flat.shape[1] + 1, dtype=torch.int64)
    distance = _distance_to(palm) / unit
    t = _CUT_RADIUS
    while True:
        beyond = on & (distance > t)
        if not beyond.any():
            return (most - 1).clamp(min=0)[:, 1:].sum(dim=1)
        parts = label_components(beyond)
        long = _reached(parts, distance > t + _FORK_LENGTH)
        owner = torch.zeros_like(most).scatter_reduce_(1, parts.flatten(1), flat, "amax")
        fingers_here = torch.zeros_like(most).scatter_add_(1, owner, long.long())
        most = torch.maximum(most, fingers_here)
        t += 0.5


def _wide_fingers(palm, fingers, unit):
    """Palm, counted finger labels -> (B,) fingers too wide for the first opening, left in the palm.

    They are the parts of the palm outside its core (the palm opened by ``_CORE_RADIUS``)
    that reach ``_FAT_REACH`` beyond it, away from the image border (the wrist leaves the
    image) and from the fingers already counted (the thin tip of a wide finger).
    """
    core = _dilate(_erode(palm, _CORE_RADIUS * unit), _CORE_RADIUS * unit) & palm
    labels = label_components(palm & ~_dilate(core, _FAT_CUT * unit))
    wide = (_reached(labels, ~_dilate(core, _FAT_REACH * unit)) & ~_reached(labels, _border(palm))
            & ~_reached(labels, _dilate(fingers > 0, 1.5)))
    return wide.sum(dim=1)


def _finger_pieces(ink, palm, margin, near_palm, unit):
    """Ink, palm, its margin and rim -> labels of the ink outside the margin, and per label
    (B, L + 1) bools: big enough, the wrist (leaves the image at the bottom), a finger.
    """
    labels = label_components(ink & ~margin)
    areas = _component_areas(labels)
    areas[:, 0] = 0
    # A finger touches the palm's margin: grow it one pixel, see what it reaches.
    reach = F.max_pool2d(labels.float(), 3, stride=1, padding=1).long()
    rim = near_palm & ~labels.bool()
    # hands point up: a piece that leaves the image at the bottom is the wrist, cut thin
    wrist = _reached(labels, _bottom_edge(palm))
    sized = areas >= _MIN_FINGER_AREA * unit ** 2  # False for label 0 (area set to 0)
    return labels, sized, wrist, _reached(reach, rim) & sized & ~wrist


def count_fingers(images, return_parts=False):
    """(B, 1, H, W) images in [-1, 1] -> (B,) int64 finger counts, -1 where no hand is seen.

    Classical image analysis on the mask ``image > 0``, upsampled 2x so that a finger is
    several pixels wide (lengths below in pixels of a 32 x 32 image, scaled to H):
    1. palm = the largest connected part of the mask's opening by a disk of radius 2.2,
       wider than any finger: opening removes thin fingers, keeps palm and wrist;
    2. fingers = connected parts of the ink (``image > -0.4``, split along grey valleys
       between fingers) outside the palm grown by 1 pixel that touch that margin, cover
       at least 2 square pixels and do not reach the image's bottom row (the wrist, cut
       thin); a part that forks into branches reaching 3 pixels beyond the fork counts
       once per branch (fused fingers);
    3. broken fingers = finger-sized parts of the mask outside the margin that touch it
       nowhere but lie within 2 pixels of ink at the palm (a finger's stub) and farther
       than that from the fingers of step 2: a finger cut across near its root;
    4. wide fingers = parts of the palm outside its opening by a disk of radius 3.5 that
       reach 3 pixels beyond it, touching neither the image border (the wrist) nor a
       finger of step 2: a finger too wide for the first opening.
    Hand-like means: some foreground but at most 55 % of the image, no holes, at least
    one clear finger (step 2 with the ink cut at ``image > -0.2``, so the blurred edges of
    digit strokes do not count), and a palm that holds disks of radius 5 covering >= 60 %
    of it, or else (a small hand) three clear fingers or more with at most 10 % of the ink
    away from palm and clear fingers. Blank images, noise and most digits fail and get -1.
    ``return_parts`` also returns a dict of (B, 1, 2H, 2W) masks for plots: ``mask``,
    ``palm`` (bool) and ``fingers`` (one label per counted finger, 0 elsewhere).
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images have shape {tuple(images.shape)}; pass (B, 1, H, W) "
                         f"greyscale images (add the channel axis with x[:, None])")
    if images.shape[-1] < 16 or images.shape[-2] < 16:
        raise ValueError(f"images of {images.shape[-2]} x {images.shape[-1]} are too small "
                         f"to count fingers; use at least 16 x 16")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf; count only finished samples")
    h, w = images.shape[-2:]
    unit = _UPSAMPLE * min(h, w) / 32  # pixels of the upsampled mask per hand unit
    big = F.interpolate(images.detach().float().cpu(), scale_factor=_UPSAMPLE,
                        mode="bilinear", align_corners=False)
    mask = big > 0
    opened = _dilate(_erode(mask, _OPEN_RADIUS * unit), _OPEN_RADIUS * unit) & mask
    labels = label_components(opened)
    areas = _component_areas(labels)
    areas[:, 0] = 0
    biggest = areas.argmax(dim=1)
    palm = (labels == biggest.view(-1, 1, 1, 1)) & (biggest.view(-1, 1, 1, 1) > 0)

    margin = _dilate(palm, _CUT_RADIUS * unit)
    near_palm = _dilate(palm, _CUT_RADIUS * unit + 1.5)
    valleys = _valleys(big, _UPSAMPLE)
    ink = (big > _FINGER_THRESHOLD) & ~valleys
    finger_labels, sized, wrist, is_finger = _finger_pieces(ink, palm, margin, near_palm, unit)
    fingers = _keep(finger_labels, is_finger)
    count = (is_finger.sum(dim=1) + _forks(palm, fingers, unit)
             + _broken_fingers(ink & near_palm & ~palm, finger_labels, fingers,
                               sized & ~is_finger & ~wrist, unit)
             + _wide_fingers(palm, fingers, unit))

    clear_labels, _, _, is_clear_finger = _finger_pieces((big > _HAND_THRESHOLD) & ~valleys,
                                                         palm, margin, near_palm, unit)
    clear_fingers = is_clear_finger.sum(dim=1)

    foreground = mask.flatten(1).float().mean(dim=1)
    thick = _dilate(_erode(palm, _PALM_RADIUS * unit), _PALM_RADIUS * unit) & palm
    palm_share = thick.flatten(1).sum(dim=1) / palm.flatten(1).sum(dim=1).clamp(min=1)
    holes = _holes(mask).flatten(1).sum(dim=1) / unit ** 2
    hand = _dilate(palm | (_keep(clear_labels, is_clear_finger) > 0), unit)
    stray = (mask & ~hand).flatten(1).sum(dim=1) / mask.flatten(1).sum(dim=1).clamp(min=1)
    small_hand = (clear_fingers >= _SMALL_HAND_FINGERS) & (stray <= _MAX_STRAY)
    hand_like = ((foreground > 0) & (foreground <= _MAX_FOREGROUND) & (clear_fingers > 0)
                 & ((palm_share >= _PALM_SHARE) | small_hand) & (holes < _MAX_HOLE_AREA))
    count = torch.where(hand_like, count, torch.full_like(count, NOT_A_HAND))
    if not return_parts:
        return count
    return count, {"mask": mask, "palm": palm, "fingers": fingers}


if __name__ == "__main__":  # the documented command, python -m course_utils.hands sample
    from .hand_samples import main  # here, not above: hand_samples imports this module
    sys.exit(main())
