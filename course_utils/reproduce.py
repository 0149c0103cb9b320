"""Reproduce the paper's headline comparison: network vs ELS / LS / IS from the same noise.

    python -m course_utils.reproduce --model digits-resnet-zeros --seeds 0-99 --out results.pt

For every seed, four deterministic 20-step DDIM samples start from the same noise: the
network's, the ELS and LS machines' (with the model's calibrated k(t)) and the ideal
machine's. Per seed, Pearson r of each machine's sample with the network's (whole
image mean-centred, as in the paper). Seeds run in batches; after each batch the
finished seeds are saved (see ``course_utils.state``), so re-running the command, with
the same or more seeds, continues where it stopped. The saved seeds are tied to the
network's weights, the data, the schedules, steps and boundary; not to --batch, which
changes no result beyond float rounding. ``--train-count N`` builds the machines on the
first N training images only (the stored order is shuffled, so every class keeps its
share) while the network stays the one trained on all: how much the machines' agreement
depends on the size of the training set.
"""
import sys

import torch

from . import cli
from . import state as state_files
from .checkpoints import Checkpoint
from .cli import seed_noise
from .diffusion import ddim_sample
from .files import save_torch, tensor_sha256
from .metrics import pearson_r
from .models import as_denoiser
from .progress import progress
from .scores import machine

MACHINES = ("els", "ls", "ideal")
# the paper's Table 1: median r of ELS / LS / IS with each network (32x32, 150 sampling steps)
PAPER_MEDIAN_R = {"MNIST ResNet zeros": (.94, .82, .61),
                  "MNIST ResNet circular": (.77, .36, .15),
                  "FashionMNIST ResNet zeros": (.94, .88, .68),
                  "CIFAR10 ResNet zeros": (.95, .90, .42),
                  "CelebA ResNet zeros": (.96, .90, .47),
                  "MNIST UNet zeros": (.89, .88, .70),
                  "FashionMNIST UNet zeros": (.93, .93, .80),
                  "CIFAR10 UNet zeros": (.90, .87, .41),
                  "CelebA UNet zeros": (.85, .90, .55),
                  "CIFAR10 UNet + self-attention": (.77, .77, .48)}


def sample_all(model, train, boundary, noise, els_schedule, ls_schedule, steps=20):
    """(B, C, H, W) noise -> dict of (B, C, H, W) final samples: cnn, els, ls, ideal."""
    return {"cnn": ddim_sample(as_denoiser(model), noise, steps),
            "els": ddim_sample(machine("els", train, els_schedule, boundary), noise, steps),
            "ls": ddim_sample(machine("local", train, ls_schedule, boundary), noise, steps),
            "ideal": ddim_sample(machine("ideal", train), noise, steps)}


def reproduce(model, train, boundary, seeds, els_schedule, ls_schedule, steps=20, batch=8,
              partial=None, progress_bar=None):
    """Samples and per-seed r for ``seeds``: the dict the CLI saves.

    ``partial``: a state file of finished seeds, kept up to date after every batch;
    seeds found there are not sampled again (a longer seed list continues a shorter
    one). A file saved for other weights, data or settings raises ValueError.
    """
    seeds = [int(s) for s in seeds]
    settings = {"steps": steps, "els_schedule": list(els_schedule.ks),
                "ls_schedule": list(ls_schedule.ks), "boundary": boundary}
    want = state_files.fingerprint(**settings, weights_sha256=tensor_sha256(model.state_dict()),
                                   data_sha256=tensor_sha256({"train": train}),
                                   data_shape=list(train.shape), noise_shape=list(train.shape[1:]))
    done = (state_files.load(partial, want) if partial else None) or {}
    todo = [s for s in seeds if s not in done]
    for start in progress(range(0, len(todo), batch), desc="seeds", enabled=progress_bar):
        chunk = todo[start:start + batch]
        samples = sample_all(model, train, boundary, seed_noise(chunk, train.shape[1:]),
                             els_schedule, ls_schedule, steps)
        for i, seed in enumerate(chunk):
            done[seed] = {name: value[i] for name, value in samples.items()}
        if partial:
            state_files.save(partial, want, done)
    samples = {name: torch.stack([done[s][name] for s in seeds]) for name in ("cnn", *MACHINES)}
    result = {**settings, "seeds": torch.tensor(seeds),
              "noise": seed_noise(seeds, train.shape[1:]), **samples}
    for name in MACHINES:
        result[f"r_{name}"] = pearson_r(samples[name], samples["cnn"])
    return result


def summary(result):
    """Median r per machine and the fraction of seeds where ELS beats IS (floats)."""
    return {"median_r_els": float(result["r_els"].median()),
            "median_r_ls": float(result["r_ls"].median()),
            "median_r_ideal": float(result["r_ideal"].median()),
            "els_beats_ideal": float((result["r_els"] > result["r_ideal"]).double().mean()),
            "seeds": len(result["seeds"])}


def comparison_table(results, paper):
    """{label: result}, {label: (paper's model, ELS, LS, IS)} -> text: our median r per machine beside the paper's."""
    width = max(len("ours"), *(len(label) for label in results))
    theirs_width = max(len("paper (32x32)"), *(len(p[0]) for p in paper.values()))
    lines = [f"{'ours':{width}s} {'ELS':>5s} {'LS':>5s} {'IS':>5s} {'ELS>IS':>6s} "
             f"{'seeds':>5s} | {'paper (32x32)':{theirs_width}s} {'ELS':>4s} {'LS':>4s} {'IS':>4s}"]
    for label, result in results.items():
        s = summary(result)
        model, *r = paper[label]
        lines.append(f"{label:{width}s} {s['median_r_els']:5.3f} {s['median_r_ls']:5.3f} "
                     f"{s['median_r_ideal']:5.3f} {100 * s['els_beats_ideal']:5.0f}% {s['seeds']:5d} | "
                     f"{model:{theirs_width}s} {r[0]:4.2f} {r[1]:4.2f} {r[2]:4.2f}")
    return "\n".join(lines)


def parser():
    p = cli.Parser(prog="python -m course_utils.reproduce", description=__doc__.split("\n")[0],
                   epilog=state_files.HELP)
    p.add_argument("--model", required=True, help="shipped checkpoint name")
    cli.add_seeds(p, "0-99", "seeds of the comparison")
    p.add_argument("--steps", type=cli.positive_int, default=20)
    p.add_argument("--batch", type=cli.positive_int, default=8,
                   help="seeds per batch (results do not depend on it)")
    p.add_argument("--train-count", type=cli.positive_int, default=None,
                   help="build the machines on the first N training images only (the network "
                        "keeps the weights it learnt from all of them)")
    cli.add_threads(p)
    p.add_argument("--out", required=True, help="results .pt file")
    return p


def _reproduce(args, argv):
    cli.set_threads(args.threads)
    out = cli.output_file(args.out)
    checkpoint = Checkpoint(args.model)
    els_k, ls_k = checkpoint.schedule("els"), checkpoint.schedule("ls")
    train = checkpoint.train_data()
    if args.train_count is not None:
        if args.train_count > len(train):
            raise cli.UsageError(f"--train-count {args.train_count}: {args.model} has only "
                                 f"{len(train)} training images; choose at most {len(train)}")
        train = train[:args.train_count]
    partial = state_files.state_file("reproduce", out)
    result = reproduce(checkpoint.model(), train, checkpoint.boundary,
                       args.seeds, els_k, ls_k, args.steps, args.batch, partial=partial)
    result["model"], result["train_count"] = args.model, len(train)
    save_torch(result, out)
    state_files.discard(partial)
    s = summary(result)
    print(f"wrote {out}: {s['seeds']} seeds, median r ELS {s['median_r_els']:.3f}, "
          f"LS {s['median_r_ls']:.3f}, IS {s['median_r_ideal']:.3f}; "
          f"ELS beats IS on {100 * s['els_beats_ideal']:.0f} % of seeds")


def main(argv=None):
    return cli.run(_reproduce, parser(), argv, interrupted=state_files.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
