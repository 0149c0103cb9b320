"""The shipped checkpoints: a named network with everything that belongs to it.

    from course_utils.checkpoints import Checkpoint
    ckpt = Checkpoint("digits-resnet-zeros")
    ckpt.model()          the network in eval mode, its file sha256-verified against the manifest
    ckpt.manifest         how it was trained: config, command, dataset name (dict)
    ckpt.train_data()     (N, C, H, W) the training images (the dataset its manifest names)
    ckpt.boundary         "zeros" or "circular": its padding, hence the machines' boundary
    ckpt.schedule("els")  its calibrated patch size k(t), a PatchSchedule ("els" or "ls")
    ckpt.results()        the comparison that ``course_utils.reproduce`` shipped (dict)

Each checkpoint is a set of files in this folder: NAME.json (manifest, written by
``course_utils.train`` with NAME.pt), NAME.schedule.json (``course_utils.calibrate``) and
NAME.reproduce.pt (``course_utils.reproduce``).
"""
import json
from pathlib import Path

import torch

from ..data import load_dataset
from ..files import sha256
from ..models import load_model_file
from ..scores import PatchSchedule

DIRECTORY = Path(__file__).resolve().parent
SCHEDULE_MACHINES = ("els", "ls")


def available(directory=DIRECTORY):
    """Names of the checkpoints in ``directory`` (those with a manifest)."""
    return sorted(p.name[:-len(".json")] for p in Path(directory).glob("*.json")
                  if not p.name.endswith(".schedule.json"))


class Checkpoint:
    """The checkpoint ``name`` in ``directory``; raises ValueError naming the shipped ones if there is none."""

    def __init__(self, name, directory=DIRECTORY):
        self.name, self.directory = name, Path(directory)
        path = self.directory / f"{name}.json"
        if not path.exists():
            known = ", ".join(available(directory)) or "none"
            raise ValueError(f"no checkpoint named {name!r} (no {path}); shipped: {known}")
        self.manifest = json.loads(path.read_text())

    def __repr__(self):
        return f"Checkpoint({self.name!r})"

    @property
    def boundary(self):
        return self.manifest["config"]["padding"]

    @property
    def weights_path(self):
        return self.directory / self.manifest["file"]

    @property
    def schedule_path(self):
        return self.directory / f"{self.name}.schedule.json"

    @property
    def results_path(self):
        return self.directory / f"{self.name}.reproduce.pt"

    def model(self, device="cpu"):
        """The network in eval mode, after verifying its file's sha256 against the manifest."""
        path = self.weights_path
        fix = f"restore it (git checkout {path.name}) or retrain it with: {self.manifest['command']}"
        if not path.exists():
            raise FileNotFoundError(f"checkpoint file {path} is missing; {fix}")
        digest = sha256(path)
        if digest != self.manifest["sha256"]:
            raise ValueError(f"checkpoint file {path} is corrupt or modified (sha256 "
                             f"{digest[:12]}..., manifest says {self.manifest['sha256'][:12]}...); {fix}")
        return load_model_file(path, device)

    def train_data(self):
        """(N, C, H, W) in [-1, 1]: the training split of the dataset the network learned."""
        images, _ = load_dataset(self.manifest["data"], "train")
        return images

    def schedule(self, machine="els"):
        """The calibrated k(t) of ``machine`` ("els" or "ls") as a ``PatchSchedule`` (``.ks`` per step)."""
        if machine not in SCHEDULE_MACHINES:
            raise ValueError(f"schedules are calibrated for {SCHEDULE_MACHINES}, not {machine!r}")
        path = self.schedule_path
        if not path.exists():
            raise ValueError(f"no calibrated schedule {path}; make it with: "
                             f"python -m course_utils.calibrate --model {self.name}")
        return PatchSchedule.from_steps(json.loads(path.read_text())["schedules"][machine])

    def results(self):
        """The shipped comparison (the dict ``python -m course_utils.reproduce`` saves)."""
        path = self.results_path
        if not path.exists():
            raise ValueError(f"no shipped comparison {path}; make it with: python -m course_utils."
                             f"reproduce --model {self.name} --seeds 0-99 --out {path}")
        return torch.load(path, weights_only=True)
