"""DDP training with an atomic checkpoint per epoch: run it on one node, on several, or kill a worker mid-run.

    torchrun --nproc-per-node 2 train_ddp.py --data mnist.pt --out results/run                       # one machine
    torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
             --rdzv-id job1 train_ddp.py --data mnist.pt --out results/run                          # on each of two hosts
    torchrun --nproc-per-node 2 --max-restarts 1 train_ddp.py --data mnist.pt --out results/run --kill-rank 1 --kill-epoch 1

After a failure torchrun restarts *all* workers; they find ``checkpoint.pt`` and resume at the next epoch, so the
final weights equal an uninterrupted run's. Rank 0 writes ``final.pt`` and ``result.json``.
``--mistakes no-resume`` (the checkpoint ignored on restart) and ``--mistakes sampler-epoch-lost`` (the sampler's
epoch counted from the restart) show what breaks that equality.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from common import mlp, mnist_tensors
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data.distributed import DistributedSampler

from course_utils.atomic import write_bytes_atomic
from course_utils.distributed import close_worker, init_worker, write_json


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash mid-write never leaves half a checkpoint."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())


MISTAKES = {"no-resume": "a restarted worker ignores the checkpoint and starts again at epoch 0",
            "sampler-epoch-lost": "the sampler's epoch counted from the restart, so the data order is not restored"}


def train(info, out: Path, *, data: Path, epochs: int, seed: int, batch_size: int = 64,
          kill_rank: int = -1, kill_epoch: int = -1, mistakes: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Train an MLP for ``epochs`` on the MNIST images in ``data``; resume from ``out/checkpoint.pt`` if present."""
    x, y = mnist_tensors(data, info.device)
    model = DDP(mlp(seed).to(info.device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sampler = DistributedSampler(range(len(x)), shuffle=True, seed=seed)  # rank and world size from the group
    checkpoint, start_epoch = out / "checkpoint.pt", 0
    if checkpoint.is_file() and "no-resume" not in mistakes:  # a restarted worker: continue after the last epoch
        state = torch.load(checkpoint, map_location=info.device, weights_only=True)  # tensors and numbers only
        model.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])  # momentum buffers too, or the run would differ
        start_epoch = state["epoch"] + 1
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    print(f"rank {info.rank}/{info.world_size} attempt {restart}: epochs {start_epoch}..{epochs - 1}", flush=True)
    loss = None
    for epoch in range(start_epoch, epochs):
        if restart == 0 and info.rank == kill_rank and epoch == kill_epoch:
            print(f"rank {info.rank}: killing myself at the start of epoch {epoch}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # a hard crash: no exception, no clean-up
        sampler.set_epoch(epoch - start_epoch if "sampler-epoch-lost" in mistakes else epoch)
        order = torch.tensor(list(sampler))
        for i in range(0, len(order), batch_size // info.world_size):
            idx = order[i:i + batch_size // info.world_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        if info.rank == 0:
            save_atomic({"model": model.module.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                        checkpoint)  # fmt: skip
        dist.barrier()  # nobody starts the next epoch before the checkpoint exists
    if info.rank == 0:
        save_atomic(model.module.state_dict(), out / "final.pt")
        write_json(out / "result.json", {"restarts": restart, "resumed_at_epoch": start_epoch, "epochs": epochs,
                                         "world_size": info.world_size,
                                         "last_loss": None if loss is None else loss.item()})  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="images saved by common.save_mnist_subset")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-rank", type=int, default=-1, help="this rank kills itself on the first attempt")
    parser.add_argument("--kill-epoch", type=int, default=-1, help="... at the start of this epoch")
    parser.add_argument("--mistakes", nargs="*", default=[], choices=sorted(MISTAKES), help="slips to build in")
    args = parser.parse_args()
    info = init_worker()
    train(info, args.out, data=args.data, epochs=args.epochs, seed=args.seed, kill_rank=args.kill_rank,
          kill_epoch=args.kill_epoch, mistakes=tuple(args.mistakes))  # fmt: skip
    # DDP's reducer keeps the default group alive (torch 2.14); safe: the last collective was the epoch's barrier
    close_worker(require_gone=False)


if __name__ == "__main__":
    main()
