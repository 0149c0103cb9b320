"""Calibrate a machine's patch-size schedule k(t) against a network (Kamb & Ganguli, sec. 5).

Run the network's own reverse DDIM trajectory from a few noise seeds; at every step
compare the network's noise prediction with the machine's for each candidate k
(cosine similarity); keep per step the median over seeds of the best k.

A schedule file lists ``schedule[i - 1]``, the k for the update that starts at
t = i / steps (the official calibration script stores it one step off);
``scores.PatchSchedule.from_steps`` turns it into a function of the noise level.

    python -m course_utils.calibrate --model digits-resnet-zeros --seeds 100-107

writes ``course_utils/checkpoints/NAME.schedule.json`` (ELS and LS schedules). It keeps
no resumable state: STATE_NOTE says why.
"""
import json
import math
import sys

import torch

from . import cli
from .checkpoints import Checkpoint
from .cli import seed_noise
from .diffusion import Trajectory, ddim_sample, eps_from_denoised
from .files import write_text
from .models import as_denoiser
from .progress import progress
from .scores import machine

# Below this spread every k explains the network equally well (at b = 1 all machines
# predict eps = x exactly): such a step carries no information about k.
TIE_TOLERANCE = 1e-9


def cosine_similarity(a, b):
    """(B, ...) and (B, ...) -> (B,) float64 cosine similarity of the flattened samples."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)


def similarity_table(reference, machines, noise, steps=20, progress_bar=None):
    """(steps, K, B) cosine similarity of eps_hat: ``reference`` vs each of ``machines``.

    reference(x, b) -> E[x0 | x] is followed along its own trajectory from ``noise``
    (B, C, H, W); ``machines`` maps each candidate k to its denoiser(x, b); row i - 1
    is the step starting at t = i / steps.
    """
    path = Trajectory()
    ddim_sample(reference, noise, steps, callback=path)
    levels = path.noise_vars.tolist()  # t = 1 -> 0: level j is t = (steps - j) / steps
    eps_ref = [eps_from_denoised(path.x[j], path.denoised[j], levels[j]) for j in range(steps)]
    table = torch.empty(steps, len(machines), noise.shape[0], dtype=torch.float64)
    # k in the outer loop: a machine may cache what it prepares per patch size
    for col, denoiser in enumerate(progress(list(machines.values()), desc="calibrating",
                                            enabled=progress_bar)):
        for j in range(steps):
            eps_k = eps_from_denoised(path.x[j], denoiser(path.x[j], levels[j]), levels[j])
            table[steps - 1 - j, col] = cosine_similarity(eps_ref[j], eps_k)
    return table


def best_patch_sizes(table, ks):
    """(steps, K, B) similarities -> (steps, B) float best k per step and seed; NaN where all k tie."""
    ks = torch.as_tensor(list(ks), dtype=torch.float64)
    best = ks[table.argmax(dim=1)]
    tied = (table.amax(dim=1) - table.amin(dim=1)) <= TIE_TOLERANCE
    return best.masked_fill(tied, math.nan)


def median_schedule(best):
    """(steps, B) best k per seed -> (steps,) list of ints: the (lower) median over seeds.

    Steps where every seed tied take the value of the nearest informative step (ties
    towards lower noise).
    """
    med = best.nanmedian(dim=1).values
    informative = [i for i in range(len(med)) if not math.isnan(med[i])]
    if not informative:
        raise ValueError("no step distinguishes the patch sizes; give more or different ks")
    return [int(med[min(informative, key=lambda j: (abs(j - i), j))]) for i in range(len(med))]


def calibrate(reference, machine_for_k, noise, ks, steps=20, progress_bar=None):
    """Calibrate k(t): dict(schedule (steps,) ints, ks, best (steps, B), similarity (steps, K, B)).

    machine_for_k(k) -> the machine's denoiser(x, b) at patch size k.
    """
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 or k % 2 == 0 for k in ks):
        raise ValueError(f"ks must be odd positive patch sizes, e.g. 3,5,...,15; got {ks}")
    table = similarity_table(reference, {k: machine_for_k(k) for k in ks}, noise, steps,
                             progress_bar)
    best = best_patch_sizes(table, ks)
    return {"schedule": median_schedule(best), "ks": ks, "best": best, "similarity": table}


def calibrate_model(model, train, boundary, seeds, ks, steps=20, machines=("els", "local"),
                    progress_bar=None):
    """Schedules of each machine in ``machines`` for ``model``: {name: calibrate(...) dict}."""
    noise = seed_noise(seeds, train.shape[1:])
    reference = as_denoiser(model)
    return {name: calibrate(reference, lambda k, name=name: machine(name, train, k, boundary),
                            noise, ks, steps, progress_bar)
            for name in machines}


# Why no resumable state: a third of reproduce's machine evaluations (8 seeds x 7 sizes x
# 2 machines x 20 steps, against 100 seeds x 3 machines x 20 steps), and its result is
# one small file; an interrupted calibration is simply run again.
STATE_NOTE = "Keeps no resumable state: an interrupted calibration is run again from the start."


def parser():
    p = cli.Parser(prog="python -m course_utils.calibrate", description=__doc__.split("\n")[0],
                   epilog=STATE_NOTE)
    p.add_argument("--model", required=True, help="shipped checkpoint name")
    cli.add_seeds(p, "100-107", "kept apart from the seeds 0-99 of the comparison")
    cli.add_patch_sizes(p, "3-15:2", "--ks")
    p.add_argument("--steps", type=cli.positive_int, default=20)
    cli.add_threads(p)
    p.add_argument("--out", default=None, help="default: NAME.schedule.json in the checkpoint folder")
    return p


def _calibrate(args, argv):
    cli.set_threads(args.threads)
    checkpoint = Checkpoint(args.model)
    out = cli.output_file(args.out or checkpoint.schedule_path)
    ks = cli.patch_sizes(args)
    results = calibrate_model(checkpoint.model(), checkpoint.train_data(), checkpoint.boundary,
                              args.seeds, ks, args.steps)
    names = {"els": "els", "local": "ls"}
    payload = {"model": args.model, "steps": args.steps, "seeds": args.seeds, "ks": ks,
               "boundary": checkpoint.boundary,
               "index": "schedule[i - 1] is k for the DDIM update starting at t = i / steps",
               "schedules": {names[name]: r["schedule"] for name, r in results.items()},
               "best_per_seed": {names[name]: [[None if math.isnan(v) else int(v) for v in row]
                                               for row in r["best"].tolist()]
                                 for name, r in results.items()},
               "command": cli.command_line("python -m course_utils.calibrate", argv)}
    write_text(out, json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}: ELS k(t) {payload['schedules']['els']}, LS k(t) {payload['schedules']['ls']}")


def main(argv=None):
    return cli.run(_calibrate, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
