"""Optional dataset downloads, against a local HTTP server: good, truncated, corrupted,
missing and stalled files each give a clear error and leave the cache clean."""
import gzip
import hashlib
import io
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from course_utils import data
from course_utils.data import downloads
from course_utils.data.downloads import DownloadError, RemoteFile

STALL_TIMEOUT_S = 0.3
BLOCK_PLUS = downloads.BLOCK + 1  # spans a read block, as a real oversized file would


class _Server:
    """A local HTTP server whose answers the test sets: ok, truncated, stall; 404 otherwise."""

    def __init__(self):
        self.routes, self.hits, self.release = {}, Counter(), threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] += 1
                if self.path not in server.routes:
                    self.send_error(404, "Not Found")
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "ok":
                    self.wfile.write(body)
                elif mode == "truncated":  # the connection drops half-way
                    self.wfile.write(body[:len(body) // 2])
                    self.close_connection = True
                elif mode == "stall":  # headers and a few bytes, then silence
                    self.wfile.write(body[:10])
                    self.wfile.flush()
                    server.release.wait(10)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def serve(self, name, body, mode="ok"):
        self.routes[f"/{name}"] = (body, mode)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A local server, an empty cache in tmp_path, no proxy, and no arrays cached in memory."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    downloads._idx_split.cache_clear()
    downloads._cifar_split.cache_clear()
    instance = _Server()
    yield instance
    instance.close()
    downloads._idx_split.cache_clear()
    downloads._cifar_split.cache_clear()


def _idx(array, magic):
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def _fake_mnist(n_train=7, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train": (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train)),
              "test": (rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))}
    arrays["train"][0][0, 0] = 0  # exact ends of the range: 0 -> -1, 255 -> 1
    arrays["train"][0][0, 1] = 255
    files = {}
    for split, (images, labels) in arrays.items():
        image_name, label_name = downloads.IDX_SPLITS[split]
        files[image_name], files[label_name] = _idx(images, 2051), _idx(labels, 2049)
    return arrays, files


def _publish(monkeypatch, server, dataset, files, mirrors=1):
    """Serve ``files`` and point ``dataset``'s registry entry at them (first mirrors 404)."""
    entries = {}
    for name, body in files.items():
        server.serve(name, body)
        urls = tuple(server.url(f"missing{i}/{name}") for i in range(mirrors - 1)) + (server.url(name),)
        entries[name] = RemoteFile(name, urls, len(body), hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(downloads.REMOTE, dataset, entries)
    return entries


def _cache_files(tmp_path, dataset):
    folder = tmp_path / "cache" / dataset
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_mnist_downloads_verifies_converts_and_caches(server, monkeypatch, tmp_path):
    arrays, files = _fake_mnist()
    _publish(monkeypatch, server, "mnist", files)
    x, y = data.mnist("train")
    images, labels = arrays["train"]
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert all((tmp_path / "cache" / "mnist" / n).stat().st_mode & 0o777 == 0o644
               for n in downloads.IDX_SPLITS["train"])
    expected = torch.from_numpy(images[:, None] / 255.0 * 2 - 1)  # float64 reference
    torch.testing.assert_close(x.double(), expected, rtol=0, atol=1e-6)
    assert x[0, 0, 0].eq(-1).all() and x[0, 0, 1].eq(1).all()
    assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    assert _cache_files(tmp_path, "mnist") == sorted(downloads.IDX_SPLITS["train"])

    hits = sum(server.hits.values())
    downloads._idx_split.cache_clear()
    x_again, _ = data.mnist("train")  # from the cache, verified, no request
    assert sum(server.hits.values()) == hits and torch.equal(x, x_again)

    x_all, y_all = data.mnist("all")
    assert x_all.shape[0] == 10 and torch.equal(x_all[:7], x) and torch.equal(y_all[:7], y)


def test_load_dataset_registry_and_classes(server, monkeypatch):
    arrays, files = _fake_mnist(n_train=40)
    _publish(monkeypatch, server, "fashion_mnist", files)
    x, y = data.load_dataset("fashion_mnist", "train")
    assert x.shape == (40, 1, 28, 28)
    x3, y3 = data.fashion_mnist("train", classes=[3])
    assert (y3 == 3).all() and torch.equal(x3, x[y == 3])
    with pytest.raises(ValueError, match="no images with labels"):
        data.fashion_mnist("train", classes=[42])


def test_resize_is_independent_of_chunk_size(server, monkeypatch):
    _, files = _fake_mnist(n_train=9)
    _publish(monkeypatch, server, "mnist", files)
    whole, _ = data.mnist("train", size=16)
    monkeypatch.setattr(downloads, "CONVERT_CHUNK", 2)
    chunked, _ = data.mnist("train", size=16)
    assert whole.shape == (9, 1, 16, 16) and torch.equal(whole, chunked)
    assert whole.min() >= -1 and whole.max() <= 1
    native, _ = data.mnist("train", size=28)
    assert torch.equal(native, data.mnist("train")[0])


def test_cifar10_channels_and_splits(server, monkeypatch):
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    records = {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in downloads.CIFAR_MEMBERS["train"] + downloads.CIFAR_MEMBERS["test"]:
            rows = np.concatenate([rng.integers(0, 10, (2, 1)), rng.integers(0, 256, (2, 3072))], 1)
            records[member] = rows.astype(np.uint8)
            info = tarfile.TarInfo(member)
            info.size = rows.size
            tar.addfile(info, io.BytesIO(records[member].tobytes()))
    _publish(monkeypatch, server, "cifar10", {"cifar-10-binary.tar.gz": buffer.getvalue()})
    x, y = data.cifar10("train")
    assert x.shape == (10, 3, 32, 32) and y.shape == (10,)
    first = records[downloads.CIFAR_MEMBERS["train"][0]][0]
    assert y[0] == first[0]
    # channel-major bytes: red plane, then green, then blue, each row by row
    green_row_0 = torch.from_numpy(first[1 + 1024:1 + 1024 + 32] / 255.0 * 2 - 1)
    torch.testing.assert_close(x[0, 1, 0].double(), green_row_0, rtol=0, atol=1e-6)
    x_test, y_test = data.cifar10("test", size=16)
    assert x_test.shape == (2, 3, 16, 16)
    assert torch.equal(y_test, torch.from_numpy(records[downloads.CIFAR_MEMBERS["test"][0]][:, 0]).long())


@pytest.mark.parametrize("mode, message", [
    ("truncated", "truncated"),
    ("corrupted", "sha256 mismatch"),
    ("oversized", "more than the expected"),
    ("missing", "HTTP 404"),
    ("stall", "timed out"),
])
def test_failed_download_is_clear_and_leaves_no_trace(server, monkeypatch, tmp_path, mode, message):
    _, files = _fake_mnist()
    entries = _publish(monkeypatch, server, "mnist", files)
    name = downloads.IDX_SPLITS["test"][0]
    body = files[name]
    if mode == "corrupted":
        server.serve(name, bytes(len(body)))
    elif mode == "oversized":
        server.serve(name, body + bytes(BLOCK_PLUS))
    elif mode == "missing":
        del server.routes[f"/{name}"]
    else:
        server.serve(name, body, mode)
    with pytest.raises(DownloadError) as error:
        data.mnist("test", timeout=STALL_TIMEOUT_S)
    text = str(error.value)
    assert message in text
    # the offline instructions: folder, file name, checksum, source
    assert str(tmp_path / "cache" / "mnist") in text and "by hand" in text
    assert entries[name].sha256 in text and entries[name].urls[0] in text
    assert _cache_files(tmp_path, "mnist") == []  # nothing half-written stays behind

    server.serve(name, body)  # the server recovers: the next call works
    x, _ = data.mnist("test", timeout=STALL_TIMEOUT_S)
    assert x.shape == (3, 1, 28, 28)


def test_next_mirror_is_tried(server, monkeypatch):
    _, files = _fake_mnist()
    _publish(monkeypatch, server, "mnist", files, mirrors=2)
    x, _ = data.mnist("test")
    assert x.shape == (3, 1, 28, 28)
    assert server.hits["/missing0/t10k-images-idx3-ubyte.gz"] == 1


def test_bad_cached_file_is_reported_not_used(server, monkeypatch, tmp_path):
    _, files = _fake_mnist()
    _publish(monkeypatch, server, "mnist", files)
    folder = tmp_path / "cache" / "mnist"
    folder.mkdir(parents=True)
    name = downloads.IDX_SPLITS["test"][0]
    (folder / name).write_bytes(b"not mnist")
    with pytest.raises(DownloadError, match="delete it to download it again"):
        data.mnist("test")
    assert server.hits[f"/{name}"] == 0


def test_offline_mode_names_the_folder(server, monkeypatch, tmp_path):
    _, files = _fake_mnist()
    _publish(monkeypatch, server, "mnist", files)
    with pytest.raises(DownloadError, match="download=False") as error:
        data.mnist("train", download=False)
    assert str(tmp_path / "cache" / "mnist") in str(error.value)
    assert sum(server.hits.values()) == 0


def test_cache_dir_default_and_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.data_dir() == tmp_path / ".cache" / "local-rules-course"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data.data_dir() == tmp_path / "elsewhere"


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "validation"}, "split must be"),
    ({"size": 2}, "size must be"),
    ({"size": 16.0}, "size must be"),
    ({"size": True}, "size must be"),
    ({"timeout": 0}, "timeout must be"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.mnist(**kwargs)


def test_unknown_download_is_a_value_error():
    with pytest.raises(ValueError, match="choose one of mnist, fashion_mnist, cifar10"):
        downloads.fetch("imagenet")


def test_published_checksums_are_well_formed():
    for dataset, entries in downloads.REMOTE.items():
        for name, remote in entries.items():
            assert remote.name == name and remote.size > 0 and remote.urls
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0, (dataset, name)
            assert all(url.endswith("/" + name) for url in remote.urls), (dataset, name)


def test_unreachable_host_says_offline(server, monkeypatch, tmp_path):
    _, files = _fake_mnist()
    entries = _publish(monkeypatch, server, "mnist", files)
    port = server.httpd.server_port
    server.close()  # nothing listens there any more: connection refused, as when offline
    name = downloads.IDX_SPLITS["test"][0]
    assert entries[name].urls == (f"http://127.0.0.1:{port}/{name}",)
    with pytest.raises(DownloadError, match=r"cannot connect, offline\?"):
        data.mnist("test", timeout=STALL_TIMEOUT_S)
    assert _cache_files(tmp_path, "mnist") == []


def test_lesson_data_switches_to_a_download_at_the_lessons_scale(server, monkeypatch):
    _, files = _fake_mnist(n_train=9, n_test=3)
    _publish(monkeypatch, server, "mnist", files)
    x, y = data.lesson_data("mnist", "train")
    assert x.shape == (9, 1, 16, 16) and torch.equal(x, data.mnist("train", size=16)[0])
    assert data.lesson_data("mnist", "test")[0].shape == (3, 1, 16, 16)
    bundled, _ = data.lesson_data("digits", "test")
    assert torch.equal(bundled, data.digits("test")[0])
    default, _ = data.lesson_data(split="test")
    assert torch.equal(default, data.load_dataset("mnist5k", "test")[0])
    with pytest.raises(ValueError, match="DATASET must be 'mnist5k', 'digits', 'mnist'"):
        data.lesson_data("imagenet")
