"""Resumable runs: where their progress is kept, and when it may be reused.

``train``, ``reproduce`` and ``hands sample`` save their progress in one file per
output under ``$COURSE_STATE_DIR`` (default ``~/.cache/local-rules-course/state``),
not in the folder the command runs in. Each state records a fingerprint of all that
determines the result (weights, data, settings, library versions). A state is reused
only by a run with the same fingerprint; any other run stops with exit 2 naming the
field that differs and the file to delete. A finished run deletes its state.
"""
import hashlib
import json
import os
import pickle
from pathlib import Path

import torch

from . import __version__
from .cli import UsageError
from .files import save_torch

STATE_DIR_ENV = "COURSE_STATE_DIR"
DEFAULT_STATE_DIR = "~/.cache/local-rules-course/state"
HELP = (f"Progress is saved in ${STATE_DIR_ENV} (default {DEFAULT_STATE_DIR}) and deleted once "
        "the result is written: run an interrupted command again to continue it. Progress "
        "saved by a run with other weights, data or settings is refused (exit 2), never mixed in.")

INTERRUPTED = ("interrupted: the progress so far is saved; run the same command again to "
               "continue where it stopped")


def state_dir():
    """The state folder: $COURSE_STATE_DIR, else ~/.cache/local-rules-course/state."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser()


def state_file(command, out):
    """The state of ``command`` writing ``out``: one file per output path (two folders' r.pt never share)."""
    out = Path(out).resolve()
    key = hashlib.sha256(str(out).encode()).hexdigest()[:12]
    return state_dir() / command / f"{out.name}.{key}.pt"


def fingerprint(**fields):
    """``fields`` (JSON-like values) plus the library versions, normalised as saved (tuples -> lists)."""
    return json.loads(json.dumps({**fields, "course_utils": __version__,
                                  "torch": torch.__version__}))


def _shown(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_writable(folder):
    """Before any work: the first save must not fail after an hour of training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        raise UsageError(f"cannot keep progress in {folder}; set {STATE_DIR_ENV} to a folder "
                         f"you can write")


def load(path, want):
    """The payload saved at ``path`` for fingerprint ``want``; None if there is none.

    Raises UsageError (naming the file to delete) for a state that is unreadable or
    was saved by a run with another fingerprint.
    """
    path = Path(path)
    if not path.exists():
        _check_writable(path.parent)
        return None
    try:
        blob = torch.load(path, weights_only=True)
        saved, payload = blob["fingerprint"], blob["payload"]
    except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as err:
        raise UsageError(f"the saved state {path} is unreadable ({type(err).__name__}: it was cut "
                         f"short or is not a state file); delete it to start over") from None
    differs = [key for key in sorted(set(saved) | set(want)) if saved.get(key) != want.get(key)]
    if differs:
        key = differs[0]
        raise UsageError(f"the saved state {path} belongs to another run ({', '.join(differs)} "
                         f"differ: {key} was {_shown(saved.get(key))}, now "
                         f"{_shown(want.get(key))}); pass the original settings to continue it, "
                         f"or delete it to start over")
    return payload


def save(path, want, payload):
    """Save ``payload`` (tensors, dicts, lists, numbers, strings) with its fingerprint, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch({"fingerprint": want, "payload": payload}, path)


def discard(path):
    """Delete the state of a finished run."""
    Path(path).unlink(missing_ok=True)
