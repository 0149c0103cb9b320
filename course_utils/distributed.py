"""The ELS machine sharded over processes with torch.distributed.

Each rank prepares the patch banks of its own slice of the training images; at every
call the ranks score the same queries against their slices and combine the partial
maxima, sums and weighted sums exactly by all-reduce (max, then sum of the rescaled
sums), so every rank returns the single-process result. CPU ranks use gloo, CUDA ranks
NCCL; the code path is the same.

    torchrun --nproc_per_node 2 -m course_utils.distributed --train 400 --k 5
    torchrun --nproc_per_node 8 -m course_utils.distributed --train 1700  # one GPU per rank
"""
import argparse
import sys
import time

import torch

from . import scores


def shard(train, rank, world_size):
    """(N, C, H, W) -> this rank's contiguous slice of the training images (about N / world_size)."""
    if not 0 <= rank < world_size or world_size > train.shape[0]:
        raise ValueError(f"cannot give rank {rank} of {world_size} a slice of {train.shape[0]} "
                         "training images; use at most one rank per image")
    count = train.shape[0]
    return train[rank * count // world_size:(rank + 1) * count // world_size]


def els_denoise_sharded(x, train_shard, noise_var, k, boundary="circular", group=None, chunk_size=None):
    """(B, C, H, W) noisy (the same on every rank), this rank's (n, C, H, W) training slice
    -> (B, C, H, W) E[x0 | x] of the ELS machine over the union of all ranks' slices."""
    train_shard = scores._check_images(x, train_shard)
    b = scores._check_noise_var(noise_var, x)
    k = scores._check_k(k)
    scores._check_boundary(boundary)
    chunk_size = scores._check_chunk(chunk_size, True)
    banks = scores._banks(train_shard, k, boundary)
    out, _ = scores._els_banked(scores._bank_windows(x, k, boundary), banks, b, chunk_size, True, False,
                                group=torch.distributed.group.WORLD if group is None else group)
    return out.transpose(1, 2).reshape(x.shape)


def sharded_machine(train, k, boundary="circular", group=None):
    """The denoiser ``(x, noise_var) -> E[x0 | x]`` of the ELS machine, this rank holding its slice of ``train``.

    ``k``: an odd int or a ``scores.PatchSchedule``; needs an initialised process group.
    """
    import torch.distributed as dist
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    mine = shard(train, rank, world).contiguous()
    return lambda x, noise_var: els_denoise_sharded(x, mine, noise_var, scores.patch_size_at(k, noise_var),
                                                    boundary, group)


def main(argv=None):
    """torchrun entry: a DDIM trajectory with the sharded machine; rank 0 checks it against one process."""
    parser = argparse.ArgumentParser(prog="torchrun --nproc_per_node R -m course_utils.distributed",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=400, help="training digits (<= 1700)")
    parser.add_argument("--batch", type=int, default=4, help="samples")
    parser.add_argument("--k", type=int, default=5, help="patch size (odd)")
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps")
    parser.add_argument("--no-check", action="store_true", help="skip rank 0's single-process check")
    args = parser.parse_args(argv)
    if not 1 <= args.train <= 1700 or args.k < 1 or args.k % 2 == 0 or args.steps < 1 or args.batch < 1:
        parser.exit(2, "error: need 1 <= --train <= 1700, an odd positive --k, positive --steps and --batch\n")
    import os
    import torch.distributed as dist
    from .data import digits
    from .diffusion import ddim_sample
    if "RANK" not in os.environ:
        parser.exit(2, "error: start it with torchrun, e.g. torchrun --nproc_per_node 2 -m "
                       "course_utils.distributed\n")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(device)
        train = digits("train")[0][:args.train].to(device)
        if world > train.shape[0]:
            raise SystemExit(f"error: {world} ranks for {train.shape[0]} images; pass a larger --train")
        noise = torch.randn(args.batch, *train.shape[1:], generator=torch.Generator().manual_seed(0)).to(device)
        start = time.perf_counter()
        sample = ddim_sample(sharded_machine(train, args.k), noise, args.steps)
        seconds = time.perf_counter() - start
        if rank == 0:
            print(f"{world} ranks ({'nccl' if cuda else 'gloo'}): {args.steps} steps, N = {args.train}, "
                  f"k = {args.k}, {seconds:.2f} s")
            if not args.no_check:
                alone = ddim_sample(scores.machine("els", train, args.k), noise, args.steps)
                print(f"max |sharded - one process| = {float((sample - alone).abs().max()):.1e}")
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
