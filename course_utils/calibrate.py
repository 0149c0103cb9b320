"""Calibrate a machine's patch-size schedule k(t) against a network (Kamb & Ganguli, sec. 5).

Run the network's own reverse DDIM trajectory from a few noise seeds; at every step
compare the network's noise prediction with the machine's for each candidate k
(cosine similarity); keep per step the median over seeds of the best k.

A schedule file lists ``schedule[i - 1]``, the k for the update that starts at
t = i / steps (the official calibration script stores it one step off);
``scores.PatchSchedule.from_steps`` turns it into a function of the noise level.

    python -m course_utils.calibrate --model digits-resnet-zeros --seeds 100-107

writes ``course_utils/checkpoints/NAME.schedule.json`` (ELS and LS schedules). Every
finished (machine, k) column of the similarity table is saved (``course_utils.state``):
at 32 x 32 a calibration takes hours, and the same command run again continues it.
"""
import json
import math
import sys

import torch

from . import cli
from . import state as state_files
from .checkpoints import Checkpoint
from .cli import seed_noise
from .diffusion import Trajectory, ddim_sample, eps_from_denoised
from .files import tensor_sha256, write_text
from .models import as_denoiser
from .progress import progress
from .scores import clear_cache, machine

# Below this spread every k explains the network equally well (at b = 1 all machines
# predict eps = x exactly): such a step carries no information about k.
TIE_TOLERANCE = 1e-9


def cosine_similarity(a, b):
    """(B, ...) and (B, ...) -> (B,) float64 cosine similarity of the flattened samples."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)


def reference_eps(reference, noise, steps=20):
    """Follow ``reference`` from ``noise`` (B, C, H, W): (path, its eps_hat per level, t = 1 -> 0)."""
    path = Trajectory()
    ddim_sample(reference, noise, steps, callback=path)
    levels = path.noise_vars.tolist()
    return path, [eps_from_denoised(path.x[j], path.denoised[j], levels[j]) for j in range(steps)]


def similarity_column(path, eps_ref, denoiser):
    """(steps, B) cosine similarity of eps_hat of ``denoiser`` vs the reference along its path.

    Row i - 1 is the step starting at t = i / steps (the path runs t = 1 -> 0).
    """
    steps, levels = len(eps_ref), path.noise_vars.tolist()
    column = torch.empty(steps, eps_ref[0].shape[0], dtype=torch.float64)
    for j in range(steps):
        eps_k = eps_from_denoised(path.x[j], denoiser(path.x[j], levels[j]), levels[j])
        column[steps - 1 - j] = cosine_similarity(eps_ref[j], eps_k)
    return column


def similarity_table(reference, machines, noise, steps=20, progress_bar=None):
    """(steps, K, B) cosine similarity of eps_hat: ``reference`` vs each of ``machines``.

    reference(x, b) -> E[x0 | x] is followed along its own trajectory from ``noise``
    (B, C, H, W); ``machines`` maps each candidate k to its denoiser(x, b); row i - 1
    is the step starting at t = i / steps.
    """
    path, eps_ref = reference_eps(reference, noise, steps)
    # k in the outer loop: a machine may cache what it prepares per patch size
    columns = [similarity_column(path, eps_ref, denoiser)
               for denoiser in progress(list(machines.values()), desc="calibrating",
                                        enabled=progress_bar)]
    return torch.stack(columns, dim=1)


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


def _check_ks(ks):
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 or k % 2 == 0 for k in ks):
        raise ValueError(f"ks must be odd positive patch sizes, e.g. 3,5,...,15; got {ks}")
    return ks


def _result(table, ks):
    best = best_patch_sizes(table, ks)
    return {"schedule": median_schedule(best), "ks": ks, "best": best, "similarity": table}


def calibrate(reference, machine_for_k, noise, ks, steps=20, progress_bar=None):
    """Calibrate k(t): dict(schedule (steps,) ints, ks, best (steps, B), similarity (steps, K, B)).

    machine_for_k(k) -> the machine's denoiser(x, b) at patch size k.
    """
    ks = _check_ks(ks)
    table = similarity_table(reference, {k: machine_for_k(k) for k in ks}, noise, steps,
                             progress_bar)
    return _result(table, ks)


def calibrate_model(model, train, boundary, seeds, ks, steps=20, machines=("els", "local"),
                    partial=None, progress_bar=None):
    """Schedules of each machine in ``machines`` for ``model``: {name: calibrate(...) dict}.

    ``partial``: a state file of finished (machine, k) columns, saved after each one; the
    columns found there are not computed again. A file saved for other weights, data or
    settings raises UsageError.
    """
    ks = _check_ks(ks)
    noise = seed_noise(seeds, train.shape[1:])
    want = state_files.fingerprint(seeds=[int(s) for s in seeds], ks=ks, steps=steps,
                                   boundary=boundary, machines=list(machines),
                                   weights_sha256=tensor_sha256(model.state_dict()),
                                   data_sha256=tensor_sha256({"train": train}),
                                   data_shape=list(train.shape))
    done = (state_files.load(partial, want) if partial else None) or {}
    path, eps_ref = reference_eps(as_denoiser(model), noise, steps)
    todo = [(name, k) for name in machines for k in ks if f"{name}/{k}" not in done]
    # one machine at a time, k by k: a machine caches what it prepares per patch size
    for name, k in progress(todo, desc="calibrating", enabled=progress_bar):
        clear_cache()  # the previous k's banks are not needed again; at 32 x 32 they take gigabytes
        done[f"{name}/{k}"] = similarity_column(path, eps_ref, machine(name, train, k, boundary))
        if partial:
            state_files.save(partial, want, done)
    return {name: _result(torch.stack([done[f"{name}/{k}"] for k in ks], dim=1), ks)
            for name in machines}


def parser():
    p = cli.Parser(prog="python -m course_utils.calibrate", description=__doc__.split("\n")[0],
                   epilog=state_files.HELP)
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
    partial = state_files.state_file("calibrate", out)
    results = calibrate_model(checkpoint.model(), checkpoint.train_data(), checkpoint.boundary,
                              args.seeds, ks, args.steps, partial=partial)
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
    state_files.discard(partial)
    print(f"wrote {out}: ELS k(t) {payload['schedules']['els']}, LS k(t) {payload['schedules']['ls']}")


def main(argv=None):
    return cli.run(_calibrate, parser(), argv, interrupted=state_files.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
