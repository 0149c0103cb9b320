"""Datasets that ship with the course (offline) and how lessons load them.

``digits()``: the UCI handwritten digits (1,797 images of 8x8, CC BY 4.0, the set
scikit-learn bundles), upsampled to 16x16, pixels in [-1, 1], with a fixed
train / held-out split. ``mnist5k()``: 5,000 real MNIST digits, 28x28 (module real_mnist).
"""
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F

from .real_mnist import mnist5k

DIGITS_FILE = "uci_digits_8x8.npz"
DIGITS_TRAIN = 1700  # the rest (97 images) are held out
SPLIT_SEED = 0


@lru_cache(maxsize=None)
def _digits_8x8():
    with resources.files(__package__).joinpath(DIGITS_FILE).open("rb") as handle:
        data = np.load(handle)
        images, labels = data["images"], data["labels"]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    return images[order], labels[order]


def digits(split="train", size=16, classes=None):
    """(N, 1, size, size) float32 digits in [-1, 1] and their (N,) int64 labels.

    split: "train" (1,700 images), "test" (97 held out) or "all"; classes: an
    optional iterable of digit labels to keep (class-conditional machines).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (the originals are 8x8), not {size!r}")
    images, labels = _digits_8x8()
    chosen = {"train": slice(0, DIGITS_TRAIN), "test": slice(DIGITS_TRAIN, None),
              "all": slice(None)}[split]
    x = torch.from_numpy(images[chosen].astype(np.float32) / 16.0)[:, None]
    y = torch.from_numpy(labels[chosen].astype(np.int64))
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x * 2 - 1).clamp(-1, 1)
    if classes is not None:
        keep = torch.isin(y, torch.as_tensor(list(classes), dtype=torch.int64))
        if not keep.any():
            raise ValueError(f"no digits with labels {list(classes)}; labels are 0..9")
        x, y = x[keep], y[keep]
    return x.contiguous(), y


def lesson_data(name="mnist5k", split="train"):
    """(N, C, 16, 16) images in [-1, 1] and (N,) labels at the lessons' scale (lessons 03-06).

    "mnist5k" (the default) is the shipped real MNIST (4,500 train / 500 held out);
    "digits" the small UCI set (1,700 / 97). The optional downloads ("mnist",
    "fashion_mnist", "cifar10") are resized to 16 x 16 and cut to the default's counts, so
    that a lesson switched to them by its ``DATASET`` variable keeps its cost.
    """
    if name == "digits":
        return digits(split)
    if name == "mnist5k":
        return mnist5k(split, 16)
    if name not in ("mnist", "fashion_mnist", "cifar10"):
        raise ValueError(f"DATASET must be 'mnist5k', 'digits', 'mnist', 'fashion_mnist' or "
                         f"'cifar10', not {name!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images, labels = DATASETS[name](split, size=16)
    count = len(mnist5k(split, 16)[1])
    return images[:count].contiguous(), labels[:count]


def _hands(split):
    from ..hands import hand_dataset
    return hand_dataset(split)


def _textures(split):
    from ..turing import texture_dataset
    return texture_dataset(split)


DATASETS = {
    "digits": lambda split: digits(split),
    "mnist5k": lambda split: mnist5k(split, 16),
    "mnist5k-32": lambda split: mnist5k(split, 32),
    "hands": _hands,
    "textures": _textures,
}


def load_dataset(name, split="train"):
    """(N, C, H, W) images in [-1, 1] and (N,) labels of a named course dataset.

    Names: "digits" (UCI digits, 16x16), "mnist5k" / "mnist5k-32" (the shipped 5,000
    real MNIST digits at 16x16 / 32x32, 4,500 train), "hands" (procedural five-finger hands,
    labels = finger counts), "textures" (Gray-Scott patterns from lesson 01).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](split)


# Optional full-size datasets (downloaded once into COURSE_DATA_DIR, checksums verified).
from .downloads import DownloadError, cifar10, data_dir, fashion_mnist, mnist  # noqa: E402

DATASETS.update(mnist=mnist, fashion_mnist=fashion_mnist, cifar10=cifar10)
