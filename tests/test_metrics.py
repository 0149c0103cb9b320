"""Novelty metrics against float64 brute force; independence of chunk size; bad input."""
import pytest
import torch
import torch.nn.functional as F

from course_utils.metrics import nearest_image, nearest_patches_in_place, pearson_r
from course_utils.scores import nearest_patches


def _images(seed, n, channels=1, size=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=gen) * 2 - 1


def test_nearest_image_matches_brute_force_and_finds_copies():
    train = _images(0, 9, channels=2)
    samples = torch.cat([_images(1, 3, channels=2), train[[4, 7]]])
    result = nearest_image(samples, train, chunk=4)
    brute = ((samples.double()[:, None] - train.double()[None]) ** 2).flatten(2).mean(2)
    assert torch.allclose(result["dist"], brute.min(1).values.sqrt(), atol=1e-12)
    assert result["index"][3:].tolist() == [4, 7]
    assert result["dist"][3:].max() == 0


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_results_do_not_depend_on_chunk_or_batch(chunk):
    train, samples = _images(5, 7), _images(6, 5)
    full = nearest_image(samples, train, chunk=100)
    for got in (nearest_image(samples, train, chunk=chunk),
                {key: torch.cat([nearest_image(samples[i:i + 1], train, chunk=chunk)[key]
                                 for i in range(5)]) for key in full}):
        for key in ("dist", "index"):
            assert torch.equal(full[key], got[key])



def test_nearest_patches_in_place_matches_brute_force_and_is_never_closer_than_anywhere():
    train, samples = _images(10, 7, channels=2), _images(11, 3, channels=2)
    samples = torch.cat([samples, train[[2]]])
    result = nearest_patches_in_place(samples, train, 3)
    windows = lambda x: F.unfold(x.double(), 3, padding=1)  # noqa: E731  (B, C k k, HW)
    brute = ((windows(samples)[:, None] - windows(train)[None]) ** 2).mean(2).sqrt()  # (B, N, HW)
    assert torch.allclose(result["dist"], brute.min(1).values.reshape(4, 6, 6), atol=1e-12)
    assert torch.equal(result["image"], brute.argmin(1).reshape(4, 6, 6))
    assert result["dist"][3].max() == 0 and (result["image"][3] == 2).all()
    anywhere = nearest_patches(samples, train, 3, boundary="zeros")["dist"]
    assert (anywhere <= result["dist"] + 1e-12).all() and (anywhere < result["dist"] - 1e-3).any()

def test_pearson_r_is_centred_per_image_and_scale_free():
    a, noise = _images(7, 4, channels=3), _images(8, 4, channels=3)
    assert torch.allclose(pearson_r(a, 3 * a + 0.5), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(pearson_r(a, -a), -torch.ones(4, dtype=torch.float64))
    flat_a, flat_b = a.double().flatten(1), (a + noise).double().flatten(1)
    expected = torch.stack([torch.corrcoef(torch.stack([u, v]))[0, 1] for u, v in zip(flat_a, flat_b)])
    assert torch.allclose(pearson_r(a, a + noise), expected, atol=1e-12)


def test_bad_input_raises_value_error_with_a_fix():
    train = _images(9, 3)
    with pytest.raises(ValueError, match="batch axis"):
        nearest_image(train[0], train)
    with pytest.raises(ValueError, match="same"):
        nearest_image(_images(1, 2, size=5), train)
    with pytest.raises(ValueError, match="NaN"):
        nearest_image(train * float("nan"), train)
    with pytest.raises(ValueError, match="odd"):
        nearest_patches_in_place(train, train, 4)
    with pytest.raises(ValueError, match="same"):
        nearest_patches_in_place(_images(1, 2, size=5), train, 3)
    with pytest.raises(ValueError, match="constant"):
        pearson_r(torch.zeros(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        pearson_r(torch.zeros(2, 4), torch.ones(3, 4))
