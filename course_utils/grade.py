"""Grade submitted notebooks with tests the students never saw.

    python -m course_utils.grade SUBMISSION.ipynb [FOLDER ...] --out grades.jsonl
        [--csv grades.csv] [--timeout SECONDS] [--memory MB] [--lesson NN] [--jobs N]
        [--seeds 1,2,3]

Each submission runs in a fresh kernel inside a sandbox (bubblewrap: its own PID and
network namespaces, the course and Python read-only, only its own folder writable; a
cgroup for memory and processes), under a wall-clock limit. A cell of the grader's, run
before the submission's first cell, records what each exercise's function returns on the
grading cases (computed here, from seeds the kernel never sees) as plain tensors and
numbers; this process loads them with ``torch.load(weights_only=True)`` and compares them
with expected values it computed itself. A submission can influence nothing but the values
its functions return. Where bubblewrap or cgroups are missing, the grader says so at start
and in every record (docs/GRADING.md: what is then not guaranteed).

The pieces: ``grading.submission`` (reading), ``grading.sandbox`` and ``grading.execute``
(running), ``grading.scoring`` (scoring), ``grading.batch`` (a class, the output files).

Writes one JSON line per submission (``--out``) and a CSV summary for the class (``--csv``,
default: next to ``--out``). Exit status 0 when every submission was graded, whatever
the scores; 2, with a message and no traceback, when the grader is misused.
"""
import argparse
import sys
from pathlib import Path

from . import cli
from .cli import UsageError
from .files import write_text
from .grading import sandbox
from .grading.batch import (DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, Settings, csv_text, grade,
                            jsonl_text)
from .grading.core import GRADING_SEEDS, list_exercises
from .grading.submission import LESSON, known_lessons

MIN_MEMORY_MB = 512


def _submissions(arguments):
    if not arguments:
        raise UsageError("no submissions given: pass notebooks (.ipynb) or folders of notebooks")
    paths, missing = [], []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not found:
                raise UsageError(f"no .ipynb files in the folder {path}")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            missing.append(argument)
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    return paths


def _seeds(text):
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         f"integers such as 1,2,3") from None
    if any(seed <= 0 for seed in seeds):
        raise argparse.ArgumentTypeError("seeds must be positive: seed 0 is the visible check")
    return seeds


def _positive(kind, minimum):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below the minimum {minimum}")
        return value
    return parse


def parser():
    p = cli.Parser(prog="python -m course_utils.grade",
                                description=__doc__.split("\n\n")[0],
                                epilog="Writes one JSON line per submission and a CSV summary. "
                                       "See docs/GRADING.md.")
    p.add_argument("submissions", nargs="*", help="notebooks, or folders searched for *.ipynb")
    p.add_argument("--out", required=True, type=Path, help="JSON lines file to write")
    p.add_argument("--csv", type=Path, help="CSV summary (default: --out with .csv)")
    p.add_argument("--timeout", type=_positive(float, 1), default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per submission, kernel start included (default {DEFAULT_TIMEOUT_S})")
    p.add_argument("--memory", type=_positive(int, MIN_MEMORY_MB), default=DEFAULT_MEMORY_MB,
                   help=f"memory limit of a submission's sandbox in MB (default {DEFAULT_MEMORY_MB})")
    p.add_argument("--lesson", help="grade every submission as this lesson (NN)")
    p.add_argument("--jobs", type=_positive(int, 1), default=1,
                   help="submissions graded at once (each one kernel; default 1)")
    p.add_argument("--seeds", type=_seeds, default=GRADING_SEEDS,
                   help="case seeds the grader uses (default 1,2,3; keep yours private)")
    return p


def _grade(args, argv):
    paths = _submissions(args.submissions)
    if args.lesson is not None:
        if not LESSON.match(args.lesson) or not list_exercises(args.lesson):
            raise UsageError(f"--lesson {args.lesson}: no such graded lesson; known: "
                             f"{', '.join(known_lessons()) or 'none'}")
    out = cli.output_file(args.out, "--out")
    csv_path = cli.output_file(args.csv or out.with_suffix(".csv"), "--csv")
    if csv_path.resolve() == out.resolve():
        raise UsageError(f"--csv and --out are the same file ({out}); give different names")
    settings = Settings(args.timeout, args.memory, args.lesson, args.seeds)
    sys.dont_write_bytecode = True  # a change under the Python environment is then a kernel's
    isolation = sandbox.detect()
    if isolation.complete:
        print(f"sandbox: {isolation.describe(args.memory)}")
    else:
        print(f"warning: {isolation.describe(args.memory)}", file=sys.stderr)
    records = grade(paths, settings, args.jobs, isolation=isolation)
    try:
        write_text(out, jsonl_text(records))
        write_text(csv_path, csv_text(records))
    except OSError as err:
        print(f"error: cannot write the grades ({err}); nothing was written", file=sys.stderr)
        return 2
    internal = sorted({r["error"] for r in records if r.get("internal")})
    for message in internal:
        print(f"error: {message}", file=sys.stderr)
    total = sum(r["score"] for r in records)
    print(f"graded {len(records)} submission{'s' if len(records) != 1 else ''} "
          f"(mean score {total / len(records):.3g}); wrote {out} and {csv_path}")
    return 1 if any(r.get("internal") for r in records) else 0


def main(argv=None):
    return cli.run(_grade, parser(), argv,
                   interrupted="interrupted: every run was stopped and nothing was written")


if __name__ == "__main__":
    sys.exit(main())
