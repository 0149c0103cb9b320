"""What every course command line shares: one runner, one spelling per kind of flag.

``run(body, parser, argv)`` parses the arguments and calls ``body(args, argv)``. A
user's mistake (a bad flag value, a missing file, an output folder that does not
exist, an unusable saved state, an offline download) ends in one line on stderr that
names the fix, and exit status 2, never a traceback; Ctrl-C ends in one line (what
was kept) and exit status 130.

Spellings: ``--seed N`` (one non-negative integer), ``--seeds 0-99`` (a list:
``0-99``, ``0,3,7`` or ``3-15:2``), ``--patch-sizes 3-15:2`` (odd sizes, the same
list syntax, also as ``3 5 7``), ``--threads N`` (positive). Outputs are checked by
``output_file`` before any work is done.
"""
import argparse
import os
import shlex
import sys
from pathlib import Path

RANGE_EXAMPLES = "write e.g. 0-99, 0,3,7 or 3-15:2"


class UsageError(ValueError):
    """A mistake the user can fix; the message says how."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (argparse prints the whole usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see --help\n")


def run(body, parser, argv=None, interrupted="interrupted: nothing was written"):
    """Parse ``argv`` (default: sys.argv[1:]) and return ``body(args, argv)``, or 2 on a user's mistake.

    interrupted: the line printed on Ctrl-C (exit 130), e.g. how to continue.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    try:
        return body(args, argv) or 0
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
    # ValueError: the library's way of refusing bad input, with the fix in its message;
    # OSError: a file that is missing, unreadable or unwritable, or a failed download.
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def command_line(prog, argv):
    """The command that was run, as a shell line (for manifests)."""
    return " ".join([prog, *map(shlex.quote, argv)])


def parse_range(text):
    """'0-99' or '3,5,7' or '3-15:2' -> list of ints."""
    try:
        values = []
        for part in text.split(","):
            span, _, stride = part.partition(":")
            lo, _, hi = span.partition("-")
            values.extend(range(int(lo), int(hi or lo) + 1, int(stride or 1)))
    except ValueError:
        raise UsageError(f"{text!r} is not a range; {RANGE_EXAMPLES}") from None
    if not values:
        raise UsageError(f"{text!r} is an empty range; {RANGE_EXAMPLES}")
    return values


def _flag_type(check):
    """A function raising UsageError -> an argparse ``type`` (argparse then names the flag)."""
    def parse(text):
        try:
            return check(text)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = check.__name__
    return parse


def _integer(text, least):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least:
        raise UsageError(f"must be an integer >= {least}, not {text!r}")
    return value


positive_int = _flag_type(lambda text: _integer(text, 1))
seed = _flag_type(lambda text: _integer(text, 0))


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise UsageError(f"must be a positive number, not {text!r}")
    return value


positive_float = _flag_type(_positive_float)


def _seed_list(text):
    seeds = parse_range(text)
    if min(seeds) < 0:
        raise UsageError(f"seeds must be >= 0, not {min(seeds)}")
    return seeds


def _patch_size_list(text):
    sizes = parse_range(text)
    bad = [k for k in sizes if k < 1 or k % 2 == 0]
    if bad:
        raise UsageError(f"patch sizes must be odd and >= 1, not {bad}; write e.g. 3-15:2 or 3,5,7,11")
    return sizes


seed_list = _flag_type(_seed_list)
patch_size_list = _flag_type(_patch_size_list)


def add_seeds(parser, default, what):
    parser.add_argument("--seeds", type=seed_list, default=_seed_list(default), metavar="RANGE",
                        help=f"{what} ({RANGE_EXAMPLES}; default {default})")


def add_patch_sizes(parser, default, *aliases):
    """``--patch-sizes 3-15:2`` or ``--patch-sizes 3 5 7``: a flat list of odd sizes."""
    parser.add_argument("--patch-sizes", *aliases, dest="patch_sizes", type=patch_size_list,
                        nargs="+", default=[_patch_size_list(default)], metavar="SIZES",
                        help=f"odd patch sizes, e.g. 3-15:2 or 3 5 7 11 (default {default})")


def patch_sizes(args):
    """The flat list of ``--patch-sizes`` (each word may be a range)."""
    return [k for word in args.patch_sizes for k in word]


def add_threads(parser, default=None):
    shown = default or "torch's default"
    parser.add_argument("--threads", type=positive_int, default=default,
                        help=f"torch threads; the CPU may be shared (default {shown})")


def set_threads(threads):
    if threads:
        import torch  # here, not at the top: the notebook generator and the grader need no torch
        torch.set_num_threads(threads)


def output_file(path, flag="--out"):
    """``path`` as a Path, once it is known that a file can be written there (nothing is written)."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"{flag} {path}: {folder} {problem}; create the folder first or choose "
                         f"another place")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {folder} (permission denied); "
                         f"choose another place")
    return path


def seed_noise(seeds, shape):
    """(S, *shape) standard normal starts, one generator per seed: independent of how seeds are batched."""
    import torch
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s)))
                        for s in seeds])
