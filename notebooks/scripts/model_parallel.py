"""Notebook 07 in one torchrun launch: naive model parallelism with send/recv, pipeline parallelism with
torch.distributed.pipelining (GPipe, 1F1B; m = 1, 2, 4, 8 microbatches), tensor parallelism by hand and with
torch.distributed.tensor.parallel.

    torchrun --nproc-per-node 2 model_parallel.py --data mnist.pt --out results/07   # gloo on CPU, nccl on GPUs

Every rank measures its own compute spans (perf_counter after a barrier); rank 0 gathers them and writes
``<out>/model_parallel.json``. ``--mistakes`` builds in common slips of a pipeline (see ``MISTAKES``) and ``--parts``
runs some parts only, to see what a slip does to the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from common import mnist_tensors, now, private_mesh
from torch import nn
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from course_utils.distributed import close_worker, init_worker, write_json

MISTAKES = {"sum-microbatch-grads": "the microbatches' gradients summed, not averaged (scale_grads=False)",
            "sum-microbatch-losses": "the step's loss reported as the sum of the microbatch losses, not their mean",
            "no-backward-all-reduce": "Megatron's f without its backward all-reduce: each rank keeps its own branch's input "
                                      "gradient",
            "bias-on-every-rank": "the row-parallel layer's bias added on every rank before the all-reduce"}
PARTS = ("naive", "pipeline", "tensor")


def deep_mlp(seed: int, hidden: int) -> nn.Sequential:
    """784 → hidden ×5 → 10, six Linear layers; two stages of three layers do about equal work."""
    torch.manual_seed(seed)
    widths = [784] + [hidden] * 5 + [10]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers += [nn.Linear(fan_in, fan_out)] + ([nn.ReLU()] if i < 5 else [])
    return nn.Sequential(*layers)


def stage_of(model: nn.Sequential, rank: int, world: int) -> nn.Sequential:
    """This rank's contiguous slice of the Linear layers (with their ReLUs); rank 0 gets the first ones."""
    linears = [i for i, layer in enumerate(model) if isinstance(layer, nn.Linear)]
    per = len(linears) // world
    start = linears[rank * per]
    end = linears[(rank + 1) * per] if rank < world - 1 else len(model)
    return model[start:end]


def naive_step(info, stage, x, y, spans, t0):
    """Stage 0 computes, sends its activation, waits for the gradient; the last stage waits, computes, sends back.

    Returns the loss on the last stage, None on the others."""
    last = info.rank == info.world_size - 1
    if info.rank == 0:
        start = now(x.device)
        act = stage(x)
        spans.append(("forward", start - t0, now(x.device) - t0))
        dist.send(act.detach(), dst=1)
        grad = torch.empty_like(act)
        dist.recv(grad, src=1)  # idle: waiting for the other stage
        start = now(x.device)
        act.backward(grad)
        spans.append(("backward", start - t0, now(x.device) - t0))
    elif last:
        act = torch.empty(x.shape[0], stage[0].in_features, device=x.device)
        dist.recv(act, src=0)  # idle: waiting for the other stage
        act.requires_grad_()
        start = now(x.device)
        loss = F.cross_entropy(stage(act), y)
        spans.append(("forward", start - t0, now(x.device) - t0))
        start = now(x.device)
        loss.backward()
        spans.append(("backward", start - t0, now(x.device) - t0))
        dist.send(act.grad, dst=0)
        return loss.detach()
    return None


def timed(stage: PipelineStage, spans: list, t0_box: list) -> PipelineStage:
    """Record the compute span of every forward_one_chunk / backward_one_chunk the schedule calls."""
    for name, kind in (("forward_one_chunk", "forward"), ("backward_one_chunk", "backward")):
        original = getattr(stage, name)

        def wrapper(*args, _original=original, _kind=kind, **kwargs):
            start = now(stage.device)
            out = _original(*args, **kwargs)
            spans.append((_kind, start - t0_box[0], now(stage.device) - t0_box[0]))
            return out

        setattr(stage, name, wrapper)
    return stage


def float32_handshake(stage: PipelineStage) -> PipelineStage:
    """Open the stage's links with float32 tensors both ways, as torch does since pytorch/pytorch#165539.

    torch 2.9's stages send an int64 and receive a float32 in their first exchange; gloo checks the sizes (8 vs 4
    bytes) and aborts the process, NCCL does not notice. Where the library already sends float32, this changes
    nothing."""
    handshake = stage._get_init_p2p_neighbors_ops

    def float32_ops():
        ops = handshake()
        for op in ops:
            op.tensor = op.tensor.float()
        return ops

    stage._get_init_p2p_neighbors_ops = float32_ops
    return stage


class ActivationMeter:
    """Bytes of the tensors autograd saved for the backward pass and still holds: the activations a schedule keeps.

    ``with meter:`` installs ``saved_tensors_hooks``: every saved tensor (the parameters excepted) is counted while
    the graph that saved it is alive, and ``peak`` is the most bytes held at once since the last ``reset()``, beyond
    what was already held then (the stage still holds tensors saved by an earlier step: not this step's)."""

    def __init__(self, parameters):
        self.parameters = {p.data_ptr() for p in parameters}
        self.live = self.most = self.base = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def reset(self):
        self.base = self.most = self.live

    @property
    def peak(self):
        return self.most - self.base

    def _pack(self, tensor):
        return tensor if tensor.data_ptr() in self.parameters else _Held(tensor, self)

    @staticmethod
    def _unpack(packed):
        return packed.tensor if isinstance(packed, _Held) else packed

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


class _Held:
    """One saved activation: counted when saved, uncounted when its graph lets it go."""

    def __init__(self, tensor, meter):
        self.tensor, self.meter, self.nbytes = tensor, meter, tensor.numel() * tensor.element_size()
        meter.live += self.nbytes
        meter.most = max(meter.most, meter.live)

    def __del__(self):
        self.meter.live -= self.nbytes


def busy_fraction(spans, wall):
    return sum(end - start for _, start, end in spans) / wall


def peak_in_flight(spans):
    """Most microbatches whose activations this stage holds at once (forwards done minus backwards done)."""
    held = peak = 0
    for kind, _, _ in sorted(spans, key=lambda s: s[1]):
        held += 1 if kind == "forward" else -1
        peak = max(peak, held)
    return peak


def pipeline_step(info, schedule, stage_module, x, y, losses, spans, t0):
    """One training step of ``schedule`` on this rank; ``schedule`` None is GPipe at m = 1 by hand (the naive split)."""
    if schedule is None:
        loss = naive_step(info, stage_module, x, y, spans, t0)
        losses += [] if loss is None else [loss]
    elif info.rank == 0:
        schedule.step(x)
    elif info.rank == info.world_size - 1:
        schedule.step(target=y, losses=losses)
    else:
        schedule.step()


def pipeline_run(info, full, x, y, schedule_cls, m, repeats, mistakes=()):
    """One schedule at m microbatches: loss and gradients vs the unsplit model, then the measured bubble.

    A torch that refuses fewer microbatches than stages (2.9 does, 2.14 does not) gets GPipe at m = 1 by hand: one
    microbatch through the pipeline is exactly the naive split of ``naive_step``, measured the same way."""
    stage_module = stage_of(full, info.rank, info.world_size)
    spans, t0_box = [], [0.0]
    stage = timed(float32_handshake(PipelineStage(stage_module, info.rank, info.world_size, info.device)), spans, t0_box)
    last = info.rank == info.world_size - 1
    try:
        schedule = schedule_cls(stage, n_microbatches=m, loss_fn=F.cross_entropy,
                                scale_grads="sum-microbatch-grads" not in mistakes)  # fmt: skip
        how = f"torch.distributed.pipelining.{schedule_cls.__name__}"
    except ValueError:
        if not (issubclass(schedule_cls, ScheduleGPipe) and m == 1):
            raise
        schedule, how = None, f"by hand (torch {torch.__version__} refuses m < stages): the naive split"

    walls, busy, peaks, losses, held = [], [], [], [], []
    meter = ActivationMeter(stage_module.parameters())
    for _ in range(repeats + 1):  # the first step also infers the shapes: not timed
        stage_module.zero_grad()
        spans.clear()
        losses = []
        dist.barrier()
        meter.reset()
        t0_box[0] = now(info.device)
        with meter:
            pipeline_step(info, schedule, stage_module, x, y, losses, spans, t0_box[0])
        wall = now(info.device) - t0_box[0]
        held.append(meter.peak)
        walls.append(wall)
        busy.append(busy_fraction(spans, wall))
        peaks.append(peak_in_flight(spans))
    dist.barrier()  # every send of this schedule has been received before its objects go away
    del schedule, stage
    grads = {n: p.grad.clone() for n, p in stage_module.named_parameters()}
    combine = torch.sum if "sum-microbatch-losses" in mistakes else torch.mean
    loss = combine(torch.stack(losses)).item() if last else None
    return {"wall_ms": 1e3 * statistics.median(walls[1:]), "bubble": 1 - statistics.median(busy[1:]),
            "peak_in_flight": max(peaks[1:]), "peak_activation_bytes": max(held[1:]), "spans": spans[:], "loss": loss,
            "how": how}, grads  # fmt: skip


def pipelines(info, x, y, hidden, microbatches, repeats, seed, mistakes=()):
    full = deep_mlp(seed, hidden).to(info.device)
    loss_ref = F.cross_entropy(full(x), y)  # the unsplit model on the whole batch, on every rank
    loss_ref.backward()
    ref = {n: p.grad.clone() for n, p in stage_of(full, info.rank, info.world_size).named_parameters()}
    out = {"reference_loss": loss_ref.item()}
    for name, cls in (("gpipe", ScheduleGPipe), ("1f1b", Schedule1F1B)):
        for m in microbatches:
            if name == "1f1b" and m < info.world_size:
                continue  # 1F1B needs at least one microbatch per stage
            model = deep_mlp(seed, hidden).to(info.device)
            run, grads = pipeline_run(info, model, x, y, cls, m, repeats, mistakes)
            run["grad_max_diff"] = max((grads[n] - ref[n]).abs().max().item() for n in ref)
            out[f"{name}_m{m}"] = run
    return out


def tensor_parallel(info, x, seed, features=512):
    """A Linear split by output columns (all_gather) and by input rows (all_reduce), then the library's version."""
    torch.manual_seed(seed)
    layer = nn.Linear(784, features).to(info.device)
    x = x[:64]
    full = layer(x)
    w, b = layer.weight.chunk(info.world_size, dim=0)[info.rank], layer.bias.chunk(info.world_size)[info.rank]
    local = x @ w.T + b  # column-parallel: my slice of the output features
    parts = [torch.empty_like(local) for _ in range(info.world_size)]
    dist.all_gather(parts, local.contiguous())
    column = torch.cat(parts, dim=-1)
    cols = torch.arange(784).chunk(info.world_size)[info.rank]
    partial = x[:, cols] @ layer.weight[:, cols].T  # row-parallel: my slice of the input features
    dist.all_reduce(partial)
    row = partial + layer.bias
    two = nn.Sequential(nn.Linear(784, features), nn.ReLU(), nn.Linear(features, 10)).to(info.device)
    reference = nn.Sequential(nn.Linear(784, features), nn.ReLU(), nn.Linear(features, 10)).to(info.device)
    reference.load_state_dict(two.state_dict())
    mesh = private_mesh(info.device.type)  # not the default group: DTensor's cache keeps the mesh until exit
    parallelize_module(two, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})  # Megatron's MLP split
    out, out_ref = two(x), reference(x)
    out.sum().backward()
    out_ref.sum().backward()
    grad_diff = max((p.grad.full_tensor() - q.grad).abs().max().item()
                    for p, q in zip(two.parameters(), reference.parameters(), strict=True))  # fmt: skip
    return {"column_max_diff": (column - full).abs().max().item(), "row_max_diff": (row - full).abs().max().item(),
            "dtensor_output_max_diff": (out - out_ref).abs().max().item(), "dtensor_grad_max_diff": grad_diff,
            "weight_shard_shape": list(two[0].weight.to_local().shape)}  # fmt: skip


class CopyToRanks(torch.autograd.Function):
    """Megatron's f: the input goes to every rank's branch unchanged; backward sums the branches' gradients."""

    @staticmethod
    def forward(ctx, x, counts, reduce_backward=True):
        ctx.counts, ctx.reduce_backward = counts, reduce_backward
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        if ctx.reduce_backward:
            dist.all_reduce(grad)
            ctx.counts["backward"] += 1
        return grad, None, None


class SumOverRanks(torch.autograd.Function):
    """Megatron's g: the partial outputs are summed over ranks; backward passes the gradient on unchanged."""

    @staticmethod
    def forward(ctx, partial, counts):
        total = partial.clone()
        dist.all_reduce(total)
        counts["forward"] += 1
        return total

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def megatron_mlp(info, x, seed, hidden=256, mistakes=()):
    """Linear → ReLU → Linear split the Megatron way by hand, forward and backward, against the unsplit MLP.

    The first layer is split by output features (column-parallel: rank r holds rows r of W1), the second by input
    features (row-parallel: the matching columns of W2), so the ReLU runs on local features and one all-reduce (g)
    ends the forward pass; in the backward pass one all-reduce (f) sums the two branches' gradients for x."""
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(info.device)
    x_ref = x.clone().requires_grad_()
    out_ref = mlp(x_ref)
    out_ref.square().mean().backward()  # any loss: the gradients are what is compared
    rank, world = info.rank, info.world_size

    def shard(t, dim):
        return t.detach().chunk(world, dim=dim)[rank].clone().requires_grad_()

    w1, b1, w2 = shard(mlp[0].weight, 0), shard(mlp[0].bias, 0), shard(mlp[2].weight, 1)
    b2 = mlp[2].bias.detach().clone().requires_grad_()
    counts = {"forward": 0, "backward": 0}
    x_tp = x.clone().requires_grad_()
    h = F.relu(CopyToRanks.apply(x_tp, counts, "no-backward-all-reduce" not in mistakes) @ w1.T + b1)
    partial = h @ w2.T + (b2 if "bias-on-every-rank" in mistakes else 0)
    out = SumOverRanks.apply(partial, counts) + (0 if "bias-on-every-rank" in mistakes else b2)
    out.square().mean().backward()
    pairs = [(w1.grad, mlp[0].weight.grad.chunk(world, 0)[rank]), (b1.grad, mlp[0].bias.grad.chunk(world)[rank]),
             (w2.grad, mlp[2].weight.grad.chunk(world, 1)[rank]), (b2.grad, mlp[2].bias.grad)]  # fmt: skip

    def relative(a, b):  # gradients of a mean are small: compare with the largest reference entry
        return ((a - b).abs().max() / b.abs().max()).item()

    return {"megatron_output_max_diff": (out - out_ref).abs().max().item(),
            "megatron_weight_grad_rel_diff": max(relative(a, b) for a, b in pairs),
            "megatron_input_grad_rel_diff": relative(x_tp.grad, x_ref.grad),
            "megatron_all_reduces": counts, "megatron_hidden": hidden}  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="images saved by common.save_mnist_subset")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--microbatches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mistakes", nargs="*", default=[], choices=sorted(MISTAKES), help="slips to build in")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="run only these parts")
    args = parser.parse_args()
    info = init_worker()
    if info.world_size != 2:
        raise ValueError(f"this demo splits the model into 2 stages; run it with 2 processes, not {info.world_size}")
    x, y = mnist_tensors(args.data, info.device)
    if len(x) < args.batch:
        raise ValueError(f"{args.data} holds {len(x)} images, fewer than --batch {args.batch}: save more")
    x, y = x[:args.batch], y[:args.batch]
    seconds, results = {}, {"mistakes": args.mistakes}
    if "naive" in args.parts:
        start = time.perf_counter()
        stage = stage_of(deep_mlp(args.seed, args.hidden).to(info.device), info.rank, info.world_size)
        naive = []
        dist.barrier()
        t0 = now(info.device)  # one clock for the three steps (both ranks leave the barrier together)
        for _ in range(3):  # three training steps of naive model parallelism
            naive_step(info, stage, x, y, naive, t0)
        dist.barrier()
        results["naive"] = {"spans": naive, "wall": now(info.device) - t0}
        seconds["naive"] = time.perf_counter() - start
    if "pipeline" in args.parts:
        start = time.perf_counter()
        results["pipeline"] = pipelines(info, x, y, args.hidden, args.microbatches, args.repeats, args.seed,
                                        tuple(args.mistakes))  # fmt: skip
        seconds["pipeline"] = time.perf_counter() - start
    if "tensor" in args.parts:
        start = time.perf_counter()
        results["tensor"] = tensor_parallel(info, x, args.seed) | megatron_mlp(info, x[:64], args.seed,
                                                                                mistakes=tuple(args.mistakes))
        seconds["tensor"] = time.perf_counter() - start
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, results)  # every rank's spans and gradient differences
    if info.rank == 0:
        write_json(args.out / "model_parallel.json", {"ranks": gathered, "seconds": seconds,
                                                      "backend": info.backend, "device": str(info.device)})  # fmt: skip
    close_worker()  # fails loudly if a process group would outlive it (the old 1-in-N SIGABRT at exit)


if __name__ == "__main__":
    main()
