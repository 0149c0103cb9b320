"""Lesson 08's precomputed hand samples: IS, LS, ELS (several patch sizes) and a CNN from the same noise.

    python -m course_utils.hands sample --out FILE

(the command keeps the name of the hands' module) samples every machine from
``sample_noise(n, seed)`` on the training hands (zero boundaries), seeded, and writes the
file atomically at the end; an interrupted run continues from its saved state
(``course_utils.state``). The file (``.npz``): ``x/LABEL`` uint8 images per machine
(``[-1, 1]`` in 1/127.5 steps) and ``meta``, a JSON string of config, machine labels,
command and CNN name; ``load_samples`` reads it back.
"""
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import cli
from . import state as state_files
from .checkpoints import Checkpoint
from .diffusion import ddim_sample
from .files import tensor_sha256, write_atomic
from .hands import DATASET_COUNTS, DATASET_SIZE, hand_dataset
from .models import as_denoiser
from .scores import machine


SAMPLES_FILE = Path(__file__).resolve().parent / "data" / "hands_samples.npz"
# Machine and network samples counted by eye (two labellers, blind to each other): 208 the
# counter was tuned beside, 336 it was tuned on, 112 held out from all tuning. Package data:
# lessons 08 and 09 read them wherever the course is installed, the tests pin the counter on them.
EYE_LABELS_DIR = Path(__file__).resolve().parent / "data" / "eye_labels"
NOT_COUNTABLE = -1  # a labeller's "not countable", compared with the counter's NOT_A_HAND


def _machine_denoiser(name, k, train, cnn):
    """The denoiser ``(x, b) -> D`` of machine "IS", "LS", "ELS" (patch size k, zero boundaries) or "CNN" (a model)."""
    if name == "CNN":
        return as_denoiser(cnn)
    kinds = {"IS": "ideal", "LS": "local", "ELS": "els"}
    if name not in kinds:
        raise ValueError(f"unknown machine {name!r}; choose IS, LS, ELS or CNN")
    return machine(kinds[name], train, k, "zeros")


def sample_noise(n, seed, size=DATASET_SIZE):
    """(n, 1, size, size) standard normal starting noise; sample i depends only on (seed, i)."""
    u = np.random.default_rng(int(seed)).standard_normal((int(n), 1, size, size))
    return torch.from_numpy(u).float()


def _quantise(images):
    """(B, 1, H, W) in [-1, 1] -> uint8: 1/255 steps are far below what the counter sees."""
    return np.round((images.clamp(-1, 1).numpy() + 1) * 127.5).astype(np.uint8)


def _write_samples(path, arrays, meta):
    """Write the uint8 sample arrays and their metadata to the .npz file ``path``, atomically."""
    payload = {**arrays, "meta": np.array(json.dumps(meta))}
    buffer = io.BytesIO()  # np.savez needs a seekable stream; the file is small
    np.savez_compressed(buffer, **payload)
    write_atomic(path, lambda stream: stream.write(buffer.getvalue()))


def load_samples(path=SAMPLES_FILE):
    """Precomputed samples -> (dict machine label -> (B, 1, H, W) float32 in [-1, 1], metadata dict)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no samples at {path}; make them with "
                         f"`python -m course_utils.hands sample --out {path}`")
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        samples = {label: torch.from_numpy(data[f"x/{label}"].astype(np.float32) / 127.5 - 1)
                   for label in meta["machines"]}
    return samples, meta


def read_eye_labels(name, column, directory=EYE_LABELS_DIR):
    """An eye-labels CSV -> its rows (dicts) and (N,) int64 counts in ``column``, NOT_COUNTABLE where "not countable"."""
    with open(Path(directory) / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows, torch.tensor([NOT_COUNTABLE if row[column] == "not countable" else int(row[column])
                               for row in rows])


def marked_sure(rows, column="confidence"):
    """Eye-label rows (dicts) -> (N,) bool: the labeller marked the row ``sure`` in ``column``."""
    return torch.tensor([row[column] == "sure" for row in rows])


def agreement_with_the_eye(counted, first, second):
    """(N,) counts and two people's (N,) labels (NOT_COUNTABLE = -1) -> dict of how they agree.

    ``people``: the share of the ``both`` rows both people call countable where they give
    the same count; ``consensus``: (N,) bool, those rows; ``counter``: the share of the
    consensus rows where ``counted`` gives that count too.
    """
    both = (first >= 0) & (second >= 0)
    consensus = both & (first == second)
    return {"both": int(both.sum()), "people": (first[both] == second[both]).double().mean().item(),
            "consensus": consensus,
            "counter": (counted[consensus] == first[consensus]).double().mean().item()}


def agreement_on_countable(counted, labels):
    """(N,) counts, one person's (N,) labels (NOT_COUNTABLE = -1) -> the share of the rows that
    person could count where ``counted`` gives the same count ("not countable" there is a miss).

    ``counted`` may be another person's labels: a second person scored as the counter is.
    """
    countable = labels >= 0
    return (counted[countable] == labels[countable]).double().mean().item()


def scored_like_the_counter(counted, first, second):
    """(N,) counts and two people's (N,) labels -> each person and the counter scored against the
    other person's labels by ``agreement_on_countable``: a dict of four shares."""
    return {"second_by_first": agreement_on_countable(second, first),
            "counter_by_first": agreement_on_countable(counted, first),
            "first_by_second": agreement_on_countable(first, second),
            "counter_by_second": agreement_on_countable(counted, second)}


def load_eye_labelled_images(name="hand_eye_samples.npz", directory=EYE_LABELS_DIR):
    """The eye-labelled samples ``name`` -> (N, 1, 24, 24) float32 in [-1, 1], in the rows' order."""
    with np.load(Path(directory) / name) as data:
        return torch.from_numpy(data["images"].astype(np.float32) / 127.5 - 1)


def _label(name, k):
    return name if name in ("IS", "CNN") else f"{name} k={k}"


def sample_machines(out, n=16, seed=0, steps=10, patch_sizes=(3, 5, 7, 11), cnn=None,
                    command=None, log=print, state_path=None):
    """Sample IS, LS and ELS (each patch size, zero boundaries) and optionally a CNN (a shipped
    checkpoint name) from the same noise; write ``out`` (atomic). ``state_path`` keeps the
    finished machines of an interrupted run (tied to all that determines them)."""
    if n < 1 or steps < 1:
        raise ValueError(f"n and steps must be >= 1 (got n={n}, steps={steps})")
    for k in patch_sizes:
        if k < 1 or k % 2 == 0:
            raise ValueError(f"patch size {k} must be odd and >= 1, e.g. 3 5 7 11")
    cnn_model = None
    if cnn:  # before any sampling: a wrong name must not cost the whole run
        cnn_model = Checkpoint(cnn).model()
    config = {"n": n, "seed": seed, "steps": steps, "dataset": "hands", "size": DATASET_SIZE,
              "train": DATASET_COUNTS["train"], "boundary": "zeros"}
    plan = [("IS", None)] + [("LS", k) for k in patch_sizes] + [("ELS", k) for k in patch_sizes]
    if cnn:
        plan.append(("CNN", cnn))
    train, _ = hand_dataset("train")
    noise = sample_noise(n, seed)
    want = state_files.fingerprint(
        **config, data_sha256=tensor_sha256({"train": train}), noise_shape=list(noise.shape),
        cnn=cnn, cnn_weights_sha256=tensor_sha256(cnn_model.state_dict()) if cnn else None)
    done = (state_files.load(state_path, want) if state_path else None) or {}
    for name, k in plan:
        label = _label(name, k)
        if label in done:
            continue
        log(f"sampling {label} ({n} samples, {steps} steps)")
        torch.manual_seed(seed)
        images = ddim_sample(_machine_denoiser(name, k, train, cnn_model), noise.clone(), steps)
        done[label] = torch.from_numpy(_quantise(images))
        if state_path:
            state_files.save(state_path, want, done)
    labels = [_label(name, k) for name, k in plan]
    meta = {"config": config, "machines": labels, "command": command, "cnn": cnn}
    _write_samples(out, {f"x/{label}": done[label].numpy() for label in labels}, meta)
    return meta


def parser():
    p = cli.Parser(prog="python -m course_utils.hands",
                   description="Procedural hands: precompute lesson 08's samples.",
                   epilog=state_files.HELP)
    sub = p.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="sample IS / LS / ELS / a CNN from the same noise",
                            epilog=state_files.HELP)
    sample.add_argument("--out", default=str(SAMPLES_FILE))
    sample.add_argument("--n", type=cli.positive_int, default=16)
    sample.add_argument("--seed", type=cli.seed, default=0)
    sample.add_argument("--steps", type=cli.positive_int, default=10)
    cli.add_patch_sizes(sample, "3,5,7,11")
    sample.add_argument("--cnn", default=None, help="a shipped checkpoint, e.g. hands-resnet-zeros")
    cli.add_threads(sample)
    return p


def _sample(args, argv):
    cli.set_threads(args.threads)
    out = cli.output_file(args.out)
    state_path = state_files.state_file("hands-sample", out)
    sample_machines(out, args.n, args.seed, args.steps, tuple(cli.patch_sizes(args)), args.cnn,
                    cli.command_line("python -m course_utils.hands", argv), state_path=state_path)
    state_files.discard(state_path)


def main(argv=None):
    return cli.run(_sample, parser(), argv, interrupted=state_files.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
