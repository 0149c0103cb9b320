"""Novelty metrics against float64 brute force; independence of chunk size; bad input."""
import pytest
import torch

from course_utils.metrics import nearest_image, nearest_patch, pearson_r


def _images(seed, n, channels=1, size=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=gen) * 2 - 1


def _brute_nearest_patch(samples, train, k, boundary):
    """Loop over every window pair: (B, H, W) RMS distances, float64."""
    r = k // 2
    mode = "circular" if boundary == "circular" else "constant"
    pad = lambda t: torch.nn.functional.pad(t.double(), (r, r, r, r), mode=mode)
    xs, ts = pad(samples), pad(train)
    B, C, H, W = samples.shape
    out = torch.empty(B, H, W, dtype=torch.float64)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                window = xs[b, :, i:i + k, j:j + k]
                best = min(((window - ts[n, :, p:p + k, q:q + k]) ** 2).mean().item()
                           for n in range(len(train)) for p in range(H) for q in range(W))
                out[b, i, j] = best ** 0.5
    return out


def test_nearest_image_matches_brute_force_and_finds_copies():
    train = _images(0, 9, channels=2)
    samples = torch.cat([_images(1, 3, channels=2), train[[4, 7]]])
    result = nearest_image(samples, train, chunk=4)
    brute = ((samples.double()[:, None] - train.double()[None]) ** 2).flatten(2).mean(2)
    assert torch.allclose(result["dist"], brute.min(1).values.sqrt(), atol=1e-12)
    assert result["index"][3:].tolist() == [4, 7]
    assert result["dist"][3:].max() == 0


@pytest.mark.parametrize("boundary", ["zeros", "circular"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_nearest_patch_matches_brute_force(k, boundary):
    train, samples = _images(2, 3), _images(3, 2)
    result = nearest_patch(samples, train, k, boundary, chunk=2)
    assert torch.allclose(result["dist"], _brute_nearest_patch(samples, train, k, boundary),
                          atol=1e-10)
    # the reported location really holds a window at that distance
    r, mode = k // 2, ("circular" if boundary == "circular" else "constant")
    padded = torch.nn.functional.pad(train.double(), (r, r, r, r), mode=mode)
    window = padded[result["image"][1, 2, 3], :, result["row"][1, 2, 3]:result["row"][1, 2, 3] + k,
                    result["col"][1, 2, 3]:result["col"][1, 2, 3] + k]
    mine = torch.nn.functional.pad(samples.double(), (r, r, r, r), mode=mode)[1, :, 2:2 + k, 3:3 + k]
    assert torch.isclose(((window - mine) ** 2).mean().sqrt(), result["dist"][1, 2, 3], atol=1e-12)


def test_nearest_patch_of_a_shifted_training_image_is_zero_everywhere():
    """A circular shift makes a new image whose every window exists in the training set."""
    train = _images(4, 4)
    shifted = torch.roll(train[2:3], shifts=(2, -1), dims=(2, 3))
    patch = nearest_patch(shifted, train, 3, "circular")
    assert patch["dist"].max() < 1e-12
    assert nearest_image(shifted, train)["dist"].item() > 0.3


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_results_do_not_depend_on_chunk_or_batch(chunk):
    train, samples = _images(5, 7), _images(6, 5)
    full = nearest_patch(samples, train, 3, chunk=8)
    parts = nearest_patch(samples, train, 3, chunk=chunk)
    one = nearest_patch(samples[3:4], train, 3, chunk=chunk)
    for key in ("dist", "image", "row", "col"):
        assert torch.equal(full[key], parts[key])
        assert torch.equal(full[key][3:4], one[key])
    assert torch.equal(nearest_image(samples, train, chunk=chunk)["dist"],
                       nearest_image(samples, train, chunk=100)["dist"])


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
    with pytest.raises(ValueError, match="odd"):
        nearest_patch(train, train, 4)
    with pytest.raises(ValueError, match="boundary"):
        nearest_patch(train, train, 3, boundary="reflect")
    with pytest.raises(ValueError, match="NaN"):
        nearest_image(train * float("nan"), train)
    with pytest.raises(ValueError, match="constant"):
        pearson_r(torch.zeros(2, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        pearson_r(torch.zeros(2, 4), torch.ones(3, 4))
