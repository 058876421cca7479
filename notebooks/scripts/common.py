"""What the worker scripts of notebooks 06 and 07 share: the data, the model and the data order.

Every rank builds the same model from the same seed and cuts the same global batches, so a run with 1, 2 or
N processes (on one machine or many) sees exactly the same examples per step.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import DeviceMesh

import course_utils as cu


def save_mnist_subset(path: Path, images: int, seed: int) -> Path:
    """Write ``images`` class-stratified MNIST training images (uint8) and labels to ``path`` for the workers.

    The notebook does this once, so each worker loads a small file instead of importing torchvision and parsing
    all 60,000 images (on a cluster: a file on shared storage, or each node runs it once).
    """
    data = cu.data.load_dataset("mnist").stratified(images // 10, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"images": data.images, "labels": data.labels, "mean": data.mean, "std": data.std}, path)
    return path


def mnist_tensors(path: Path, device: torch.device, flat: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The images saved by :func:`save_mnist_subset`, normalised (flattened for an MLP), and labels, on ``device``."""
    data = torch.load(path, weights_only=True)  # tensors only: never unpickle code from a file
    x = (data["images"].float() / 255 - data["mean"][0]) / data["std"][0]
    return (x.flatten(1) if flat else x).to(device), data["labels"].to(device)


def mlp(seed: int, hidden: int = 256, batch_norm: bool = False) -> nn.Sequential:
    """A 784-hidden-hidden-10 ReLU MLP, identical on every rank for the same seed (BatchNorm optional)."""
    torch.manual_seed(seed)
    norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
    return nn.Sequential(nn.Linear(784, hidden), *norm, nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))  # fmt: skip


def global_batches(n: int, batch_size: int, steps: int, seed: int) -> list[torch.Tensor]:
    """``steps`` global batches of indices into ``n`` examples: the same list on every rank."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(steps * batch_size // n + 1)])
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(steps)]


def now(device: torch.device) -> float:
    """perf_counter after the device finished its queued work (GPU kernels run asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def private_mesh(device_type: str) -> DeviceMesh:
    """A 1-D DeviceMesh over all ranks on a process group of its own, not on the default group.

    DTensor caches its sharding decisions, and with them the mesh and the mesh's process groups, for the life of
    the process. A mesh on the default group keeps that group and its gloo worker threads alive after
    ``destroy_process_group()``, into interpreter shutdown, where a worker thread still releasing the last
    collective's tensors aborts the process (see ``course_utils.distributed.close_worker``). On a group of its own
    the cache keeps only that group, idle long before the end.
    """
    return DeviceMesh.from_group(dist.new_group(), device_type)


def max_difference(a: nn.Module, b: nn.Module) -> float:
    """Largest absolute difference between the parameters of two models of the same architecture."""
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True))


if __name__ == "__main__":  # on a cluster: python common.py --images 20000 --out runs/mnist.pt (once per host)
    import argparse

    parser = argparse.ArgumentParser(description="write the MNIST subset the worker scripts train on")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"wrote {save_mnist_subset(args.out, args.images, args.seed)}")
