"""Optional full-size datasets: MNIST, FashionMNIST and CIFAR-10, downloaded once.

The course runs offline on its bundled data; these are for learners who want the
paper's datasets. Each file is checked against its published size and SHA-256 before
it enters the cache, written under a temporary name and renamed only once verified,
so an interrupted or corrupted download never poisons the cache.

Cache: ``$COURSE_DATA_DIR`` if set, else ``~/.cache/local-rules-course``, one folder per
dataset. Offline machines: put the files there by hand (the error message lists the
folder, the file names and where to get them).

Checksums: the publishers give MD5 sums at most (FashionMNIST's README, the CIFAR page),
so the SHA-256 sums and sizes here are those TensorFlow Datasets records for the same
files (url_checksums/mnist.txt, fashion_mnist.txt, cifar10.txt), which other projects'
download code repeats.

Why not pooch: pooch (1.9) was tried for the streaming below and does it worse here.
``pooch.retrieve`` writes each file through ``tempfile.NamedTemporaryFile`` and
``shutil.move``, so cached files are 0600 whatever the umask, which locks the other users
of a shared course folder out (``files.write_atomic``, used here, gives the umask's mode).
A stalled server and a refused connection both come back as ``requests.ConnectionError``,
so "timed out" and "offline?" could be told apart only by parsing its text. A cached file
with a wrong hash is downloaded again over the learner's by-hand copy instead of being
reported. An oversized body is read to its end before the hash fails, where this stops
one block past the published size. Every download logs a line on stderr (cell output in a
notebook) unless its logger is silenced. ``retrieve`` takes no retries and no mirrors, so
the loop over mirrors stays ours. What pooch would replace is ``_download``'s 25 lines;
the dependency would not remove the error wording, the cache check or the mirror loop.
"""
import gzip
import hashlib
import http.client
import os
import socket
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..files import sha256, write_atomic
from ..progress import progress

DATA_DIR_ENV = "COURSE_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/local-rules-course"
TIMEOUT_S = 30  # per connect / read: a stalled server fails in seconds, a slow one still works
BLOCK = 1 << 20
CONVERT_CHUNK = 4096  # images converted to float at a time (bounds peak memory, not results)


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the cache, mirrors tried in order, size and SHA-256."""

    name: str
    urls: tuple
    size: int
    sha256: str


class DownloadError(OSError):
    """A dataset file could not be fetched or verified; the message says how to get it by hand."""


_MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _idx_files(mirrors, sums):
    return {name: RemoteFile(name, tuple(m + name for m in mirrors), size, sha)
            for name, (size, sha) in sums.items()}


REMOTE = {
    "mnist": _idx_files(_MNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz":
            (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz":
            (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz":
            (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    }),
    "fashion_mnist": _idx_files(_FASHION_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz":
            (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz":
            (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz":
            (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    }),
    # The binary version: plain bytes, so loading it unpickles nothing.
    "cifar10": {"cifar-10-binary.tar.gz": RemoteFile(
        "cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
        170052171, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd")},
}
TITLES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR-10"}
IDX_SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
CIFAR_MEMBERS = {"train": tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)),
                 "test": ("cifar-10-batches-bin/test_batch.bin",)}
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def data_dir():
    """The download cache: $COURSE_DATA_DIR, else ~/.cache/local-rules-course."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def _download(url, target, remote, timeout):
    """Stream ``url`` to a temporary file beside ``target``; rename it only once size and SHA-256 match."""
    received = 0

    def fetch(out):
        nonlocal received
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                progress(total=remote.size, desc=remote.name, unit="B", unit_scale=True) as bar:
            while block := response.read(BLOCK):
                received += len(block)
                if received > remote.size:
                    raise DownloadError(f"more than the expected {remote.size:,} bytes")
                digest.update(block)
                out.write(block)
                bar.update(len(block))
        if received != remote.size:
            raise DownloadError(f"truncated: got {received:,} of {remote.size:,} bytes")
        if digest.hexdigest() != remote.sha256:
            raise DownloadError(f"sha256 mismatch: got {digest.hexdigest()}, "
                                f"expected {remote.sha256}")

    try:
        write_atomic(target, fetch)
    except http.client.IncompleteRead as error:
        raise DownloadError(f"truncated: the connection closed after "
                            f"{received + len(error.partial):,} of {remote.size:,} bytes") from None


def _reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "timed out (no data); the server stalled or the network is down"
    if isinstance(error, (socket.gaierror, ConnectionError)):
        return f"cannot connect, offline? ({error})"
    return str(error) or type(error).__name__


def _by_hand(dataset, folder, files):
    lines = [f"To use {TITLES[dataset]} offline, put these files in {folder}/ by hand"
             f" (or set {DATA_DIR_ENV} to a folder that has a {dataset}/ subfolder with them):"]
    lines += [f"  {f.name}  ({f.size:,} bytes, sha256 {f.sha256}) from {f.urls[0]}" for f in files]
    lines.append("The bundled datasets need no download: DATASET = \"digits\".")
    return "\n".join(lines)


def fetch(dataset, names=None, timeout=TIMEOUT_S, download=True):
    """Paths of ``dataset``'s files in the cache, downloading and verifying missing ones.

    names: the file names needed (default: all of the dataset's files); download=False
    only looks in the cache. Raises DownloadError with the by-hand instructions.
    """
    if dataset not in REMOTE:
        raise ValueError(f"unknown download {dataset!r}; choose one of {', '.join(REMOTE)}")
    files = [REMOTE[dataset][n] for n in (names or REMOTE[dataset])]
    folder = data_dir() / dataset
    paths = []
    for remote in files:
        target = folder / remote.name
        if target.exists():
            if target.stat().st_size != remote.size or sha256(target) != remote.sha256:
                raise DownloadError(
                    f"{target} is not the published {remote.name} (size or sha256 differs): "
                    f"delete it to download it again, or replace it with the file from "
                    f"{remote.urls[0]} (sha256 {remote.sha256})")
            paths.append(target)
            continue
        if not download:
            raise DownloadError(f"{TITLES[dataset]} is not in the cache and download=False.\n"
                                + _by_hand(dataset, folder, files))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(f"cannot create the cache folder {folder} ({error}); set "
                                f"{DATA_DIR_ENV} to a writable folder") from None
        failures = []
        for url in remote.urls:
            try:
                _download(url, target, remote, timeout)
                break
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"  {url}: {_reason(error)}")
        else:
            raise DownloadError(f"could not download {remote.name} of {TITLES[dataset]}:\n"
                                + "\n".join(failures) + "\n" + _by_hand(dataset, folder, files))
        paths.append(target)
    return paths


def _read_idx(path, magic, ndim):
    """uint8 array of an IDX file (gzip), after checking its magic number and dimensions."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    header = np.frombuffer(data, dtype=">u4", count=1 + ndim)
    count = int(np.prod(header[1:]))
    if header[0] != magic or len(data) != 4 * (1 + ndim) + count:
        raise DownloadError(f"{path} is not an IDX file of the expected kind; delete it and retry")
    return np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + ndim)).reshape(header[1:])


@lru_cache(maxsize=4)
def _idx_split(dataset, split, folder, timeout, download):
    del folder  # part of the cache key only: a new COURSE_DATA_DIR must not reuse old arrays
    images_name, labels_name = IDX_SPLITS[split]
    images_path, labels_path = fetch(dataset, IDX_SPLITS[split], timeout, download)
    images = _read_idx(images_path, 2051, 3)[:, None]
    labels = _read_idx(labels_path, 2049, 1)
    if len(images) != len(labels):
        raise DownloadError(f"{images_name} has {len(images)} images but {labels_name} "
                            f"{len(labels)} labels; delete both and retry")
    return images, labels


@lru_cache(maxsize=2)
def _cifar_split(split, folder, timeout, download):
    del folder
    (archive,) = fetch("cifar10", None, timeout, download)
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for member in CIFAR_MEMBERS[split]:
            # Records of 1 label byte + 3 x 32 x 32 pixel bytes, channel-major.
            records = np.frombuffer(tar.extractfile(member).read(), dtype=np.uint8)
            records = records.reshape(-1, 1 + 3 * 32 * 32)
            labels.append(records[:, 0])
            images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def _to_tensors(images, labels, size, classes):
    """uint8 (N, C, H, W) -> float32 in [-1, 1], optionally resized, and int64 labels."""
    labels = torch.from_numpy(labels.astype(np.int64))
    keep = np.arange(len(images))
    if classes is not None:
        wanted = torch.as_tensor(list(classes), dtype=torch.int64)
        mask = torch.isin(labels, wanted)
        if not mask.any():
            raise ValueError(f"no images with labels {list(classes)}; labels are 0..9")
        keep, labels = keep[mask.numpy()], labels[mask]
    n, c, h, w = len(keep), *images.shape[1:]
    out_h, out_w = (h, w) if size is None else (size, size)
    out = torch.empty(n, c, out_h, out_w, dtype=torch.float32)
    for start in range(0, n, CONVERT_CHUNK):
        chunk = torch.from_numpy(images[keep[start:start + CONVERT_CHUNK]]).float() / 255.0
        if size is not None and (size, size) != (h, w):
            # antialias: downscaling 32 -> 16 must average pixels, not skip them
            chunk = F.interpolate(chunk, size=(size, size), mode="bilinear",
                                  align_corners=False, antialias=size < h)
        out[start:start + len(chunk)] = (chunk * 2 - 1).clamp(-1, 1)
    return out, labels


def _load(dataset, split, size, classes, timeout, download):
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 4):
        raise ValueError(f"size must be None (native resolution) or an integer >= 4, not {size!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    splits = ("train", "test") if split == "all" else (split,)
    folder = str(data_dir())
    if dataset == "cifar10":
        parts = [_cifar_split(s, folder, timeout, download) for s in splits]
    else:
        parts = [_idx_split(dataset, s, folder, timeout, download) for s in splits]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return _to_tensors(images, labels, size, classes)


def mnist(split="train", size=None, classes=None, timeout=TIMEOUT_S, download=True):
    """(N, 1, 28, 28) float32 MNIST digits in [-1, 1] and (N,) int64 labels (60,000 train, 10,000 test).

    size: resize to size x size (e.g. 16 to match the bundled digits); classes: labels to
    keep; download=False uses the cache only. First use downloads 11 MB.
    """
    return _load("mnist", split, size, classes, timeout, download)


def fashion_mnist(split="train", size=None, classes=None, timeout=TIMEOUT_S, download=True):
    """(N, 1, 28, 28) float32 FashionMNIST in [-1, 1] and (N,) int64 labels (FASHION_CLASSES).

    Same options as ``mnist``; first use downloads 30 MB.
    """
    return _load("fashion_mnist", split, size, classes, timeout, download)


def cifar10(split="train", size=None, classes=None, timeout=TIMEOUT_S, download=True):
    """(N, 3, 32, 32) float32 CIFAR-10 in [-1, 1] (RGB) and (N,) int64 labels (CIFAR_CLASSES).

    Same options as ``mnist``; first use downloads 170 MB.
    """
    return _load("cifar10", split, size, classes, timeout, download)
