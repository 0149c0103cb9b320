"""Run every benchmarks/bench_*.py module (or the ones named) and report which failed."""
import importlib
import sys
from pathlib import Path


def available():
    return sorted(p.stem[len("bench_"):] for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv=None):
    names = list(sys.argv[1:] if argv is None else argv)
    known = available()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"error: no benchmark named {', '.join(unknown)}; choose from {', '.join(known)}",
              file=sys.stderr)
        return 2
    failed = []
    for name in names or known:
        print(f"== bench_{name}", flush=True)
        if importlib.import_module(f"benchmarks.bench_{name}").main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
