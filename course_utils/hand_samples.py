"""Lesson 08's precomputed hand samples: IS, LS, ELS (several patch sizes) and a CNN from the same noise.

    python -m course_utils.hands sample --out FILE

(the command keeps the name of the hands' module) samples every machine from
``sample_noise(n, seed)`` on the training hands (zero boundaries), seeded, and writes
after each machine (atomically) so that an interrupted run resumes. The file (``.npz``): ``x/LABEL`` uint8 images per machine (``[-1, 1]`` in
1/127.5 steps) and ``meta``, a JSON string of config, machine labels, command and CNN
name; ``load_samples`` reads it back.
"""
import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from .checkpoints import Checkpoint
from .diffusion import ddim_sample
from .hands import DATASET_COUNTS, DATASET_SIZE, hand_dataset
from .models import as_denoiser
from .scores import machine

SAMPLES_FILE = Path(__file__).resolve().parent / "data" / "hands_samples.npz"


def _machine_denoiser(name, k, train, cnn):
    """The denoiser ``(x, b) -> D`` of machine "IS", "LS", "ELS" (patch size k, zero boundaries) or "CNN"."""
    if name == "CNN":
        return as_denoiser(Checkpoint(cnn).model())
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


def _save_atomic(path, arrays):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is a shipped data file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


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


def sample_machines(out, n=16, seed=0, steps=10, patch_sizes=(3, 5, 7, 11), cnn=None,
                    command=None, log=print):
    """Sample IS, LS and ELS (each patch size, zero boundaries) and optionally a CNN from the
    same noise; write ``out`` after each machine (atomic), skipping machines it already holds."""
    if n < 1 or steps < 1:
        raise ValueError(f"n and steps must be >= 1 (got n={n}, steps={steps})")
    for k in patch_sizes:
        if k < 1 or k % 2 == 0:
            raise ValueError(f"patch size {k} must be odd and >= 1, e.g. 3 5 7 11")
    config = {"n": n, "seed": seed, "steps": steps, "dataset": "hands", "size": DATASET_SIZE,
              "train": DATASET_COUNTS["train"], "boundary": "zeros"}
    plan = [("IS", None)] + [("LS", k) for k in patch_sizes] + [("ELS", k) for k in patch_sizes]
    if cnn:
        plan.append(("CNN", cnn))
    arrays, meta = {}, {"config": config, "machines": [], "command": command, "cnn": None}
    if Path(out).exists():
        with np.load(out) as data:
            old = json.loads(str(data["meta"]))
            if old["config"] == config:
                arrays = {key: data[key] for key in data.files if key != "meta"}
                meta["machines"] = old["machines"]
                meta["cnn"] = old.get("cnn")
    train, _ = hand_dataset("train")
    noise = sample_noise(n, seed)
    for name, k in plan:
        label = name if name in ("IS", "CNN") else f"{name} k={k}"
        if label in meta["machines"]:
            continue
        log(f"sampling {label} ({n} samples, {steps} steps)")
        torch.manual_seed(seed)
        images = ddim_sample(_machine_denoiser(name, k, train, cnn), noise.clone(), steps)
        arrays[f"x/{label}"] = _quantise(images)
        meta["machines"].append(label)
        if name == "CNN":
            meta["cnn"] = cnn
        _save_atomic(out, {**arrays, "meta": np.array(json.dumps(meta))})
    return meta


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.hands",
                                     description="Procedural hands: precompute lesson 08's samples.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="sample IS / LS / ELS / a CNN from the same noise")
    sample.add_argument("--out", default=str(SAMPLES_FILE))
    sample.add_argument("--n", type=int, default=16)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--steps", type=int, default=10)
    sample.add_argument("--patch-sizes", type=int, nargs="+", default=[3, 5, 7, 11])
    sample.add_argument("--cnn", default=None, help="a shipped checkpoint, e.g. hands-resnet-zeros")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    command = "python -m course_utils.hands " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        sample_machines(args.out, args.n, args.seed, args.steps, tuple(args.patch_sizes),
                        args.cnn, command)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0

