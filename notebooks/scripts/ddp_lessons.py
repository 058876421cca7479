"""Notebook 06, sections 1-4, in one torchrun launch: manual all-reduce vs DDP vs one process, BatchNorm,
DistributedSampler, gradient buckets and overlap, the profiler's communication share, scaling, FSDP2.

    torchrun --nproc-per-node 2 ddp_lessons.py --data mnist.pt --out results/06     # CPU (gloo) or one GPU per rank (nccl)

Each experiment is one function; rank 0 writes every figure to ``<out>/lessons.json``.

``--mistakes`` runs the experiments with common slips built in, to see what each does to the figures (notebook 06
shows them beside the right results); ``--only`` runs some experiments:

    torchrun --nproc-per-node 2 ddp_lessons.py --data mnist.pt --out results/06-broken --mistakes sum-gradients \\
        --only equality
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from common import global_batches, max_difference, mlp, mnist_tensors, now, private_mesh
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data.distributed import DistributedSampler
from train_ddp import train

from course_utils.distributed import close_worker, init_worker, write_json
from course_utils.models import SimpleCNN

MISTAKES = {
    "sum-gradients": "gradients summed over the ranks, not averaged (by hand, and in DDP through a comm hook)",
    "bn-always-frozen": "BatchNorm in eval mode in the train-mode comparison, so no rank uses its own statistics",
    "bn-never-frozen": "BatchNorm left in train mode in the frozen comparison",
    "same-shard": "DistributedSampler told rank 0 on every rank, so every rank reads the same shard",
    "no-set-epoch": "sampler.set_epoch(epoch) never called",
    "full-batch": "every DDP rank given the whole global batch instead of its share",
    "fsdp-sum": "FSDP2's gradients summed over the ranks instead of averaged",
    "no-shard": "fully_shard never applied: each rank keeps a full replica, as with DDP",
    "accumulate-unscaled": "each accumulated micro-batch's loss not divided by the number of micro-batches",
}


def manual_data_parallel_step(model, optimizer, x, y, world_size, average=True):
    """One step of data parallelism by hand: gradients of my shard, averaged over all ranks with all_reduce."""
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    for p in model.parameters():
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        if average:  # the mistake "sum-gradients" skips this: every update is world_size times too large
            p.grad /= world_size
    optimizer.step()


def summing_hook(state, bucket):
    """A DDP comm hook that all-reduces a bucket and keeps the sum (DDP's own hook divides by the world size)."""
    work = dist.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def plain_step(model, optimizer, x, y):
    """One ordinary training step (DDP's all-reduce happens inside backward())."""
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def three_ways(info, x, y, batches, seed, batch_norm=False, frozen_bn=False, average=True):
    """Train the same model by hand-made all-reduce, by DDP and as one process on the whole global batch."""
    base = mlp(seed, batch_norm=batch_norm).to(info.device)
    models = {name: copy.deepcopy(base) for name in ("manual", "ddp", "single")}
    models["ddp"] = DDP(models["ddp"])
    if not average:
        models["ddp"].register_comm_hook(None, summing_hook)
    for model in models.values():
        model.train(not frozen_bn)  # frozen BN: eval mode uses fixed statistics, identical on every rank
    opts = {name: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for name, m in models.items()}
    for batch in batches:
        mine = batch.chunk(info.world_size)[info.rank]  # this rank's shard of the global batch
        manual_data_parallel_step(models["manual"], opts["manual"], x[mine], y[mine], info.world_size, average)
        plain_step(models["ddp"], opts["ddp"], x[mine], y[mine])
        plain_step(models["single"], opts["single"], x[batch], y[batch])  # what one process would do
    ddp = models["ddp"].module
    return {"manual_vs_single": max_difference(models["manual"], models["single"]),
            "ddp_vs_single": max_difference(ddp, models["single"]),
            "manual_vs_ddp": max_difference(models["manual"], ddp)}  # fmt: skip


def accumulation(info, x, y, batches, seed, micro=2, scale=True, sync_every=False):
    """Gradient accumulation under DDP: ``micro`` backward passes per step, all-reduced once (``no_sync`` on all
    but the last), against one process on the whole global batch; counts the all-reduces launched per step."""
    base = mlp(seed).to(info.device)
    ddp, single = DDP(copy.deepcopy(base)), copy.deepcopy(base)
    launches = []

    def counting_hook(state, bucket):
        launches.append(bucket.index())
        work = dist.all_reduce(bucket.buffer(), async_op=True)
        return work.get_future().then(lambda fut: fut.value()[0] / info.world_size)

    ddp.register_comm_hook(None, counting_hook)
    opts = {m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (ddp, single)}
    for batch in batches:
        opts[ddp].zero_grad()
        parts = batch.chunk(info.world_size)[info.rank].chunk(micro)  # my shard, in equal micro-batches
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            with contextlib.nullcontext() if last or sync_every else ddp.no_sync():  # no all-reduce until the last
                loss = F.cross_entropy(ddp(x[part]), y[part])
                (loss / len(parts) if scale else loss).backward()
        opts[ddp].step()
        plain_step(single, opts[single], x[batch], y[batch])
    return {"ddp_vs_single": max_difference(ddp.module, single), "micro_batches": micro,
            "all_reduces_per_step": len(launches) / len(batches)}  # fmt: skip


def sync_batchnorm_check(info, seed):
    """SyncBatchNorm computes BatchNorm statistics over the global batch; it refuses CPU modules."""
    try:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(mlp(seed, batch_norm=True)).to(info.device)
        DDP(model)(torch.randn(8, 784, device=info.device)).sum().backward()
        return "works"
    except (ValueError, RuntimeError) as error:
        return f"{type(error).__name__}: {error}"


def sampler_coverage(info, n, epochs=2, rank=None, set_epoch=True):
    """Which indices each rank's DistributedSampler yields per epoch, gathered on every rank."""
    out = {}
    for size in (n, n + 1):  # n + 1 is not divisible by 2 ranks: the sampler pads with repeats
        sampler = DistributedSampler(range(size), num_replicas=info.world_size,
                                     rank=info.rank if rank is None else rank, shuffle=True, seed=0)  # fmt: skip
        for epoch in range(epochs):
            if set_epoch:  # without it every epoch repeats the same order
                sampler.set_epoch(epoch)
            gathered = [None] * info.world_size
            dist.all_gather_object(gathered, list(sampler))
            seen = [i for part in gathered for i in part]
            out[f"size{size - n}_epoch{epoch}"] = {"unique": len(set(seen)), "total": len(seen), "size": size,
                                                   "first": gathered[0][:5]}  # fmt: skip
    return out


def bucket_timeline(info, x, y, bucket_cap_mb=None, hidden=256):
    """When DDP launches each gradient bucket's all-reduce, relative to the backward pass (a comm hook).

    ``bucket_cap_mb=None`` leaves DDP's default: 25 MB buckets, and a first bucket of about 1 MB so that the first
    all-reduce starts early; any explicit cap, 25 included, applies to the first bucket too."""
    model = DDP(mlp(0, hidden=hidden).to(info.device), bucket_cap_mb=bucket_cap_mb)
    events = []

    def hook(state, bucket):
        events.append((time.perf_counter(), bucket.index(), bucket.buffer().numel()))
        work = dist.all_reduce(bucket.buffer(), async_op=True)
        return work.get_future().then(lambda fut: fut.value()[0] / info.world_size)

    model.register_comm_hook(None, hook)
    for _ in range(2):  # DDP re-orders its buckets after the first backward (in the order gradients arrived)
        events.clear()
        loss = F.cross_entropy(model(x[:64]), y[:64])
        start = now(info.device)
        loss.backward()
        end = now(info.device)
    return {"buckets": len(events), "numels": [e[2] for e in events], "backward_ms": 1e3 * (end - start),
            "launch_ms": [1e3 * (e[0] - start) for e in events]}  # fmt: skip


def communication_share(info, x, y, steps):
    """Fraction of a DDP step (the MNIST CNN, batch 64 per rank)'s time inside all-reduce calls, from torch.profiler."""
    model = DDP(SimpleCNN().to(info.device))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    plain_step(model, opt, x[:64], y[:64])  # warm-up
    with torch.profiler.profile() as prof:
        start = now(info.device)
        for _ in range(steps):
            plain_step(model, opt, x[:64], y[:64])
        total_us = 1e6 * (now(info.device) - start)
    comm = [e for e in prof.key_averages() if "all_reduce" in e.key or "allreduce" in e.key]
    comm_us = max((e.cpu_time_total for e in comm), default=0.0)
    return {"share": comm_us / total_us, "events": [e.key for e in comm], "step_ms": total_us / 1e3 / steps}


def throughput(info, x, y, global_batch, steps, rounds=2, full_batch=False):
    """Images/s at an equal global batch: 1 process (rank 0 alone, the others wait), all ranks with DDP, and all
    ranks computing the same shards *without* any all-reduce (what the machine's cores allow at best).
    ``full_batch``: the mistake of giving every DDP rank the whole global batch (the same images, counted once)."""
    def run(model, idx):
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        plain_step(model, opt, x[idx], y[idx])  # warm-up (and DDP's first-iteration bucket rebuild)
        dist.barrier()
        start = now(info.device)
        for _ in range(steps):
            plain_step(model, opt, x[idx], y[idx])
        dist.barrier()
        return steps * global_batch / (now(info.device) - start)

    mine = torch.arange(global_batch).chunk(info.world_size)[info.rank]
    best = {"single": 0.0, "ddp": 0.0, "no_comm": 0.0}
    for _ in range(rounds):  # interleaved: a slow phase of a shared machine hits all three
        torch.manual_seed(0)
        if info.rank == 0:
            model = SimpleCNN().to(info.device)
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            idx = torch.arange(global_batch)
            plain_step(model, opt, x[idx], y[idx])
            start = now(info.device)
            for _ in range(steps):
                plain_step(model, opt, x[idx], y[idx])
            best["single"] = max(best["single"], steps * global_batch / (now(info.device) - start))
        dist.barrier()
        torch.manual_seed(0)
        best["ddp"] = max(best["ddp"], run(DDP(SimpleCNN().to(info.device)), torch.arange(global_batch) if full_batch else mine))
        torch.manual_seed(0)
        best["no_comm"] = max(best["no_comm"], run(SimpleCNN().to(info.device), mine))  # same work, no all-reduce
    return best


def local_bytes(tensors):
    """Bytes of the tensors this rank really holds (a sharded DTensor counts its local shard only)."""
    return sum((t.to_local() if hasattr(t, "to_local") else t).numel() * t.element_size() for t in tensors)


def fsdp2(info, x, y, batches, seed, divide=True, shard=True):
    """FSDP2: shard each Linear and the root; compare with one process; measure per-rank bytes.

    The mistakes: ``divide=False`` sums the shards' gradients; ``shard=False`` keeps a full replica per rank."""
    single, sharded = mlp(seed).to(info.device), mlp(seed).to(info.device)
    mesh = private_mesh(info.device.type)  # not the default group: DTensor's cache keeps the mesh until exit
    for layer in sharded if shard else []:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)  # each Linear's parameters: dim 0 split across the ranks
    if shard:
        fully_shard(sharded, mesh=mesh)
    else:  # a replica per rank still needs its gradients averaged to stay equal to one process
        sharded = DDP(sharded)
    opt_single = torch.optim.SGD(single.parameters(), lr=0.05, momentum=0.9)
    opt_sharded = torch.optim.SGD(sharded.parameters(), lr=0.05, momentum=0.9)
    for batch in batches:
        mine = batch.chunk(info.world_size)[info.rank]
        opt_sharded.zero_grad()
        F.cross_entropy(sharded(x[mine]), y[mine]).backward()  # reduce-scatter averages the shards' gradients
        if not divide:  # a reduce-scatter that sums: the average multiplied back by the number of ranks
            for p in sharded.parameters():
                p.grad.mul_(info.world_size)
        opt_sharded.step()
        plain_step(single, opt_single, x[batch], y[batch])
    diff = max((getattr(p, "full_tensor", lambda p=p: p)() - q).abs().max().item()
               for p, q in zip(sharded.parameters(), single.parameters(), strict=True))
    adam_full, adam_sharded = (torch.optim.Adam(m.parameters(), lr=1e-3) for m in (single, sharded))
    plain_step(single, adam_full, x[batches[0]], y[batches[0]])
    plain_step(sharded, adam_sharded, x[batches[0]].chunk(info.world_size)[info.rank],
               y[batches[0]].chunk(info.world_size)[info.rank])  # fmt: skip

    def adam_bytes(opt):
        return local_bytes([v for s in opt.state.values() for v in s.values() if v.ndim > 0])

    return {"max_param_difference": diff, "param_bytes_rank": local_bytes(sharded.parameters()),
            "param_bytes_full": local_bytes(single.parameters()), "adam_bytes_rank": adam_bytes(adam_sharded),
            "adam_bytes_full": adam_bytes(adam_full), "params": sum(p.numel() for p in single.parameters())}  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="images saved by common.save_mnist_subset")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--bn-steps", type=int, default=12, help="steps of the BatchNorm comparisons")
    parser.add_argument("--timing-steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mistakes", nargs="*", default=[], choices=sorted(MISTAKES), help="slips to build in")
    parser.add_argument("--only", nargs="*", default=None, help="run only these experiments")
    args = parser.parse_args()
    slip = set(args.mistakes).__contains__
    info = init_worker()
    x, y = mnist_tensors(args.data, info.device)
    x_img = x.view(-1, 1, 28, 28)  # the CNN's view of the same images
    batches = global_batches(len(x), 128, args.steps, args.seed)
    # BatchNorm's runs compare the mathematics (per-rank statistics or not) over the first steps only: over many
    # steps a last-bit rounding difference can flip a ReLU and then grow, for frozen BatchNorm as for any model.
    bn_batches = batches[:args.bn_steps]
    results = {"world_size": info.world_size, "backend": info.backend, "device": str(info.device)}
    experiments = {
        "equality": lambda: three_ways(info, x, y, batches, args.seed, average=not slip("sum-gradients")),
        "batchnorm_train": lambda: three_ways(info, x, y, bn_batches, args.seed, batch_norm=True,
                                              frozen_bn=slip("bn-always-frozen")),
        "batchnorm_frozen": lambda: three_ways(info, x, y, bn_batches, args.seed, batch_norm=True,
                                               frozen_bn=not slip("bn-never-frozen")),
        "accumulation": lambda: accumulation(info, x, y, batches, args.seed, scale=not slip("accumulate-unscaled")),
        "accumulation_synced": lambda: accumulation(info, x, y, batches[:3], args.seed, sync_every=True),
        "sync_batchnorm": lambda: sync_batchnorm_check(info, args.seed),
        "sampler": lambda: sampler_coverage(info, len(x), rank=0 if slip("same-shard") else None,
                                            set_epoch=not slip("no-set-epoch")),
        "buckets_small": lambda: bucket_timeline(info, x, y, bucket_cap_mb=0.25),
        "buckets_explicit_25": lambda: bucket_timeline(info, x, y, bucket_cap_mb=25, hidden=512),
        "buckets_default": lambda: bucket_timeline(info, x, y, hidden=512),  # 2.7 MB of gradients
        "profiler": lambda: communication_share(info, x_img, y, steps=5),
        "throughput": lambda: throughput(info, x_img, y, 256, args.timing_steps, full_batch=slip("full-batch")),
        "fsdp2": lambda: fsdp2(info, x, y, batches, args.seed, divide=not slip("fsdp-sum"), shard=not slip("no-shard")),
        "reference_run": lambda: train(info, args.out / "reference", data=args.data, epochs=args.epochs,
                                       seed=args.seed),  # the uninterrupted single-node run of section 5
    }
    unknown = set(args.only or []) - set(experiments)
    if unknown:
        parser.error(f"no experiment(s) {sorted(unknown)}; choose from {sorted(experiments)}")
    results["mistakes"] = args.mistakes
    results["seconds"] = {}
    for name, experiment in experiments.items():
        if args.only is not None and name not in args.only:
            continue
        start = time.perf_counter()
        results[name] = experiment()
        results["seconds"][name] = time.perf_counter() - start
    if info.rank == 0:
        write_json(args.out / "lessons.json", results)
    # DDP's reducer keeps the default group alive (torch 2.14); safe: the last collective was train()'s barrier
    close_worker(require_gone=False)


if __name__ == "__main__":
    main()
