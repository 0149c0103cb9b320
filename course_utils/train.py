"""Train a small noise-predicting diffusion model; seeded, resumable, with a manifest.

    python -m course_utils.train --data digits --arch resnet --padding zeros \\
        --steps 2500 --out digits-resnet-zeros

writes ``course_utils/checkpoints/NAME.pt`` (config + EMA weights, float32) and
``NAME.json`` (sha256, full command, data, seed, steps, final loss, wall time), each to
a temporary name first, then renamed. The training state (weights, optimizer, random
generator, step) is saved every ``--save-every`` steps to ``--state-dir``; running the
same command again continues from there and gives the same weights as an
uninterrupted run.
"""
import argparse
import copy
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from .checkpoints import DIRECTORY as CHECKPOINT_DIR
from .data import load_dataset
from .diffusion import add_noise, cosine_noise_var
from .models import MAX_NOISE_VAR, build_model, sha256
from .progress import progress

STATE_DIR = ".train_state"


def model_config(arch, channels, padding, depth=5, width=64, attention=False):
    """The ``build_model`` config for the command-line choices."""
    if arch == "resnet":
        if attention:
            raise ValueError("--attention is for --arch unet; the ResNet has no attention block")
        return {"arch": "resnet", "channels": channels, "width": width, "depth": depth,
                "padding": padding}
    if arch == "unet":
        return {"arch": "unet", "channels": channels, "widths": [width // 2, width, width],
                "padding": padding, "attention": attention}
    raise ValueError(f"--arch must be 'resnet' or 'unet', not {arch!r}")


def training_loss(model, x0, gen):
    """Mean squared error of the noise prediction at levels t ~ U(0, 1) (b clamped like the wrapper)."""
    t = torch.rand(x0.shape[0], generator=gen, dtype=torch.float64)
    b = cosine_noise_var(t).clamp(max=MAX_NOISE_VAR).float()
    eps = torch.randn(x0.shape, generator=gen)
    return (model(add_noise(x0, b, eps), b) - eps).pow(2).mean()


def _atomic_save(obj, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(text, path):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def fresh_state(config, seed, lr):
    """Step-0 training state: model, EMA copy, Adam, data generator, loss log."""
    torch.manual_seed(seed)  # parameter initialisation
    model = build_model(config)
    return {"config": config, "seed": seed, "lr": lr, "step": 0, "wall_s": 0.0,
            "model": model, "ema": copy.deepcopy(model),
            "opt": torch.optim.Adam(model.parameters(), lr=lr),
            "gen": torch.Generator().manual_seed(seed + 1), "losses": []}


def _state_blob(state):
    return {"config": state["config"], "seed": state["seed"], "lr": state["lr"],
            "step": state["step"], "wall_s": state["wall_s"], "losses": state["losses"],
            "model": state["model"].state_dict(), "ema": state["ema"].state_dict(),
            "opt": state["opt"].state_dict(), "gen": state["gen"].get_state()}


def load_state(path, config, seed, lr):
    """The saved training state at ``path``, refusing one started with other settings."""
    blob = torch.load(path, weights_only=True)
    for key, want in (("config", config), ("seed", seed), ("lr", lr)):
        if blob[key] != want:
            raise ValueError(f"{path} was started with {key}={blob[key]!r}, not {want!r}; "
                             f"delete it to start over, or pass the original settings")
    state = fresh_state(config, seed, lr)
    state["model"].load_state_dict(blob["model"])
    state["ema"].load_state_dict(blob["ema"])
    state["opt"].load_state_dict(blob["opt"])
    state["gen"].set_state(blob["gen"])
    state.update(step=blob["step"], wall_s=blob["wall_s"], losses=list(blob["losses"]))
    return state


def train_steps(state, data, until, batch=128, ema_decay=0.999, save_every=None,
                state_path=None, progress_bar=None):
    """Advance ``state`` to step ``until`` (in place); save it every ``save_every`` steps."""
    model, ema, opt, gen = state["model"], state["ema"], state["opt"], state["gen"]
    model.train()
    start = time.perf_counter()
    wall0 = state["wall_s"]
    bar = progress(range(state["step"], until), total=until - state["step"], desc="training",
                   enabled=progress_bar)
    for step in bar:
        x0 = data[torch.randint(len(data), (batch,), generator=gen)]
        loss = training_loss(model, x0, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            # a short run: warm the average up so early weights do not dominate it
            decay = min(ema_decay, (1 + step) / (10 + step))
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - decay)
        state["losses"].append(loss.item())
        state["step"] = step + 1
        state["wall_s"] = wall0 + time.perf_counter() - start
        if hasattr(bar, "set_postfix") and step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if state_path and save_every and state["step"] % save_every == 0:
            _atomic_save(_state_blob(state), state_path)
    if state_path:
        _atomic_save(_state_blob(state), state_path)
    return state


def write_checkpoint(state, out, manifest_extra):
    """Write ``out`` (.pt: config + EMA weights) and its manifest ``out`` .json; returns the manifest."""
    out = Path(out)
    _atomic_save({"config": state["config"],
                  "state_dict": {k: v.float() for k, v in state["ema"].state_dict().items()}}, out)
    tail = state["losses"][-100:]
    manifest = {"name": out.stem, "file": out.name, "sha256": sha256(out),
                "config": state["config"], "seed": state["seed"], "steps": state["step"],
                "lr": state["lr"], "final_loss": round(sum(tail) / max(len(tail), 1), 5),
                "wall_time_s": round(state["wall_s"], 1), "torch": torch.__version__,
                "threads": torch.get_num_threads(), **manifest_extra}
    _atomic_write_text(json.dumps(manifest, indent=1) + "\n", out.with_suffix(".json"))
    return manifest


def output_path(out):
    """A bare NAME goes to the package's checkpoint folder; a path ending in .pt is used as is."""
    out = Path(out)
    if out.suffix == ".pt":
        return out
    if out.name != str(out) or not out.name:
        raise ValueError(f"--out {out} must be a bare name (saved under {CHECKPOINT_DIR}) "
                         "or a path ending in .pt")
    return CHECKPOINT_DIR / f"{out.name}.pt"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="digits", help="course dataset name (digits, hands, textures)")
    parser.add_argument("--arch", default="resnet", choices=["resnet", "unet"])
    parser.add_argument("--padding", default="zeros", choices=["zeros", "circular"])
    parser.add_argument("--depth", type=int, default=5, help="ResNet: number of 3x3 convs (RF = 2 depth + 1)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--attention", action="store_true", help="UNet: one self-attention block")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU may be shared)")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--state-dir", default=STATE_DIR, help="where the resumable state is kept")
    parser.add_argument("--out", required=True, help="checkpoint NAME or path/to/file.pt")
    args = parser.parse_args(argv)
    try:
        if args.steps < 1 or args.batch < 1 or args.save_every < 1:
            raise ValueError("--steps, --batch and --save-every must be positive integers")
        torch.set_num_threads(args.threads)
        out = output_path(args.out)
        images, _ = load_dataset(args.data, "train")
        config = model_config(args.arch, images.shape[1], args.padding, args.depth, args.width,
                              args.attention)
        state_path = Path(args.state_dir) / f"{out.stem}.state.pt"
        if state_path.exists():
            state = load_state(state_path, config, args.seed, args.lr)
            print(f"resuming {out.stem} from step {state['step']} ({state_path})")
        else:
            state = fresh_state(config, args.seed, args.lr)
        if state["step"] > args.steps:
            raise ValueError(f"{state_path} is already at step {state['step']} > --steps {args.steps}; "
                             "pass a larger --steps or delete the state to start over")
        train_steps(state, images, args.steps, args.batch, save_every=args.save_every,
                    state_path=state_path)
        command = "python -m course_utils.train " + " ".join(shlex.quote(a) for a in
                                                             (sys.argv[1:] if argv is None else argv))
        manifest = write_checkpoint(state, out, {"command": command, "data": args.data,
                                                 "n_train": len(images), "batch": args.batch})
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), final loss {manifest['final_loss']}, "
          f"{manifest['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
