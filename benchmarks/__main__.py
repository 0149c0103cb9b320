"""Run every benchmarks/bench_*.py module (or the ones named) and report which failed."""
import importlib
import sys
from pathlib import Path

from course_utils import cli


def available():
    return sorted(p.stem[len("bench_"):] for p in Path(__file__).parent.glob("bench_*.py"))


def parser():
    p = cli.Parser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"benchmarks to run (default: all of {', '.join(available())})")
    return p


def _run(args, argv):
    unknown = [n for n in args.names if n not in available()]
    if unknown:
        raise cli.UsageError(f"no benchmark named {', '.join(unknown)}; choose from "
                             f"{', '.join(available())}")
    failed = []
    for name in args.names or available():
        print(f"== bench_{name}", flush=True)
        if importlib.import_module(f"benchmarks.bench_{name}").main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    return cli.run(_run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
