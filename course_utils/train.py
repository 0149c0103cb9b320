"""Train a small noise-predicting diffusion model; seeded, resumable, with a manifest.

    python -m course_utils.train --data digits --arch resnet --padding zeros \\
        --steps 2500 --out digits-resnet-zeros

writes ``course_utils/checkpoints/NAME.pt`` (config + EMA weights, float32) and
``NAME.json`` (sha256, full command, data, seed, steps, final loss, wall time), each to
a temporary name first, then renamed. The training state (weights, optimizer, random
generator, step) is saved every ``--save-every`` steps (see ``course_utils.state``);
running the same command again continues from there and gives the same weights as an
uninterrupted run. The state is tied to the data, batch, seed, learning rate and
model: another run of the same NAME refuses it rather than mix the two.
"""
import copy
import json
import sys
import time
from pathlib import Path

import torch

from . import cli
from . import state as state_files
from .checkpoints import DIRECTORY as CHECKPOINT_DIR
from .data import load_dataset
from .diffusion import add_noise, cosine_noise_var
from .files import save_torch, sha256, tensor_sha256, write_text
from .models import MAX_NOISE_VAR, build_model
from .progress import progress

EMA_DECAY = 0.999


def model_config(arch, channels, padding, depth=5, width=64, attention=False):
    """The ``build_model`` config for the command-line choices."""
    if arch == "resnet":
        if attention:
            raise ValueError("--attention is for --arch unet; the ResNet has no attention block")
        return {"arch": "resnet", "channels": channels, "width": width, "depth": depth,
                "padding": padding}
    if arch == "unet":
        least = 8 if attention else 2  # halved to the first level; attention: 8 norm groups
        if width < least or width % least:
            raise ValueError(f"--width {width}: a UNet{' with attention' if attention else ''} "
                             f"needs a multiple of {least}, e.g. 64")
        return {"arch": "unet", "channels": channels, "widths": [width // 2, width, width],
                "padding": padding, "attention": attention}
    raise ValueError(f"--arch must be 'resnet' or 'unet', not {arch!r}")


def noise_prediction_loss(model, x0, noise_var, eps):
    """(B, C, H, W) clean, (B,) noise variances, (B, C, H, W) noise -> scalar MSE of model's eps_hat."""
    return (model(add_noise(x0, noise_var, eps), noise_var) - eps).pow(2).mean()


def training_loss(model, x0, gen, loss=noise_prediction_loss):
    """``loss`` at random levels t ~ U(0, 1) (b clamped like the wrapper) and random noise."""
    t = torch.rand(x0.shape[0], generator=gen, dtype=torch.float64)
    b = cosine_noise_var(t).clamp(max=MAX_NOISE_VAR).float()
    eps = torch.randn(x0.shape, generator=gen)
    return loss(model, x0, b, eps)


def fresh_state(config, seed, lr):
    """Step-0 training state: model, EMA copy, Adam, data generator, loss log."""
    torch.manual_seed(seed)  # parameter initialisation
    model = build_model(config)
    return {"config": config, "seed": seed, "lr": lr, "step": 0, "wall_s": 0.0,
            "model": model, "ema": copy.deepcopy(model),
            "opt": torch.optim.Adam(model.parameters(), lr=lr),
            "gen": torch.Generator().manual_seed(seed + 1), "losses": []}


def state_payload(state):
    """What a resumable state saves of a training state (tensors, numbers, lists)."""
    return {"step": state["step"], "wall_s": state["wall_s"], "losses": state["losses"],
            "model": state["model"].state_dict(), "ema": state["ema"].state_dict(),
            "opt": state["opt"].state_dict(), "gen": state["gen"].get_state()}


def run_fingerprint(config, seed, lr, batch, data_name, images, ema_decay=EMA_DECAY):
    """All that determines a training run's weights but its length: a longer run continues a shorter one."""
    return state_files.fingerprint(config=config, seed=seed, lr=lr, batch=batch,
                                   ema_decay=ema_decay, data=data_name,
                                   data_shape=list(images.shape),
                                   data_sha256=tensor_sha256({"images": images}))


def load_state(path, want):
    """The training state saved at ``path`` by a run with fingerprint ``want``, or None if none is saved."""
    payload = state_files.load(path, want)
    if payload is None:
        return None
    state = fresh_state(want["config"], want["seed"], want["lr"])
    state["model"].load_state_dict(payload["model"])
    state["ema"].load_state_dict(payload["ema"])
    state["opt"].load_state_dict(payload["opt"])
    state["gen"].set_state(payload["gen"])
    state.update(step=payload["step"], wall_s=payload["wall_s"], losses=list(payload["losses"]))
    return state


def train_steps(state, data, until, batch=128, ema_decay=EMA_DECAY, save_every=None, save=None,
                progress_bar=None, loss=noise_prediction_loss):
    """Advance ``state`` to step ``until`` (in place); call ``save(state)`` every ``save_every`` steps.

    ``loss(model, x0, noise_var, eps) -> scalar`` is what each step minimises (lesson 06 passes
    the learner's own).
    """
    model, ema, opt, gen = state["model"], state["ema"], state["opt"], state["gen"]
    model.train()
    start = time.perf_counter()
    wall0 = state["wall_s"]
    bar = progress(range(state["step"], until), total=until - state["step"], desc="training",
                   enabled=progress_bar)
    for step in bar:
        x0 = data[torch.randint(len(data), (batch,), generator=gen)]
        value = training_loss(model, x0, gen, loss)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        with torch.no_grad():
            # a short run: warm the average up so early weights do not dominate it
            decay = min(ema_decay, (1 + step) / (10 + step))
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - decay)
        state["losses"].append(value.item())
        state["step"] = step + 1
        state["wall_s"] = wall0 + time.perf_counter() - start
        if hasattr(bar, "set_postfix") and step % 20 == 0:
            bar.set_postfix(loss=f"{value.item():.4f}")
        if save and save_every and state["step"] % save_every == 0:
            save(state)
    return state


def write_checkpoint(state, out, manifest_extra):
    """Write ``out`` (.pt: config + EMA weights) and its manifest ``out`` .json; returns the manifest."""
    out = Path(out)
    save_torch({"config": state["config"],
                "state_dict": {k: v.float() for k, v in state["ema"].state_dict().items()}}, out)
    tail = state["losses"][-100:]
    manifest = {"name": out.stem, "file": out.name, "sha256": sha256(out),
                "config": state["config"], "seed": state["seed"], "steps": state["step"],
                "lr": state["lr"], "final_loss": round(sum(tail) / max(len(tail), 1), 5),
                "wall_time_s": round(state["wall_s"], 1), "torch": torch.__version__,
                "threads": torch.get_num_threads(), **manifest_extra}
    write_text(out.with_suffix(".json"), json.dumps(manifest, indent=1) + "\n")
    return manifest


def output_path(out):
    """A bare NAME goes to the package's checkpoint folder; a path ending in .pt is used as is.

    Checked before training: the folder must exist and be writable.
    """
    out = Path(out)
    if out.suffix != ".pt":
        if out.name != str(out) or not out.name:
            raise cli.UsageError(f"--out {out} must be a bare name (saved under {CHECKPOINT_DIR}) "
                                 "or a path ending in .pt")
        out = CHECKPOINT_DIR / f"{out.name}.pt"
    return cli.output_file(out)


def parser():
    p = cli.Parser(prog="python -m course_utils.train", description=__doc__.split("\n")[0],
                   epilog=state_files.HELP)
    p.add_argument("--data", default="digits", help="course dataset name (digits, hands, textures, mnist, ...)")
    p.add_argument("--arch", default="resnet", choices=["resnet", "unet"])
    p.add_argument("--padding", default="zeros", choices=["zeros", "circular"])
    p.add_argument("--depth", type=cli.positive_int, default=5,
                   help="ResNet: number of 3x3 convs (RF = 2 depth + 1)")
    p.add_argument("--width", type=cli.positive_int, default=64)
    p.add_argument("--attention", action="store_true", help="UNet: one self-attention block")
    p.add_argument("--steps", type=cli.positive_int, default=2500)
    p.add_argument("--batch", type=cli.positive_int, default=128)
    p.add_argument("--lr", type=cli.positive_float, default=1e-3)
    p.add_argument("--seed", type=cli.seed, default=0)
    cli.add_threads(p, default=1)
    p.add_argument("--save-every", type=cli.positive_int, default=100,
                   help="steps between saves of the resumable state")
    p.add_argument("--out", required=True, help="checkpoint NAME or path/to/file.pt")
    return p


def _train(args, argv):
    cli.set_threads(args.threads)
    out = output_path(args.out)
    images, _ = load_dataset(args.data, "train")
    config = model_config(args.arch, images.shape[1], args.padding, args.depth, args.width,
                          args.attention)
    want = run_fingerprint(config, args.seed, args.lr, args.batch, args.data, images)
    state_path = state_files.state_file("train", out)
    state = load_state(state_path, want)
    if state is None:
        state = fresh_state(config, args.seed, args.lr)
    else:
        print(f"resuming {out.stem} from step {state['step']} ({state_path})")
    if state["step"] > args.steps:
        raise cli.UsageError(f"{state_path} is already at step {state['step']} > --steps "
                             f"{args.steps}; pass a larger --steps or delete it to start over")
    train_steps(state, images, args.steps, args.batch, save_every=args.save_every,
                save=lambda s: state_files.save(state_path, want, state_payload(s)))
    manifest = write_checkpoint(state, out, {
        "command": cli.command_line("python -m course_utils.train", argv),
        "data": args.data, "n_train": len(images), "batch": args.batch})
    state_files.discard(state_path)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), final loss {manifest['final_loss']}, "
          f"{manifest['wall_time_s']} s")


def main(argv=None):
    return cli.run(_train, parser(), argv, interrupted=state_files.INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
