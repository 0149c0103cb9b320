"""ELS machine speed and memory, as ratios against a faithful copy of the official loop.

Workload: the shipped digits (16x16, N = 1700), B = 4 samples, a 19-step cosine DDIM
trajectory from t = 19/20 to 0 with the patch size rising 3 -> 11. The baseline is the
official circular ELS loop (64-image batches, unfold + circular conv2d, running max)
with its per-batch mean replaced by a sum, so that both compute the same function;
their outputs are compared. The roofline (GEMM + the exponential the kernel computes, 2 ** x
on logits in bits) is measured in the same run.

The busy-machine ratio replays every other step of that trajectory, both machines side
by side, while the benchmark runs two CPU-bound busy loops of its own (stopped after).

    python -m benchmarks.bench_scores [--train N] [--batch B] [--no-memory] [--no-busy] [--results PATH]
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from course_utils import cli
from course_utils.data import digits
from course_utils.diffusion import ddim_sample, sampling_noise_vars
from course_utils.files import write_text
from course_utils.scores import PatchSchedule, clear_cache, kernel_counters, machine

RESULTS = Path(__file__).with_name("RESULTS.md")
STEPS = 20  # t_i = i / 20; like the official sampler, start at t = 19/20: 19 updates


def official_els(x, train, noise_var, k, batch_size=64):
    """(B, C, H, W) -> (B, C, H, W): the official circular ELS loop, its per-batch mean replaced by a sum."""
    b = float(noise_var)
    a, h = math.sqrt(1 - b), k // 2
    batch, channels, height, width = x.shape
    padded = F.pad(x, (h, h, h, h), mode="circular")
    x2 = F.conv2d(padded ** 2, torch.ones(1, channels, k, k, dtype=x.dtype))
    run_max = torch.full((batch, 1, height, width), -math.inf, dtype=x.dtype)
    numerator = torch.zeros(batch, channels, height, width, dtype=x.dtype)
    denominator = torch.zeros(batch, 1, height, width, dtype=x.dtype)
    for start in range(0, train.shape[0], batch_size):
        images = train[start:start + batch_size]
        patches = F.unfold(F.pad(images, (h, h, h, h), mode="circular"), k)
        patches = patches.transpose(1, 2).reshape(-1, channels, k, k)
        dots = F.conv2d(padded, patches)  # (B, P, H, W)
        dist = x2 - 2 * a * dots + a * a * (patches ** 2).sum(dim=(1, 2, 3))[None, :, None, None]
        logits = -dist / (2 * b)
        new_max = torch.maximum(run_max, logits.amax(dim=1, keepdim=True))
        scale = torch.exp(run_max - new_max)
        weights = torch.exp(logits - new_max)
        centres = patches[:, :, h, h]
        numerator = numerator * scale + torch.einsum("bphw,pc->bchw", weights, centres)
        denominator = denominator * scale + weights.sum(dim=1, keepdim=True)
        run_max = new_max
    return numerator / denominator


def patch_schedule(steps=STEPS, first=3, last=11):
    """Patch size per update (entry i - 1 for the update from t = i / steps): odd, rising with t."""
    return [first + 2 * round((last - first) / 2 * (i - 1) / (steps - 2)) for i in range(1, steps)]


def trajectory(train, noise, ks):
    """DDIM from t = 19/20 to 0 with the fast machine; at every step both machines denoise the same x.

    Returns per-step lists (index i - 1: the update from t = i / 20) of wall and CPU
    seconds for each machine, the max |difference| of their outputs, the fraction of
    (query, patch) pairs the fast machine scored, and the inputs x. Timing them side by
    side, step by step, keeps the ratio fair when the machine's load drifts.
    """
    levels = sampling_noise_vars(STEPS)
    schedule = PatchSchedule(levels[1:STEPS], ks)
    machines = {"fast": machine("els", train, schedule, "circular"),
                "baseline": lambda x, b: official_els(x, train, b, schedule(b))}
    record = {f"{name}_{clock}": [] for name in machines for clock in ("wall", "cpu")}
    record.update(diff=[], computed=[], x=[])

    def side_by_side(x, b):
        out = _time_both(machines, x, b, record)
        record["diff"].append(float((out["fast"] - out["baseline"]).abs().max()))
        record["x"].append(x)
        return out["fast"]

    ddim_sample(side_by_side, noise, levels[:STEPS].flip(0))
    return {key: values[::-1] for key, values in record.items()}


def _time_both(machines, x, b, record):
    """Run every machine on (x, b), appending its wall and CPU seconds (and the fast one's scored fraction)."""
    out = {}
    for name, denoiser in machines.items():
        kernel_counters()
        wall, cpu = time.perf_counter(), time.process_time()
        out[name] = denoiser(x, b)
        record[f"{name}_cpu"].append(time.process_time() - cpu)
        record[f"{name}_wall"].append(time.perf_counter() - wall)
        if name == "fast":
            counts = kernel_counters()
            record["computed"].append(counts["computed"] / max(counts["pairs"], 1))
    return out


BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"


def busy(train, ks, xs, stride=2, loops=2, limit_s=900):
    """Replay every ``stride``-th step (inputs xs) side by side while ``loops`` CPU-bound processes run."""
    levels = sampling_noise_vars(STEPS)
    schedule = PatchSchedule(levels[1:STEPS], ks)
    machines = {"fast": machine("els", train, schedule, "circular"),
                "baseline": lambda x, b: official_els(x, train, b, schedule(b))}
    record = {f"{name}_{clock}": [] for name in machines for clock in ("wall", "cpu")}
    record.update(computed=[], step=[])
    clear_cache()
    # bounded loops (they end by themselves after limit_s) and killed in finally
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=limit_s)])
            for _ in range(loops)]
    try:
        time.sleep(0.5)
        for i in range(len(ks), 0, -stride):
            record["step"].append(i)
            _time_both(machines, xs[i - 1], levels[i], record)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    clear_cache()
    return record


def roofline(pairs_by_dim, repeats=3):
    """Seconds a GEMM (inner size D + 2, preallocated out) plus a preallocated exp2 need for the pairs.

    exp2, not exp: the kernel keeps its logits in bits, and a float32 exp2 is several
    times faster than an exp on CPUs; the roofline is that of the arithmetic it does.
    """
    rows, cols = 1024, 512  # the kernel's block shape
    exp_buffer = torch.randn(rows * cols)
    exp_out = torch.empty_like(exp_buffer)
    exp_rate = _best_rate(lambda: torch.exp2(exp_buffer, out=exp_out), rows * cols, repeats * 20)
    total, per_pair = 0.0, {}
    for dim, pairs in pairs_by_dim.items():
        left, right = torch.randn(rows, dim + 2), torch.randn(dim + 2, cols)
        out = torch.empty(rows, cols)
        rate = _best_rate(lambda: torch.mm(left, right, out=out), 2 * rows * cols * (dim + 2),
                          repeats * 20)
        per_pair[dim] = 2 * (dim + 2) / rate + 1 / exp_rate
        total += pairs * per_pair[dim]
    return total, exp_rate, per_pair


def _best_rate(fn, work, repeats):
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return work / best


def speed(train_count, batch, seed=0):
    """Whole-trajectory timings of the baseline and the fast machine, their agreement, the roofline."""
    train = digits("train")[0][:train_count]
    noise = torch.randn(batch, *train.shape[1:], generator=torch.Generator().manual_seed(seed))
    ks = patch_schedule()
    clear_cache()  # the fast machine's time includes preparing its patch banks
    steps = trajectory(train, noise, ks)
    clear_cache()
    height, width = train.shape[2:]
    pairs = {}
    for k in ks:
        dim = train.shape[1] * k * k
        pairs[dim] = pairs.get(dim, 0) + batch * height * width * train_count * height * width
    roof, exp_rate, per_pair = roofline(pairs)
    step_pairs = batch * height * width * train_count * height * width
    # the roofline of the work the kernel did (scored pairs), per step
    steps["roof"] = [step_pairs * c * per_pair[train.shape[1] * k * k] for k, c in zip(ks, steps["computed"])]
    xs = steps.pop("x")
    totals = {f"{key}_s": sum(values) for key, values in steps.items()
              if key.endswith(("_wall", "_cpu"))}
    return {"train": train_count, "batch": batch, "ks": ks, "roofline_s": roof, "exp_per_s": exp_rate,
            "max_diff": max(steps["diff"]), "steps": steps, **totals}, xs


# The peak resident set of this process alone: Linux's VmHWM, which exec resets. (Its
# ru_maxrss starts at the parent's size, hiding the growth when the parent is large.)
MEMORY_PROBE = """
import resource, sys, torch
from course_utils import cli
from course_utils.data import digits
from course_utils.scores import els_denoise
from benchmarks.bench_scores import official_els


def peak_kib():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


which, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
train = digits("train")[0][:n].contiguous()
x = torch.randn(4, *train.shape[1:], generator=torch.Generator().manual_seed(0))
run = {"streaming": lambda: els_denoise(x, train, 0.5, k, cache=False),
       "banked": lambda: els_denoise(x, train, 0.5, k),
       "baseline": lambda: official_els(x, train, 0.5, k)}[which]
els_denoise(x[:1], train[:2], 0.5, k, cache=False)  # load every code path first
before = peak_kib()
run()
print((peak_kib() - before) / 1024)
"""


def peak_memory_mib(which, train_count, k):
    """Growth of the peak resident memory (MiB) of a fresh process running one ELS call."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, which, str(train_count), str(k)],
                          capture_output=True, text=True, env=env, check=True, cwd=root)
    return float(done.stdout.strip().splitlines()[-1])


def memory(k=7, counts=(425, 1700)):
    return {which: {n: peak_memory_mib(which, n, k) for n in counts}
            for which in ("streaming", "banked", "baseline")}


def machine_description():
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def table(result, mem, busy_record=None):
    s = result
    wall, cpu = s["baseline_wall_s"] / s["fast_wall_s"], s["baseline_cpu_s"] / s["fast_cpu_s"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine_description()}; "
        f"torch {torch.__version__}; load average {s['load_before']:.1f} before and "
        f"{s['load_after']:.1f} after the whole-trajectory section, {os.getloadavg()[0]:.1f} at "
        "the end (a quiet machine stays below its core count). "
        "Regenerate: `python -m benchmarks` (`make bench`). Ratios are measured in one run, "
        "the two machines side by side at every step; CPU time (all threads) is the steadier "
        "measure on a shared machine.",
        "",
        f"## ELS machine, whole trajectory (digits 16x16, N = {s['train']}, B = {s['batch']}, "
        f"circular, 19 DDIM steps, k = {s['ks'][-1]} -> {s['ks'][0]})",
        "",
        "| | wall s | CPU s | speed-up (wall) | speed-up (CPU) |",
        "|---|---|---|---|---|",
        f"| official loop (64-image batches, conv2d, sum not mean) | {s['baseline_wall_s']:.1f} | "
        f"{s['baseline_cpu_s']:.1f} | 1.00x | 1.00x |",
        f"| `els_denoise` (patch banks prepared inside the timing) | {s['fast_wall_s']:.1f} | "
        f"{s['fast_cpu_s']:.1f} | {wall:.2f}x | {cpu:.2f}x |",
        f"| roofline: GEMM (inner C*k*k + 2) + exp2, measured now | {s['roofline_s']:.1f} | | "
        f"{s['baseline_wall_s'] / s['roofline_s']:.2f}x | |",
        "",
        f"`els_denoise` reaches {s['roofline_s'] / s['fast_wall_s']:.0%} of this machine's "
        f"GEMM + exp2 roofline (wall time; exp2 measured at {s['exp_per_s'] / 1e9:.2f} G/s). "
        f"Agreement with the official loop on the same inputs: max |difference| "
        f"{s['max_diff']:.1e} over all steps.",
        "",
        "Per step (the update from t = i/20):",
        "",
        "| i | k | official wall s | els_denoise wall s | speed-up (wall) | speed-up (CPU) | "
        "pairs skipped | roofline of the scored pairs reached |",
        "|---|---|---|---|---|---|---|---|",
    ]
    st = s["steps"]
    for i in range(len(s["ks"]), 0, -1):
        j = i - 1
        lines.append(f"| {i} | {s['ks'][j]} | {st['baseline_wall'][j]:.2f} | {st['fast_wall'][j]:.2f} | "
                     f"{st['baseline_wall'][j] / st['fast_wall'][j]:.2f}x | "
                     f"{st['baseline_cpu'][j] / st['fast_cpu'][j]:.2f}x | {1 - st['computed'][j]:.1%} | "
                     f"{st['roof'][j] / st['fast_wall'][j]:.0%} |")
    lines += ["", "Pairs skipped: (query window, training patch) pairs whose logit bound (block centre "
              "and radius) lies so far below the row's maximum that all of them together weigh less "
              "than float32 rounding of the sum. Roofline reached: GEMM + exp2 time of the pairs "
              "actually scored / measured wall time."]
    if busy_record:
        bw = sum(busy_record["baseline_wall"]) / sum(busy_record["fast_wall"])
        bc = sum(busy_record["baseline_cpu"]) / sum(busy_record["fast_cpu"])
        steps_run = ", ".join(str(i) for i in busy_record["step"])
        lines += [
            "",
            f"## Busy machine: two CPU-bound busy loops running (started and stopped by the benchmark)",
            "",
            f"Steps i = {steps_run} of the same trajectory (same inputs), both machines side by side, "
            "patch banks prepared inside the timing.",
            "",
            "| | wall s | CPU s | speed-up (wall) | speed-up (CPU) |",
            "|---|---|---|---|---|",
            f"| official loop | {sum(busy_record['baseline_wall']):.1f} | "
            f"{sum(busy_record['baseline_cpu']):.1f} | 1.00x | 1.00x |",
            f"| `els_denoise` | {sum(busy_record['fast_wall']):.1f} | {sum(busy_record['fast_cpu']):.1f} | "
            f"{bw:.2f}x | {bc:.2f}x |",
        ]
    if mem:
        small, large = sorted(next(iter(mem.values())))
        lines += [
            "",
            "## Peak memory of one ELS call (k = 7, B = 4): growth of the peak RSS, MiB",
            "",
            f"| | N = {small} | N = {large} | ratio |",
            "|---|---|---|---|",
        ]
        for which, label in (("streaming", "`els_denoise(..., cache=False)` (streaming)"),
                             ("banked", "`els_denoise` (prepared banks, ~k*k x the training set)"),
                             ("baseline", "official loop")):
            a, b = mem[which][small], mem[which][large]
            lines.append(f"| {label} | {a:.0f} | {b:.0f} | {b / max(a, 1.0):.2f} |")
    return "\n".join(lines) + "\n"


def _train_count(text):
    count = cli.positive_int(text)
    if count > 1700:
        raise argparse.ArgumentTypeError(f"must be at most 1700 (the shipped digits), not {count}")
    return count


def parser():
    p = cli.Parser(prog="python -m benchmarks.bench_scores", description=__doc__,
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=_train_count, default=1700, help="training digits (<= 1700)")
    p.add_argument("--batch", type=cli.positive_int, default=4, help="samples per trajectory")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--no-busy", action="store_true", help="skip the busy-machine measurement")
    p.add_argument("--results", default=RESULTS, help="markdown file to write")
    p.add_argument("--json", action="store_true", help="also print the raw numbers as JSON")
    return p


def _bench(args, argv):
    results = cli.output_file(args.results, "--results")
    load_before = os.getloadavg()[0]
    result, xs = speed(args.train, args.batch)
    result["load_before"], result["load_after"] = load_before, os.getloadavg()[0]
    busy_record = None if args.no_busy else busy(digits("train")[0][:args.train], result["ks"], xs)
    mem = None if args.no_memory else memory()
    text = table(result, mem, busy_record)
    write_text(results, text)
    print(text)
    if args.json:
        print(json.dumps({"speed": result, "busy": busy_record, "memory": mem}))
    if result["max_diff"] > 1e-4:
        print("error: the fast machine and the official loop disagree", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    return cli.run(_bench, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
