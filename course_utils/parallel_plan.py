"""Memory and communication per rank of one training step under DDP, FSDP, pipeline and tensor parallelism.

Use it to decide how to spread a model that does not fit one device: ``plan(shape, "fsdp", 8)`` gives the bytes
of parameters, gradients, optimizer states and activations each rank holds, and the bytes it sends per step.

Conventions (mixed-precision Adam as in the ZeRO paper, Rajbhandari et al. 2020): 2 bytes per parameter (bf16),
2 per gradient, 12 of optimizer state (fp32 master copy, first and second moments). Activations of a
transformer layer follow Korthikanti et al. 2022 ("Reducing Activation Recomputation"), 16-bit, no
recomputation: ``s·b·h·(34 + 5·a·s/h)`` bytes, and with tensor parallelism of degree t
``s·b·h·(10 + 24/t + 5·a·s/(h·t))``. Ring collectives send ``(N−1)/N`` of the message per rank for a
reduce-scatter or an all-gather and twice that for an all-reduce. Transient buffers (FSDP's unsharded layer,
communication buckets) and fragmentation are left out: real peaks are somewhat higher.
"""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES = ("ddp", "fsdp", "pipeline", "tensor")


@dataclass(frozen=True)
class TransformerShape:
    """A decoder-only transformer's size and one micro-batch: what the memory of a training step depends on."""

    params: float  # number of parameters
    layers: int
    hidden: int
    heads: int
    seq_len: int
    micro_batch: int  # sequences per micro-batch on one rank

    def __post_init__(self) -> None:
        for name in ("params", "layers", "hidden", "heads", "seq_len", "micro_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"TransformerShape.{name} must be a positive number, got {value!r}")

    def boundary_bytes(self, dtype_bytes: int = 2) -> float:
        """The activation passed from one layer to the next for one micro-batch (s·b·h values)."""
        return self.seq_len * self.micro_batch * self.hidden * dtype_bytes

    def activation_bytes(self, tensor_degree: int = 1) -> float:
        """Activations all layers keep for the backward pass of one micro-batch (16-bit, no recomputation)."""
        s, b, h, a, t = self.seq_len, self.micro_batch, self.hidden, self.heads, tensor_degree
        return self.layers * s * b * h * (10 + 24 / t + 5 * a * s / (h * t))


@dataclass(frozen=True)
class PerRank:
    """Bytes one rank holds, and sends per optimizer step, under one strategy."""

    strategy: str
    world_size: int
    parameters: float
    gradients: float
    optimizer: float
    activations: float
    communication: float  # bytes sent per step by the busiest rank

    @property
    def total(self) -> float:
        return self.parameters + self.gradients + self.optimizer + self.activations

    def as_row(self, unit: float = 2**30) -> dict[str, float | str | int]:
        """The figures in GiB (or ``unit``), ready for a table."""
        return {"strategy": self.strategy, "ranks": self.world_size, "parameters": self.parameters / unit,
                "gradients": self.gradients / unit, "optimizer": self.optimizer / unit,
                "activations": self.activations / unit, "total": self.total / unit,
                "sent per step": self.communication / unit}  # fmt: skip


def _check(strategy: str, world_size: int) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")


def state_bytes(params: float, strategy: str, world_size: int, *, param_bytes: float = 2, grad_bytes: float = 2,
                optimizer_bytes: float = 12) -> tuple[float, float, float]:  # fmt: skip
    """(parameters, gradients, optimizer states) in bytes on one rank: replicated by DDP, split N ways otherwise."""
    _check(strategy, world_size)
    if params <= 0:
        raise ValueError(f"params must be positive, got {params!r}")
    share = 1 if strategy == "ddp" else world_size
    return params * param_bytes / share, params * grad_bytes / share, params * optimizer_bytes / share


def plan(shape: TransformerShape, strategy: str, world_size: int, *, microbatches: int = 1, param_bytes: float = 2,
         grad_bytes: float = 2, optimizer_bytes: float = 12) -> PerRank:  # fmt: skip
    """Per-rank memory and communication of one step with ``microbatches`` micro-batches per rank.

    ``ddp``: everything replicated, gradients all-reduced once per step (2·(N−1)/N·P·grad_bytes sent).
    ``fsdp`` (ZeRO-3): states sharded; parameters all-gathered for forward and again for backward, gradients
    reduce-scattered: 3·(N−1)/N·P·param_bytes, 1.5× DDP (ZeRO paper, section 7). ``pipeline``: N stages of
    L/N layers; with 1F1B the first stage keeps min(N, m) micro-batches of activations; each boundary
    passes an activation forward and its gradient back per micro-batch. ``tensor`` (Megatron): every layer
    split N ways, 2 all-reduces of s·b·h values forward and 2 backward per layer and micro-batch.
    """
    _check(strategy, world_size)
    if isinstance(microbatches, bool) or not isinstance(microbatches, int) or microbatches < 1:
        raise ValueError(f"microbatches must be a positive int, got {microbatches!r}")
    n, m = world_size, microbatches
    params, grads, optim = state_bytes(shape.params, strategy, n, param_bytes=param_bytes, grad_bytes=grad_bytes,
                                       optimizer_bytes=optimizer_bytes)  # fmt: skip
    ring = (n - 1) / n
    if strategy == "ddp":
        activations, sent = shape.activation_bytes(), 2 * ring * shape.params * grad_bytes
    elif strategy == "fsdp":
        activations, sent = shape.activation_bytes(), 3 * ring * shape.params * param_bytes
    elif strategy == "pipeline":
        activations = shape.activation_bytes() / n * min(n, m)
        sent = (2 if n > 2 else 1) * m * shape.boundary_bytes() if n > 1 else 0.0
    else:
        activations = shape.activation_bytes(tensor_degree=n)
        sent = 4 * 2 * ring * shape.boundary_bytes() * shape.layers * m
    return PerRank(strategy, n, params, grads, optim, activations, sent)


def compare(shape: TransformerShape, world_size: int, *, microbatches: int = 1) -> list[PerRank]:
    """:func:`plan` for every strategy at the same world size (one row each)."""
    return [plan(shape, s, world_size, microbatches=microbatches) for s in STRATEGIES]


def markdown_table(plans: list[PerRank] | tuple[PerRank, ...], *, unit: float = 1e9, unit_name: str = "GB") -> str:
    """One Markdown table of per-rank memory and traffic, one row per plan (all at the same world size).

    Notebooks 06 and 07 show it for the same 7.5 B-parameter model: ``markdown_table(compare(shape, 8))``.
    The total per rank is in bold: it is what has to fit the device.
    """
    plans = list(plans)
    if not plans:
        raise ValueError("markdown_table needs at least one plan")
    worlds = {p.world_size for p in plans}
    if len(worlds) != 1:
        raise ValueError(f"the plans are for different world sizes {sorted(worlds)}: one table compares one size")
    lines = [f"| strategy ({worlds.pop()} ranks) | parameters | gradients | Adam states | activations | "
             "**total per rank** | sent per step |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in plans:
        r = p.as_row(unit)
        lines.append(f"| {r['strategy']} | {r['parameters']:.1f} {unit_name} | {r['gradients']:.1f} {unit_name} | "
                     f"{r['optimizer']:.1f} {unit_name} | {r['activations']:.1f} {unit_name} | "
                     f"**{r['total']:.1f} {unit_name}** | {r['sent per step']:.2f} {unit_name} |")  # fmt: skip
    return "\n".join(lines)
