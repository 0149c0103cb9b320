"""Novelty metrics and N_eff against float64 brute force; independence of chunk size; bad input."""
import pytest
import torch
import torch.nn.functional as F

from course_utils.metrics import (difference_text, effective_counts, held_out_rank, nearest_image,
                                  nearest_patches_in_place, pearson_r)
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


def test_results_do_not_depend_on_how_many_samples_are_held_at_once(monkeypatch):
    from course_utils import metrics

    train, samples = _images(17, 7), _images(18, 9)
    full = nearest_image(samples, train)
    monkeypatch.setattr(metrics, "PASS_ELEMENTS", 1)  # one sample per pass
    one = nearest_image(samples, train, chunk=3)
    assert torch.equal(full["dist"], one["dist"]) and torch.equal(full["index"], one["index"])


def test_held_out_rank_counts_the_held_out_images_strictly_nearer():
    train, held_out = _images(10, 6, channels=2), _images(11, 5, channels=2)
    samples = torch.cat([train[[2]], _images(12, 3, channels=2), 5 * train[[0]]])

    def brute(images):
        return ((images.double()[:, None] - train.double()[None]) ** 2).flatten(2).sum(2).min(1).values

    expected = (brute(held_out)[None] < brute(samples)[:, None]).double().mean(1)
    got = held_out_rank(samples, train, held_out)
    assert torch.equal(got, expected)
    assert got[0] == 0 and got[-1] == 1  # a copy ranks below every held-out image, a far image above
    assert torch.equal(held_out_rank(held_out, train, held_out),  # no image is nearer than itself
                       (brute(held_out)[None] < brute(held_out)[:, None]).double().mean(1))


def test_effective_counts_match_brute_force_weights():
    train = _images(13, 5, channels=2)
    gen = torch.Generator().manual_seed(14)
    xs = torch.randn(3, 4, 2, 6, 6, generator=gen)
    noise_vars = torch.tensor([1.0, 0.5, 1e-4], dtype=torch.float64)
    got = effective_counts(xs, noise_vars, train)
    for i, b in enumerate(noise_vars.tolist()):
        d2 = ((xs[i].double()[:, None] - (1 - b) ** 0.5 * train.double()[None]) ** 2).flatten(2).sum(2)
        w = torch.softmax(-d2 / (2 * b), dim=1)
        assert torch.allclose(got[i], 1 / (w ** 2).sum(1), rtol=1e-9)
    assert torch.allclose(got[0], torch.full((4,), 5.0, dtype=torch.float64))  # b = 1: all weigh alike


def test_effective_counts_and_rank_reject_bad_input():
    train = _images(15, 3)
    xs = _images(16, 2)[None]
    with pytest.raises(ValueError, match="one per state"):
        effective_counts(xs, torch.tensor([0.5, 0.2]), train)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        effective_counts(xs, torch.tensor([0.0]), train)
    with pytest.raises(ValueError, match="T, B, C, H, W"):
        effective_counts(xs[0], torch.tensor([0.5]), train)
    with pytest.raises(ValueError, match="held_out is empty"):
        held_out_rank(xs[0], train, train[:0])


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


def test_difference_text_prints_a_bound_at_rounding_level():
    assert difference_text(3.3e-16, torch.float64) == "< 1e-12 (float64 rounding)"
    assert difference_text(0.0, torch.float64) == difference_text(1.1e-15, torch.float64)
    assert difference_text(5.96e-7, torch.float32) == "< 1e-05 (float32 rounding)"
    assert difference_text(1.42, torch.float64) == "1.42"
    assert difference_text(2e-5, torch.float32) == "2e-05"  # above rounding: the value itself
