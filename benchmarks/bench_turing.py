"""Gray-Scott steps per second on a 256x256 grid: course_utils.turing against plain numpy.

    python -m benchmarks.bench_turing [--steps N] [--out benchmarks/RESULTS_turing.md]

Baselines, run in the same process on the same grid and initial state:
- "numpy loop": the same update written the plain way, one np.roll per neighbour,
  a fresh array per operation (float64 and float32);
- "per-cell loop": the update cell by cell in Python (the tests' reference), timed on
  a few steps only.
The simulator is timed with its default (one thread) and, for comparison, with the
stepping loop allowed two threads. Every implementation is checked against the
float64 numpy result before it is timed.
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from course_utils import cli, turing
from course_utils.files import write_text

SIZE = 256
F, K = turing.PRESETS["spots"]


def numpy_steps(u, v, steps, F=F, k=K, Du=turing.GS_DU, Dv=turing.GS_DV, dt=turing.GS_DT):
    """(H, W) arrays -> (H, W) arrays: the straightforward numpy Gray-Scott loop."""
    for _ in range(steps):
        lu = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
        lv = np.roll(v, 1, 0) + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(v, -1, 1) - 4 * v
        uvv = u * v * v
        u, v = u + dt * (Du * lu - uvv + F * (1 - u)), v + dt * (Dv * lv + uvv - (F + k) * v)
    return u, v


def cell_loop_steps(u, v, steps, F=F, k=K, Du=turing.GS_DU, Dv=turing.GS_DV, dt=turing.GS_DT):
    """(H, W) lists -> (H, W) lists: the update cell by cell in Python."""
    h, w = len(u), len(u[0])
    for _ in range(steps):
        nu = [[0.0] * w for _ in range(h)]
        nv = [[0.0] * w for _ in range(h)]
        for i in range(h):
            up, down = u[i - 1], u[(i + 1) % h]
            vup, vdown = v[i - 1], v[(i + 1) % h]
            for j in range(w):
                left, right = j - 1, (j + 1) % w
                lu = up[j] + down[j] + u[i][left] + u[i][right] - 4 * u[i][j]
                lv = vup[j] + vdown[j] + v[i][left] + v[i][right] - 4 * v[i][j]
                uvv = u[i][j] * v[i][j] * v[i][j]
                nu[i][j] = u[i][j] + dt * (Du * lu - uvv + F * (1 - u[i][j]))
                nv[i][j] = v[i][j] + dt * (Dv * lv + uvv - (F + k) * v[i][j])
        u, v = nu, nv
    return u, v


def _best_rates(runs, repeats=5):
    """{name: (run, steps)} -> {name: steps/s}, the best of ``repeats`` rounds.

    The implementations take turns within each round, so a burst of load from other
    processes on a shared machine hits all of them rather than one.
    """
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, (run, steps) in runs.items():
            start = time.perf_counter()
            run(steps)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: runs[name][1] / best[name] for name in runs}


def _with_threads(run, threads):
    """``run`` with the simulator's loops on ``threads`` torch threads instead of its default."""
    def timed(steps):
        saved, turing.SIM_THREADS = turing.SIM_THREADS, threads
        try:
            return run(steps)
        finally:
            turing.SIM_THREADS = saved
    return timed


def measure(steps=500, cell_steps=2):
    """-> list of (name, steps/s) rows and the max deviation of each variant from float64 numpy."""
    u64, v64 = (x[0].double().numpy() for x in turing.gray_scott_seed(1, SIZE, seed=0, patches=20))
    u64, v64 = numpy_steps(u64, v64, 300)  # a developing pattern, not the flat start
    ref_u, ref_v = numpy_steps(u64, v64, 20)
    u32, v32 = u64.astype(np.float32), v64.astype(np.float32)
    tu, tv = torch.from_numpy(u32)[None].clone(), torch.from_numpy(v32)[None].clone()

    def sim(steps):
        return turing.gray_scott(tu, tv, F, K, steps)

    got = sim(20)[1][0].double().numpy()
    deviation = {"course_utils (float32)": float(np.abs(got - ref_v).max())}
    cell_u, cell_v = cell_loop_steps(u64.tolist(), v64.tolist(), 1)
    deviation["per-cell loop"] = float(np.abs(np.array(cell_v) - numpy_steps(u64, v64, 1)[1]).max())
    rates = _best_rates({
        "course_utils.turing.gray_scott, float32, 1 thread (default)": (sim, steps),
        "course_utils.turing.gray_scott, float32, 2 threads": (_with_threads(sim, 2), steps),
        "numpy loop (np.roll), float32": (lambda n: numpy_steps(u32, v32, n), steps // 5),
        "numpy loop (np.roll), float64": (lambda n: numpy_steps(u64, v64, n), steps // 5),
    })
    rates.update(_best_rates({"per-cell Python loop, float64": (
        lambda n: cell_loop_steps(u64.tolist(), v64.tolist(), n), cell_steps)}, repeats=1))
    return list(rates.items()), deviation


def _sig3(x):
    """3 significant digits, thousands separated: 2913.4 -> '2,910'."""
    return f"{float(f'{x:.3g}'):,.0f}" if x >= 100 else f"{x:.3g}"


def report(rows, deviation, steps, load):
    baseline = dict(rows)["numpy loop (np.roll), float64"]
    lines = [
        "# Gray-Scott simulator speed (lesson 01)",
        "",
        f"`python -m benchmarks.bench_turing` on a {SIZE}x{SIZE} periodic grid, spots preset "
        f"(F={F}, k={K}), best of 5 rounds of {steps} steps (numpy: {steps // 5}; "
        "the implementations take turns within a round).",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}. "
        f"Load average when the run started: {load:.3g} (the machine is shared). Ratios are "
        "measured in one run; absolute rates vary with the machine and its load.",
        "",
        "| implementation | steps/s | vs numpy loop float64 |",
        "|---|---:|---:|",
    ]
    for name, rate in rows:
        lines.append(f"| {name} | {_sig3(rate)} | {rate / baseline:.3g}x |")
    lines += ["", "Max |v - v_numpy_float64| after the checked steps: "
              + ", ".join(f"{name}: {value:.2g}" for name, value in deviation.items()), ""]
    return "\n".join(lines)


def _step_count(text):
    steps = cli.positive_int(text)
    if steps < 10:
        raise argparse.ArgumentTypeError(f"must be at least 10, not {steps}")
    return steps


def parser():
    p = cli.Parser(prog="python -m benchmarks.bench_turing", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=_step_count, default=500, help="steps per timing (default 500)")
    p.add_argument("--out", default=Path(__file__).with_name("RESULTS_turing.md"),
                   help="where to write the markdown table")
    return p


def _bench(args, argv):
    out = cli.output_file(args.out)
    load = os.getloadavg()[0]
    rows, deviation = measure(args.steps)
    text = report(rows, deviation, args.steps, load)
    print(text)
    write_text(out, text)


def main(argv=None):
    return cli.run(_bench, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
