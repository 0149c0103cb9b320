"""Procedural hands, the finger counter (checked against eye labels) and its labeller."""
from collections import deque

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.data import digits, load_dataset
from course_utils.hand_samples import (NOT_COUNTABLE, agreement_on_countable, agreement_with_the_eye,
                                      load_eye_labelled_images, marked_sure, read_eye_labels,
                                      scored_like_the_counter)
from course_utils.hands import (NOT_A_HAND, count_fingers, hand_dataset, label_components,
                                make_hands)


def test_make_hands_shapes_range_and_counts():
    x, c = make_hands(40, fingers=[3, 4, 7], seed=2, size=32)
    assert x.shape == (40, 1, 32, 32) and x.dtype == torch.float32
    assert c.shape == (40,) and c.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert set(c.tolist()) == {3, 4, 7}
    _, five = make_hands(10, fingers=5, seed=2)
    assert (five == 5).all()


def test_make_hands_deterministic_and_independent_of_batch():
    a, ca = make_hands(30, fingers=range(3, 8), seed=11, size=24)
    b, cb = make_hands(30, fingers=range(3, 8), seed=11, size=24)
    assert torch.equal(a, b) and torch.equal(ca, cb)
    head, chead = make_hands(7, fingers=range(3, 8), seed=11, size=24)
    assert torch.equal(head, a[:7]) and torch.equal(chead, ca[:7])
    other, _ = make_hands(7, fingers=range(3, 8), seed=12, size=24)
    assert not torch.equal(other, head)


def test_make_hands_rejects_bad_input():
    for kwargs, word in (({"fingers": 8}, "out of range"), ({"fingers": []}, "non-empty"),
                         ({"fingers": 2.5}, "int"), ({"size": 8}, "size"),
                         ({"seed": -1}, "seed")):
        with pytest.raises(ValueError, match=word):
            make_hands(3, **kwargs)
    with pytest.raises(ValueError, match="n must be"):
        make_hands(-1)


@pytest.mark.parametrize("size", [24, 32])
def test_counter_accuracy_on_fresh_hands(size):
    x, c = make_hands(250, fingers=range(3, 8), seed=9000 + size, size=size)
    accuracy = (count_fingers(x) == c).double().mean().item()
    assert accuracy >= 0.95, f"{accuracy:.3f} of hands counted right at {size} x {size}"


def test_counter_rejects_what_is_not_a_hand():
    size = 24
    blank = -torch.ones(2, 1, size, size)
    full = torch.ones(2, 1, size, size)
    noise = torch.randn(50, 1, size, size, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    assert (count_fingers(torch.cat([blank, full, noise])) == -1).all()
    strokes, _ = digits("all", size=size)
    rejected = (count_fingers(strokes[::8]) == -1).double().mean().item()
    assert rejected >= 0.9, f"only {rejected:.3f} of digits are called not hand-like"


def test_counter_independent_of_batch_and_dtype():
    x, _ = make_hands(12, fingers=range(3, 8), seed=4, size=24)
    x[3] = -1  # one blank in the batch must not change the others
    together = count_fingers(x)
    alone = torch.cat([count_fingers(x[i:i + 1]) for i in range(len(x))])
    assert torch.equal(together, alone)
    assert torch.equal(count_fingers(x.double()), together)


def test_counter_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        count_fingers(torch.zeros(3, 24, 24))
    with pytest.raises(ValueError, match="too small"):
        count_fingers(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        count_fingers(torch.full((1, 1, 24, 24), float("nan")))


def _bfs_labels(mask, connectivity, wrap):
    """Reference: components by breadth-first search, labelled as label_components does."""
    h, w = mask.shape
    steps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
             if (dy, dx) != (0, 0) and (connectivity == 8 or 0 in (dy, dx))]
    labels = np.zeros((h, w), dtype=np.int64)
    seen = np.zeros((h, w), dtype=bool)
    for i in range(h):
        for j in range(w):
            if not mask[i, j] or seen[i, j]:
                continue
            queue, members = deque([(i, j)]), []
            seen[i, j] = True
            while queue:
                y, x = queue.popleft()
                members.append((y, x))
                for dy, dx in steps:
                    v, u = y + dy, x + dx
                    if wrap:
                        v, u = v % h, u % w
                    if 0 <= v < h and 0 <= u < w and mask[v, u] and not seen[v, u]:
                        seen[v, u] = True
                        queue.append((v, u))
            top = max(y * w + x for y, x in members) + 1
            for y, x in members:
                labels[y, x] = top
    return labels


@pytest.mark.parametrize("connectivity, wrap", [(8, False), (4, True), (4, False), (8, True)])
def test_label_components_matches_breadth_first_search(connectivity, wrap):
    """8-connected in the plane for the finger counter, 4-connected on the torus for Turing patterns."""
    gen = torch.Generator().manual_seed(3)
    masks = torch.rand(6, 1, 17, 23, generator=gen) < torch.tensor([0.2, 0.4, 0.5, 0.6, 0.8, 1.0]).view(6, 1, 1, 1)
    spiral = torch.zeros(1, 1, 17, 23, dtype=torch.bool)  # one long winding component
    spiral[0, 0, ::2, 1:-1] = True
    spiral[0, 0, 1::4, -2] = True
    spiral[0, 0, 3::4, 1] = True
    masks = torch.cat([masks, spiral])
    labels = label_components(masks, connectivity, wrap)
    assert labels.shape == masks.shape and labels.dtype == torch.int64
    for mask, got in zip(masks, labels):
        assert np.array_equal(got[0].numpy(), _bfs_labels(mask[0].numpy(), connectivity, wrap))


def test_hand_dataset_is_five_fingered_and_registered():
    train, counts = hand_dataset("train")
    test, _ = hand_dataset("test")
    assert train.shape == (128, 1, 24, 24) and test.shape == (64, 1, 24, 24)
    assert (counts == 5).all()
    assert (count_fingers(train) == 5).double().mean() >= 0.97
    loaded, _ = load_dataset("hands")
    assert torch.equal(loaded, train)
    assert not any(torch.equal(t, s) for t in test[:5] for s in train)
    with pytest.raises(ValueError, match="split"):
        hand_dataset("val")


def _eye_labelled():
    """The 208 eye-labelled machine and network samples -> (images, eye counts, -1 = not countable)."""
    rows, eye = read_eye_labels("hand_eye_labels.csv", "fingers_by_eye")
    return load_eye_labelled_images(), eye, rows


def test_eye_labelled_fixture_covers_every_machine():
    images, eye, rows = _eye_labelled()
    assert images.shape == (len(rows), 1, 24, 24) and len(rows) >= 100
    sources = {row["source"] for row in rows}
    assert {"IS", "LS k=3", "ELS k=11", "CNN", "hands-unet-zeros", "hands-unet-attn"} <= sources
    assert int((eye >= 0).sum()) >= 100


@pytest.fixture(scope="module")
def eye_and_counted():
    """The fixture's eye labels and the counter's counts of the same 208 images."""
    images, eye, _ = _eye_labelled()
    return eye, count_fingers(images)


def _agreement(eye, counted):
    """(N,) eye labels and counts -> agreement on the countable rows: all, even rows, odd rows.

    Odd rows are held out: changes to the counter are judged on the even rows only.
    """
    row = torch.arange(len(eye))
    shares = {}
    for name, rows in (("all", row >= 0), ("even", row % 2 == 0), ("odd", row % 2 == 1)):
        countable = rows & (eye >= 0)
        shares[name] = (counted[countable] == eye[countable]).double().mean().item()
    return shares


def _agreement_text(shares):
    return ", ".join(f"{name} rows {share:.3f}" for name, share in shares.items())


def test_counter_agrees_with_the_eye_on_machine_samples(eye_and_counted):
    # The target is 0.9 on countable samples (the xfail below); this pins what the
    # counter reaches now (0.849 = 101 / 119: even rows 0.931, odd rows 0.770; 0.857 before
    # fingers were cut at grey level -0.4, which gained 4 tuning and 1 held-out hand) so that
    # it cannot slip back. Its 18 mistakes: 9 too few, 7 too many, 2 "no hand".
    eye, counted = eye_and_counted
    shares = _agreement(eye, counted)
    assert shares["all"] >= 0.845, f"agreement with eye labels on countable samples: {_agreement_text(shares)}"
    countable = eye >= 0
    refused = (counted[~countable] == NOT_A_HAND).double().mean().item()
    assert refused >= 0.65, f"only {refused:.3f} of not-countable samples get {NOT_A_HAND}"


def _second_labels():
    """The second, blind labeller's (208,) int64 counts of the same rows, -1 = not countable."""
    return read_eye_labels("hand_eye_labels_second.csv", "fingers_by_eye_second")[1]


def test_counter_on_the_rows_both_labellers_count_alike(eye_and_counted):
    # The rows where both people count the same number are the least disputable labels;
    # the counter reaches 0.906 there (96 / 106: even rows 0.981, odd rows 0.830).
    eye, counted = eye_and_counted
    consensus = agreement_with_the_eye(counted, eye, _second_labels())["consensus"]
    assert int(consensus.sum()) >= 100
    shares = _agreement(torch.where(consensus, eye, NOT_COUNTABLE), counted)
    assert shares["all"] >= 0.9, f"agreement on the consensus rows: {_agreement_text(shares)}"


def _labelled_twice(samples, first_csv, second_csv):
    """A fixture two people labelled -> (images, first person's counts, second's, rows), -1 = not countable."""
    rows, first = read_eye_labels(first_csv, "fingers_by_eye")
    _, second = read_eye_labels(second_csv, "fingers_by_eye_second")
    return load_eye_labelled_images(samples), first, second, rows


def _covers_every_machine(images, rows, n):
    assert images.shape == (len(rows), 1, 24, 24) == (n, 1, 24, 24)
    assert {"IS", "LS k=3", "ELS k=11", "CNN", "hands-unet-zeros", "hands-unet-attn"} <= {r["source"] for r in rows}


def _held_out():
    """The 112 held-out samples (see _labelled_twice)."""
    return _labelled_twice("hand_heldout_samples.npz", "hand_heldout_labels.csv",
                           "hand_heldout_labels_second.csv")


def test_counter_on_the_held_out_samples():
    # Samples no change to the counter was tuned on (fresh noise; every machine and network),
    # labelled by two people blind to each other and to the counter. They agree on the count
    # for 0.825 of the 63 both call countable, and on each of the 34 rows both marked sure;
    # on the 52 rows where they agree the counter reaches 0.827 (43 / 52; 0.75 before wide
    # fingers left in the palm were counted, 0.788 before small hands were, 0.808 before
    # fingers were cut at grey level -0.4), near the odd rows of the first fixture (0.830):
    # what the counter is worth on samples it was not tuned on.
    images, first, second, rows = _held_out()
    _covers_every_machine(images, rows, 112)
    agreement = agreement_with_the_eye(count_fingers(images), first, second)
    assert int(agreement["consensus"].sum()) >= 50
    assert agreement["counter"] >= 0.82, f"agreement on the held-out consensus rows: {agreement['counter']:.3f}"


def _tuning():
    """The 336 tuning samples (see _labelled_twice); both people's labels in one CSV."""
    return _labelled_twice("hand_tuning_samples.npz", "hand_tuning_labels.csv", "hand_tuning_labels.csv")


def test_counter_on_the_tuning_samples():
    # Labelled blind by two more people (2026-12-02) so that changes could be tuned on more
    # than the 53 even rows: 0.747 on the first 168 before any change was tuned on them, and
    # 0.755 on the second 168 before they were used (0.775 with the changes settled on the
    # first 168). Now 0.863 on the 197 rows both count alike (0.843 before fingers were cut
    # at grey level -0.4); 0.81 of the 90 both call not countable get -1.
    images, first, second, rows = _tuning()
    _covers_every_machine(images, rows, 336)
    counted = count_fingers(images)
    agreement = agreement_with_the_eye(counted, first, second)
    assert agreement["both"] >= 200 and agreement["counter"] >= 0.86, agreement["counter"]
    neither = (first < 0) & (second < 0)
    refused = (counted[neither] == NOT_A_HAND).double().mean().item()
    assert refused >= 0.8, f"only {refused:.3f} of the rows both call not countable get {NOT_A_HAND}"


def test_counter_on_the_hands_people_are_sure_of():
    # Where both people give the same count and mark it sure (the first fixture's first
    # labeller marked no confidence: there, the second's), the counter almost always agrees:
    # 52 / 54, held out 12 / 12, tuning 97 / 101. Its remaining errors sit on hands the
    # people themselves find ambiguous.
    images, eye, _ = _eye_labelled()
    second_rows, second = read_eye_labels("hand_eye_labels_second.csv", "fingers_by_eye_second")
    held_images, held_first, held_second, held_rows = _held_out()
    held_second_rows = read_eye_labels("hand_heldout_labels_second.csv", "fingers_by_eye_second")[0]
    tuning_images, tuning_first, tuning_second, tuning_rows = _tuning()
    sets = {
        "first fixture": (images, eye, second, marked_sure(second_rows)),
        "held out": (held_images, held_first, held_second,
                     marked_sure(held_rows) & marked_sure(held_second_rows)),
        "tuning": (tuning_images, tuning_first, tuning_second,
                   marked_sure(tuning_rows) & marked_sure(tuning_rows, "confidence_second")),
    }
    for name, (images, first, other, sure) in sets.items():
        rows = sure & (first >= 0) & (first == other)
        right = (count_fingers(images[rows]) == first[rows]).double().mean().item()
        assert int(rows.sum()) >= 12 and right >= 0.95, f"{name}: {right:.3f} of {int(rows.sum())} sure rows"


def test_agreement_helpers_count_a_refusal_as_a_miss():
    first, second = torch.tensor([5, 4, -1, 6]), torch.tensor([5, 5, 4, -1])
    counted = torch.tensor([5, -1, 4, 6])
    assert agreement_on_countable(counted, first) == pytest.approx(2 / 3)  # row 2: not countable
    assert agreement_on_countable(second, first) == pytest.approx(1 / 3)
    assert scored_like_the_counter(counted, first, second) == pytest.approx(
        {"second_by_first": 1 / 3, "counter_by_first": 2 / 3,
         "first_by_second": 1 / 3, "counter_by_second": 2 / 3})
    both = agreement_with_the_eye(counted, first, second)
    assert (both["both"], both["people"], both["counter"]) == (2, 0.5, 1.0)
    assert both["consensus"].tolist() == [True, False, False, False]


def test_counter_scores_between_two_people_scored_the_same_way():
    # Lesson 08's baseline for the bar below: each person scored as the counter is, against
    # the other's labels on every hand the other could count. First fixture: the second
    # person 0.891 by the first's labels, the first 0.774 by the second's, the counter 0.849
    # and 0.832; held out: people 0.825 and 0.627, counter 0.714 and 0.771. No person reaches
    # 0.9 by the other's labels. (Tuning set: people 0.853 and 0.821, counter 0.814 and 0.767.)
    images, first, second, _ = _labelled_twice("hand_eye_samples.npz", "hand_eye_labels.csv",
                                               "hand_eye_labels_second.csv")
    held_images, held_first, held_second, _ = _held_out()
    for name, images, first, second in (("first fixture", images, first, second),
                                         ("held out", held_images, held_first, held_second)):
        scores = scored_like_the_counter(count_fingers(images), first, second)
        people = (scores["second_by_first"], scores["first_by_second"])
        counter = (scores["counter_by_first"], scores["counter_by_second"])
        assert max(people) < 0.9, f"{name}: people {people}"
        assert all(min(people) <= share <= max(people) for share in counter), \
            f"{name}: the counter {counter} outside the people's {people}"


@pytest.mark.xfail(strict=True, reason=(
    "issue 19's bar is 0.9 agreement with one person's eye labels on every hand that person "
    "could count; the counter reaches 0.849 (0.906 where two people agree, 0.827 on held-out "
    "samples, 0.96-1.0 on hands the people marked sure). Scored the same way, against one "
    "person's labels, the other person reaches 0.891 and 0.774 here, 0.825 and 0.627 held out, "
    "0.853 and 0.821 on tuning: the bar lies above what either person reaches by the other's "
    "labels (test_counter_scores_between_two_people_scored_the_same_way). Tried and "
    "not landed (2026-12): thresholds, valley depths and palm sizes (0.75-0.82, or broke the "
    "digit, refusal and degraded-hand tests), an angular-profile counter (0.77), small CNNs "
    "trained on degraded synthetic hands (0.80 on consensus rows, held-out odd rows 0.72), "
    "faint fingers at grey level -0.5 for counting and for seeing a hand (lost digits and odd "
    "rows), geodesic distances for forks (no change), a vote over 27 settings of threshold, "
    "valley depth and cut radius (no change: only 2 of the 18 mistakes here get the eye's "
    "count at any of them), "
    "dropping finger pieces that reach less than 2-3 units or are small beside a neighbour "
    "(tuning 0.797-0.858 vs 0.863), a CNN trained on the 287 tuning rows both people label "
    "alike plus 1,500 degraded drawn hands (0.798 here, 0.846 held out vs 0.827; it is also "
    "wrong on 15 of the counter's 18 mistakes here and on 6 of its 9 held out: the same "
    "hands defeat both). Landed: wide fingers left in the palm, "
    "the wrist, forked and broken fingers, small hands, deeper valleys (0.765 -> 0.857), "
    "fingers cut at -0.4 with hands still seen at -0.2 (tuning 0.843 -> 0.863, held out "
    "0.808 -> 0.827, first fixture 0.857 -> 0.849)"))
def test_counter_meets_the_eye_agreement_bar(eye_and_counted):
    shares = _agreement(*eye_and_counted)
    assert shares["all"] >= 0.9, f"agreement with eye labels on countable samples: {_agreement_text(shares)}"


def _blur(images, sigma):
    """(B, 1, H, W) -> the same images blurred by a Gaussian of ``sigma`` pixels."""
    offsets = torch.arange(-2, 3, dtype=torch.float32)
    g = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    return F.conv2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel)


def _degrade(kind, x):
    """(B, 1, 24, 24) clean hands -> the same hands blurred, noisy, with faint fingers or broken strokes."""
    if kind == "blurred":
        return _blur(x, 0.6)
    if kind == "noisy":
        gen = torch.Generator().manual_seed(5)
        return (x + 0.25 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    if kind == "faint fingers":  # the top rows, where the fingers are, at half contrast
        return torch.where(torch.arange(24).view(1, 1, 24, 1) < 13, (x - 1) / 2 + 0.1, x)
    broken = x.clone()
    broken[..., 9, :] = -1  # one row of background across every finger
    return broken


@pytest.mark.parametrize("kind, floor", [
    # since 2026-12-02 (broken and forked fingers, deeper valleys, fingers cut at -0.4):
    # blurred 0.96 -> 0.99, broken strokes 0.52 -> 0.96, faint fingers 0.83 -> 1.0
    ("blurred", 0.9), ("noisy", 0.9), ("faint fingers", 0.9), ("broken strokes", 0.9),
])
def test_counter_on_degraded_hands(kind, floor):
    x, c = make_hands(120, fingers=range(3, 8), seed=77, size=24)
    accuracy = (count_fingers(_degrade(kind, x)) == c).double().mean().item()
    assert accuracy >= floor, f"{kind}: {accuracy:.3f} of hands counted right"
