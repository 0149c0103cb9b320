"""IS / LS / ELS machines against float64 brute force written as plain loops."""
import math

import pytest
import torch

from course_utils import scores
from course_utils.scores import (PatchSchedule, els_denoise, ideal_denoise, local_denoise, machine,
                                 nearest_patches)


# ---------------------------------------------------------------- brute force (float64 loops)
def _pixel(img, c, r, col, boundary):
    """img[c, r, col] with circular wrap or zero padding outside the image."""
    height, width = img.shape[1:]
    if boundary == "circular":
        return img[c, r % height, col % width]
    if 0 <= r < height and 0 <= col < width:
        return img[c, r, col]
    return 0.0


def _window(img, r, col, k, boundary):
    h = k // 2
    return [_pixel(img, c, r + dr, col + dc, boundary)
            for c in range(img.shape[0]) for dr in range(-h, h + 1) for dc in range(-h, h + 1)]


def _admissible(r, col, q_r, q_c, height, width, k, boundary):
    """Whether the training window at (q_r, q_c) may explain the query window at (r, col)."""
    if boundary == "circular":
        return True
    h = k // 2
    same_rows = all((0 <= r + d < height) == (0 <= q_r + d < height) for d in range(-h, h + 1))
    same_cols = all((0 <= col + d < width) == (0 <= q_c + d < width) for d in range(-h, h + 1))
    return same_rows and same_cols


def _softmax_average(logits, values):
    top = max(logits)
    weights = [math.exp(v - top) for v in logits]
    total = sum(weights)
    return [sum(w * v[c] for w, v in zip(weights, values)) / total for c in range(len(values[0]))]


def brute_ideal(x, train, b):
    x, train = x.double(), train.double()
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        a = math.sqrt(1 - b[i])
        logits = [-float(((x[i] - a * phi) ** 2).sum()) / (2 * b[i]) for phi in train]
        out[i] = torch.tensor(_softmax_average(logits, [phi.flatten().tolist() for phi in train]))\
            .reshape(x.shape[1:])
    return out


def brute_local(x, train, b, k, boundary, equivariant):
    x, train = x.double(), train.double()
    out = torch.empty_like(x)
    _, channels, height, width = x.shape
    for i in range(x.shape[0]):
        a = math.sqrt(1 - b[i])
        for r in range(height):
            for col in range(width):
                query = torch.tensor(_window(x[i], r, col, k, boundary))
                logits, values = [], []
                for phi in train:
                    positions = ([(q_r, q_c) for q_r in range(height) for q_c in range(width)]
                                 if equivariant else [(r, col)])
                    for q_r, q_c in positions:
                        if not _admissible(r, col, q_r, q_c, height, width, k, boundary):
                            continue
                        patch = torch.tensor(_window(phi, q_r, q_c, k, boundary))
                        logits.append(-float(((query - a * patch) ** 2).sum()) / (2 * b[i]))
                        values.append(phi[:, q_r, q_c].tolist())
                out[i, :, r, col] = torch.tensor(_softmax_average(logits, values))
    return out


def brute_nearest(x, train, k, boundary):
    x, train = x.double(), train.double()
    _, _, height, width = x.shape
    result = {key: torch.empty(x.shape[0], height, width, dtype=torch.int64)
              for key in ("image", "row", "col")}
    result["dist2"] = torch.empty(x.shape[0], height, width, dtype=torch.float64)
    for i in range(x.shape[0]):
        for r in range(height):
            for col in range(width):
                query = torch.tensor(_window(x[i], r, col, k, boundary))
                best = None
                for mu, phi in enumerate(train):
                    for q_r in range(height):
                        for q_c in range(width):
                            if _admissible(r, col, q_r, q_c, height, width, k, boundary):
                                d = float(((query - torch.tensor(_window(phi, q_r, q_c, k, boundary))) ** 2).sum())
                                if best is None or d < best[0]:
                                    best = (d, mu, q_r, q_c)
                for key, value in zip(("dist2", "image", "row", "col"), best):
                    result[key][i, r, col] = value
    return result


def _data(batch, n, channels, height, width, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    train = torch.rand(n, channels, height, width, generator=gen, dtype=torch.float64) * 2 - 1
    x0 = torch.rand(batch, channels, height, width, generator=gen, dtype=torch.float64) * 2 - 1
    eps = torch.randn(batch, channels, height, width, generator=gen, dtype=torch.float64)
    return x0.to(dtype), train.to(dtype), eps.to(dtype)


def _noisy(x0, eps, b):
    b = torch.as_tensor(b, dtype=x0.dtype).reshape(-1, 1, 1, 1)
    return torch.sqrt(1 - b) * x0 + torch.sqrt(b) * eps


# ---------------------------------------------------------------- exactness
@pytest.mark.parametrize("channels", [1, 3])
def test_ideal_matches_brute_force(channels):
    x0, train, eps = _data(3, 7, channels, 4, 5)
    b = [0.02, 0.3, 1.0]
    x = _noisy(x0, eps, b)
    expected = brute_ideal(x, train, b)
    got = ideal_denoise(x, train, torch.tensor(b), chunk_size=3)
    assert got.dtype == torch.float32 and got.shape == x.shape
    assert (got.double() - expected).abs().max() < 1e-4


CASES = [  # (channels, k, boundary); k = 7 is wider than the 5 x 6 image
    (1, 1, "circular"), (1, 3, "circular"), (3, 3, "circular"), (1, 5, "circular"),
    (1, 7, "circular"), (1, 1, "zeros"), (1, 3, "zeros"), (3, 3, "zeros"),
    (1, 5, "zeros"), (3, 7, "zeros"),
]


@pytest.mark.parametrize("channels,k,boundary", CASES)
def test_els_matches_brute_force(channels, k, boundary):
    x0, train, eps = _data(2, 5, channels, 5, 6, seed=k)
    b = [0.15, 0.6]
    x = _noisy(x0, eps, b)
    expected = brute_local(x, train, b, k, boundary, equivariant=True)
    for cache in (True, False):  # prepared patch banks, and streaming training images
        got = els_denoise(x, train, torch.tensor(b), k, boundary=boundary, chunk_size=7,
                          cache=cache)
        assert got.dtype == torch.float32 and got.shape == x.shape
        assert (got.double() - expected).abs().max() < 1e-4


@pytest.mark.parametrize("boundary", ["circular", "zeros"])
def test_els_tiles_of_query_rows_match_brute_force(boundary, monkeypatch):
    """More query rows than one tile (shrunk from 1024 so the brute force stays small), the last one partial."""
    monkeypatch.setattr(scores, "ROW_TILE", 7)
    x0, train, eps = _data(2, 5, 1, 5, 6, seed=13)
    b = [0.1, 0.4]
    x = _noisy(x0, eps, b)
    assert x.shape[0] * 5 * 6 > 3 * scores.ROW_TILE  # circular: one bank of 60 rows, 9 tiles
    got = els_denoise(x, train, torch.tensor(b), 3, boundary=boundary, chunk_size=4)
    assert (got.double() - brute_local(x, train, b, 3, boundary, equivariant=True)).abs().max() < 1e-4
    near = nearest_patches(x0, train, 3, boundary=boundary, chunk_size=4)
    expected = brute_nearest(x0, train, 3, boundary)
    for key in ("image", "row", "col"):
        assert torch.equal(near[key], expected[key]), key


@pytest.mark.parametrize("channels,k,boundary", CASES)
def test_local_matches_brute_force(channels, k, boundary):
    x0, train, eps = _data(2, 5, channels, 5, 6, seed=10 + k)
    b = [0.05, 0.5]
    x = _noisy(x0, eps, b)
    expected = brute_local(x, train, b, k, boundary, equivariant=False)
    got = local_denoise(x, train, torch.tensor(b), k, boundary=boundary, chunk_size=2)
    assert (got.double() - expected).abs().max() < 1e-4


@pytest.mark.parametrize("boundary", ["circular", "zeros"])
def test_float64_inputs_are_exact_to_1e5_relative(boundary):
    x0, train, eps = _data(2, 5, 2, 5, 5, seed=3, dtype=torch.float64)
    b = [0.1, 0.7]
    x = _noisy(x0, eps, b)
    for got, expected in [
        (els_denoise(x, train, torch.tensor(b), 3, boundary, chunk_size=2),
         brute_local(x, train, b, 3, boundary, equivariant=True)),
        (local_denoise(x, train, torch.tensor(b), 3, boundary, chunk_size=2),
         brute_local(x, train, b, 3, boundary, equivariant=False)),
    ]:
        assert got.dtype == torch.float64
        assert ((got - expected).abs() / expected.abs().clamp_min(1e-3)).max() < 1e-5


def test_nearest_patches_match_brute_force():
    for boundary in ("circular", "zeros"):
        x0, train, _ = _data(2, 4, 2, 5, 4, seed=7)
        expected = brute_nearest(x0, train, 3, boundary)
        for cache in (True, False):
            got = nearest_patches(x0, train, 3, boundary=boundary, chunk_size=3, cache=cache)
            for key in ("image", "row", "col"):
                assert torch.equal(got[key], expected[key]), (boundary, key, cache)
            rms = (expected["dist2"] / (2 * 3 * 3)).sqrt()  # 2 channels, 3 x 3 windows
            assert got["dist"].dtype == torch.float64 and (got["dist"] - rms).abs().max() < 1e-6


def test_nearest_patches_of_a_shifted_training_image_are_exact_copies():
    """A circular shift makes a new image whose every window exists in the training set."""
    _, train, _ = _data(1, 4, 1, 6, 6, seed=12)
    shifted = torch.roll(train[2:3], shifts=(2, -1), dims=(2, 3))
    assert nearest_patches(shifted, train, 3, "circular")["dist"].max() < 1e-6
    assert (shifted - train).flatten(1).norm(dim=1).min() > 1


# ---------------------------------------------------------------- properties
def test_results_do_not_depend_on_chunk_size():
    x0, train, eps = _data(3, 23, 1, 6, 6, seed=5)
    x = _noisy(x0, eps, [0.2, 0.5, 0.9])
    b = torch.tensor([0.2, 0.5, 0.9])
    for fn in (lambda c: els_denoise(x, train, b, 3, "circular", chunk_size=c),
               lambda c: els_denoise(x, train, b, 3, "circular", chunk_size=c, cache=False),
               lambda c: els_denoise(x, train, b, 5, "zeros", chunk_size=c),
               lambda c: local_denoise(x, train, b, 3, "zeros", chunk_size=c),
               lambda c: ideal_denoise(x, train, b, chunk_size=c)):
        reference = fn(23)
        for chunk in (1, 4, 7, 100):
            assert torch.allclose(fn(chunk), reference, atol=1e-6, rtol=0)


def test_els_circular_is_translation_equivariant():
    x0, train, eps = _data(2, 6, 1, 6, 7, seed=9)
    x = _noisy(x0, eps, 0.3)
    shifted = torch.roll(x, shifts=(2, -3), dims=(2, 3))
    out = els_denoise(x, train, 0.3, 5)
    assert torch.allclose(els_denoise(shifted, train, 0.3, 5),
                          torch.roll(out, shifts=(2, -3), dims=(2, 3)), atol=1e-6)


def test_small_noise_limit_returns_nearest_patch_centre():
    # float64 and a tiny b: random patches have near ties (a gap of 3e-4 in squared
    # distance here), which only a weight ratio exp(-gap / 2b) << 1 separates
    x0, train, eps = _data(2, 6, 1, 6, 6, seed=11, dtype=torch.float64)
    x = _noisy(x0, eps, 1e-4)
    for boundary in ("circular", "zeros"):
        near = nearest_patches(x, train, 3, boundary)
        centres = train[near["image"], 0, near["row"], near["col"]]
        out, source = els_denoise(x, train, 1e-7, 3, boundary, return_source=True)
        assert torch.allclose(out[:, 0], centres, atol=1e-4)
        for key in ("image", "row", "col"):
            assert torch.equal(source[key], near[key])


def test_pure_noise_gives_the_average():
    x0, train, eps = _data(2, 9, 1, 5, 5, seed=2)
    x = _noisy(x0, eps, 1.0)
    mean = train.mean(dim=0, keepdim=True).expand_as(x)
    assert torch.allclose(ideal_denoise(x, train, 1.0), mean, atol=1e-6)
    assert torch.allclose(local_denoise(x, train, 1.0, 3), mean, atol=1e-6)
    assert torch.allclose(els_denoise(x, train, 1.0, 3), torch.full_like(x, train.mean().item()),
                          atol=1e-6)


def test_window_covering_the_image_is_the_ideal_machine():
    x0, train, eps = _data(2, 6, 2, 5, 5, seed=4)
    b = torch.tensor([0.1, 0.4])
    x = _noisy(x0, eps, b)
    ideal = ideal_denoise(x, train, b)
    # a 5 x 5 circular window sees the whole 5 x 5 image, once
    assert torch.allclose(local_denoise(x, train, b, 5, "circular"), ideal, atol=1e-5)
    # a zero-padded window of 2 * 5 - 1 covers the image from every pixel, and ELS then only
    # admits the same position: LS = ELS = IS
    assert torch.allclose(local_denoise(x, train, b, 9, "zeros"), ideal, atol=1e-5)
    assert torch.allclose(els_denoise(x, train, b, 9, "zeros"), ideal, atol=1e-5)


def test_per_image_noise_levels_match_separate_calls():
    x0, train, eps = _data(3, 8, 1, 5, 5, seed=6)
    b = torch.tensor([0.05, 0.5, 1.0])
    x = _noisy(x0, eps, b)
    together = els_denoise(x, train, b, 3, "zeros")
    for i in range(3):
        alone = els_denoise(x[i:i + 1], train, float(b[i]), 3, "zeros")
        # float32 logits scale as 1 / b: at b = 0.05 their rounding moves the average by
        # ~1e-6, and how the GEMM blocks the rows (which depends on the batch and the CPU)
        # changes that rounding; a wrong noise level per image moves it by 0.5 or more
        assert torch.allclose(together[i:i + 1], alone, atol=1e-5)


def test_machine_helper_has_the_sampler_signature():
    from course_utils.diffusion import ddim_sample
    x0, train, eps = _data(2, 5, 1, 6, 6, seed=8)
    seen = []
    schedule = PatchSchedule.from_steps([3, 3, 5, 5])
    els = machine("els", train, lambda b: seen.append(schedule(b)) or seen[-1], boundary="zeros")
    out = ddim_sample(els, eps, 4)
    assert out.shape == eps.shape and torch.isfinite(out).all()
    assert seen == [5, 5, 3, 3]  # schedule[i - 1] drives the update that starts at t = i / 4
    fixed = ddim_sample(machine("els", train, 3, boundary="zeros"), eps, 4)
    assert torch.equal(fixed, ddim_sample(machine("els", train, PatchSchedule.from_steps([3] * 4),
                                                  boundary="zeros"), eps, 4))
    ideal = machine("ideal", train)
    out = ddim_sample(ideal, eps, 6)
    # the ideal machine memorises: each sample lands on a training image (up to the
    # sqrt(b(0)) ~ 0.01 noise the schedule leaves at t = 0)
    dists = torch.cdist(out.flatten(1), train.flatten(1)).min(dim=1).values
    apart = torch.pdist(train.flatten(1)).min()
    assert dists.max() < 0.05 * apart


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call,message", [
    (lambda x, t: els_denoise(x, t, 0.5, 4), "odd"),
    (lambda x, t: els_denoise(x, t, 0.5, 0), "odd"),
    (lambda x, t: els_denoise(x, t, 0.5, -3), "odd"),
    (lambda x, t: els_denoise(x, t, 0.5, 3.0), "odd"),
    (lambda x, t: els_denoise(x, t[:, :1], 0.5, 3), "channels"),
    (lambda x, t: local_denoise(x, t[..., :4], 0.5, 3), "size"),
    (lambda x, t: ideal_denoise(x[0], t, 0.5), "(B, C, H, W)"),
    (lambda x, t: els_denoise(x, t[:0], 0.5, 3), "empty"),
    (lambda x, t: els_denoise(x * math.nan, t, 0.5, 3), "NaN"),
    (lambda x, t: els_denoise(x, t * math.inf, 0.5, 3), "NaN or inf"),
    (lambda x, t: els_denoise(x, t, 0.0, 3), "(0, 1]"),
    (lambda x, t: els_denoise(x, t, 1.5, 3), "(0, 1]"),
    (lambda x, t: els_denoise(x, t, math.nan, 3), "(0, 1]"),
    (lambda x, t: ideal_denoise(x, t, torch.tensor([0.5, -0.1])), "(0, 1]"),
    (lambda x, t: ideal_denoise(x, t, torch.tensor([0.5, 0.5, 0.5])), "one value per image"),
    (lambda x, t: els_denoise(x, t, 0.5, 3, boundary="reflect"), "circular"),
    (lambda x, t: els_denoise(x, t, 0.5, 3, chunk_size=0), "chunk_size"),
    (lambda x, t: nearest_patches(x.long(), t, 3), "float"),
    (lambda x, t: machine("cnn", t), "choose"),
    (lambda x, t: machine("els", t), "needs a patch size"),
    (lambda x, t: machine("els", t, 4), "odd"),
    (lambda x, t: machine("ideal", t, 3), "no patch size"),
    (lambda x, t: PatchSchedule([0.5, 0.2], [3]), "pairs each noise level"),
    (lambda x, t: PatchSchedule.from_steps([3, 5])(torch.tensor([0.5, 0.2])), "one noise level"),
])
def test_bad_input_raises_value_error_naming_the_fix(call, message):
    x0, train, _ = _data(2, 3, 2, 5, 5)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        call(x0, train)


def test_merged_duplicate_patches_keep_their_weight():
    # flat regions give many identical patches, which the banks store once with a log count
    x0, train, eps = _data(2, 6, 1, 6, 6, seed=12)
    train[:, :, :3] = -1.0
    train[3] = train[0]
    x = _noisy(x0, eps, [0.1, 0.6])
    b = torch.tensor([0.1, 0.6])
    for boundary in ("circular", "zeros"):
        merged = els_denoise(x, train, b, 3, boundary)
        streamed = els_denoise(x.double(), train.double(), b, 3, boundary, cache=False)
        assert (merged.double() - streamed).abs().max() < 2e-6  # a lost count errs by ~1e-2


# ---------------------------------------------------------------- the banked kernel's fast paths
def _low_noise_case(seed=0, count=40, size=8):
    """Training images with shared structure and a query near one of them: a peaked softmax."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(4, 1, size, size, generator=gen)
    train = (base[torch.arange(count) % 4] + 0.01 * torch.randn(count, 1, size, size, generator=gen))
    b = 0.002
    x = math.sqrt(1 - b) * train[:2] + math.sqrt(b) * torch.randn(2, 1, size, size, generator=gen)
    return x, train, b


@pytest.mark.parametrize("boundary", ["circular", "zeros"])
def test_skipping_is_active_and_exact(boundary, monkeypatch):
    from course_utils import scores
    x, train, b = _low_noise_case()
    # small blocks and row tiles, so that a tile's rows leave some blocks unneeded
    monkeypatch.setattr(scores, "BLOCK", 16)
    monkeypatch.setattr(scores, "ROW_TILE", 16)
    scores.clear_cache()
    scores.kernel_counters()
    fast = els_denoise(x, train, b, 3, boundary)
    counts = scores.kernel_counters()
    assert counts["computed"] < 0.9 * counts["pairs"]  # the bound did skip work
    exact = els_denoise(x.double(), train.double(), b, 3, boundary, cache=False)
    full = els_denoise(x, train, b, 3, boundary, cache=False)  # no bound, no skipping
    assert (fast.double() - exact).abs().max() < 1e-4
    assert (fast - full).abs().max() < 1e-5
    scores.clear_cache()


def test_bank_cache_keeps_within_its_byte_budget(monkeypatch):
    x, train, b = _low_noise_case(seed=2)
    scores.clear_cache()
    first = {k: els_denoise(x, train, 0.3, k) for k in (3, 5)}
    assert len(scores._BANKS) == 2  # both fit the default budget
    one_bank = min(entry[2] for entry in scores._BANKS.values())
    monkeypatch.setattr(scores, "BANK_CACHE_BYTES", one_bank)  # room for about one bank
    scores.clear_cache()
    again = {k: els_denoise(x, train, 0.3, k) for k in (3, 5)}
    assert len(scores._BANKS) == 1  # k = 3's bank was dropped before k = 5's was prepared
    assert all(torch.equal(first[k], again[k]) for k in first)
    scores.clear_cache()


def test_results_do_not_depend_on_thread_count():
    x, train, b = _low_noise_case(seed=1)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(els_denoise(x, train, 0.3, 5))
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    assert all(torch.equal(outs[0], out) for out in outs[1:])


def _sharded_rank(rank, world, init, x, train, levels, k, boundaries, out_dir):
    import torch.distributed as dist
    from course_utils.distributed import els_denoise_sharded, shard
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        mine = shard(train, rank, world)
        outs = {boundary: torch.stack([els_denoise_sharded(x, mine, b, k, boundary) for b in levels])
                for boundary in boundaries}
        torch.save(outs, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    import torch.multiprocessing as mp
    x, train, _ = _low_noise_case(seed=2, count=30)
    levels = [0.002, 0.05, 0.6]  # skipping active at the first, dense at the last
    boundaries = ["circular", "zeros"]  # in one pair of processes: starting them is the slow part
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_sharded_rank, args=(2, init, x, train, levels, 3, boundaries, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for boundary in boundaries:
        alone = torch.stack([els_denoise(x, train, b, 3, boundary) for b in levels])
        exact = torch.stack([els_denoise(x.double(), train.double(), b, 3, boundary, cache=False)
                             for b in levels])
        assert torch.equal(ranks[0][boundary], ranks[1][boundary]), boundary  # every rank agrees
        assert (ranks[0][boundary] - alone).abs().max() < 1e-5, boundary
        assert (ranks[0][boundary].double() - exact).abs().max() < 1e-4, boundary


def test_shard_covers_the_training_set_once():
    from course_utils.distributed import shard
    train = torch.arange(7.0).reshape(7, 1, 1, 1)
    assert torch.equal(torch.cat([shard(train, r, 3) for r in range(3)]), train)
    with pytest.raises(ValueError, match="at most one rank per image"):
        shard(train, 0, 8)
