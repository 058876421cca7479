"""Pipeline schedules simulated on paper: who computes which microbatch when, the bubble, the activations held.

A pipeline of ``p`` stages runs ``m`` microbatches; each stage does the forward (F) and the backward (B) of every
microbatch, in an order fixed by the schedule, and an operation starts as soon as its stage is free and its
input is ready (F of stage s needs F of stage s − 1; B of stage s needs B of stage s + 1). With equal stages
(forward time f, backward time b everywhere) the simulation reproduces the bubble formula exactly:

- GPipe (Huang et al. 2019) and 1F1B (Narayanan et al. 2019, PipeDream-Flush) idle a fraction
  (p − 1)/(m + p − 1) of the time; 1F1B keeps at most p − s microbatches' activations on stage s instead of all m.
- Interleaved 1F1B (Narayanan et al. 2021, Megatron-LM) gives each device ``v`` smaller chunks of the model and
  cuts the bubble to (p − 1)/(v·m + p − 1), for m a multiple of p.

A real run differs from this by what the model leaves out (a fixed cost per microbatch, communication, unequal
stages); notebook 07 measures how close it comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One forward or backward of one microbatch on one model chunk (a virtual stage) of one device."""

    kind: str  # "F" or "B"
    microbatch: int
    chunk: int = 0  # interleaved schedules: which of the device's model chunks


@dataclass(frozen=True)
class Slot:
    """An operation placed in time on a device."""

    device: int
    op: Op
    start: float
    end: float


def _check(p: int, m: int, f: float, b: float) -> None:
    if p < 1 or m < 1:
        raise ValueError(f"need at least 1 stage and 1 microbatch, got p={p}, m={m}")
    if f <= 0 or b <= 0:
        raise ValueError(f"forward and backward times must be positive, got f={f}, b={b}")


def gpipe_order(p: int, m: int) -> list[list[Op]]:
    """Every device: all forwards, then all backwards (in reverse microbatch order, as autograd runs them)."""
    return [[Op("F", i) for i in range(m)] + [Op("B", i) for i in reversed(range(m))] for _ in range(p)]


def one_f_one_b_order(p: int, m: int) -> list[list[Op]]:
    """Device s: p − s − 1 warm-up forwards, then alternate one forward and one backward, then the remaining backwards."""
    orders = []
    for s in range(p):
        warmup = min(p - s - 1, m)
        order = [Op("F", i) for i in range(warmup)]
        forwards, backwards = warmup, 0
        while backwards < m:
            if forwards < m:
                order.append(Op("F", forwards))
                forwards += 1
            order.append(Op("B", backwards))
            backwards += 1
        orders.append(order)
    return orders


def interleaved_order(p: int, m: int, v: int) -> list[list[Op]]:
    """Megatron's interleaved 1F1B: ``v`` chunks per device, microbatches taken in groups of ``p`` per chunk."""
    if v < 1:
        raise ValueError(f"need at least 1 chunk per device, got v={v}")
    if m % p:
        raise ValueError(f"interleaved 1F1B needs m to be a multiple of p, got m={m}, p={p}")
    total = m * v

    def forward(k: int) -> Op:
        return Op("F", (k // (p * v)) * p + k % p, (k // p) % v)

    def backward(k: int) -> Op:
        return Op("B", (k // (p * v)) * p + k % p, v - 1 - (k // p) % v)

    orders = []
    for s in range(p):
        warmup = min((p - s - 1) * 2 + (v - 1) * p, total)
        order = [forward(k) for k in range(warmup)]
        forwards, backwards = warmup, 0
        while backwards < total:
            if forwards < total:
                order.append(forward(forwards))
                forwards += 1
            order.append(backward(backwards))
            backwards += 1
        orders.append(order)
    return orders


def simulate(orders: Sequence[Sequence[Op]], *, f: float = 1.0, b: float = 2.0, chunks: int = 1) -> list[Slot]:
    """Place every device's operations in time, each as early as its device and its input allow.

    Chunk c of device s is virtual stage c·p + s (Megatron's layout): a forward's input comes from the
    virtual stage before it, a backward's from the one after it. Each operation of a chunk takes f/chunks or
    b/chunks. Raises ValueError if the orders deadlock (an operation waits for one that waits for it).
    """
    p = len(orders)
    last = chunks * p - 1
    done: dict[tuple[str, int, int], float] = {}  # (kind, microbatch, virtual stage) -> end time
    clock = [0.0] * p
    position = [0] * p
    slots: list[Slot] = []
    while any(position[s] < len(orders[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            while position[s] < len(orders[s]):
                op = orders[s][position[s]]
                stage = op.chunk * p + s
                if op.kind == "F":
                    needs = [("F", op.microbatch, stage - 1)] if stage > 0 else []
                else:
                    needs = [("F", op.microbatch, stage)] + ([("B", op.microbatch, stage + 1)] if stage < last else [])
                if any(need not in done for need in needs):
                    break
                start = max([clock[s], *(done[need] for need in needs)])
                end = start + (f if op.kind == "F" else b) / chunks
                slots.append(Slot(s, op, start, end))
                done[(op.kind, op.microbatch, stage)] = end
                clock[s] = end
                position[s] += 1
                progressed = True
        if not progressed:
            raise ValueError("the schedule deadlocks: every device waits for an operation that has not run")
    return slots


def makespan(slots: Sequence[Slot]) -> float:
    """Time from the first operation's start to the last one's end."""
    return max(slot.end for slot in slots) - min(slot.start for slot in slots)


def bubble_fraction(slots: Sequence[Slot]) -> float:
    """The share of device time spent idle: 1 − busy time / (devices × makespan)."""
    devices = {slot.device for slot in slots}
    busy = sum(slot.end - slot.start for slot in slots)
    return 1 - busy / (len(devices) * makespan(slots))


def formula_bubble(p: int, m: int, v: int = 1) -> float:
    """(p − 1)/(v·m + p − 1): the idle share of GPipe and 1F1B (v = 1) and of interleaved 1F1B with v chunks."""
    return (p - 1) / (v * m + p - 1)


def peak_in_flight(slots: Sequence[Slot], device: int) -> int:
    """Most microbatch-chunks whose forward has run on ``device`` and whose backward has not: activations held."""
    events = []
    for slot in slots:
        if slot.device == device:
            events.append((slot.end, 1) if slot.op.kind == "F" else (slot.end, -1))
    held = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        held += change
        peak = max(peak, held)
    return peak


def schedule(name: str, p: int, m: int, *, f: float = 1.0, b: float = 2.0, v: int = 2) -> list[Slot]:
    """Simulate ``'gpipe'``, ``'1f1b'`` or ``'interleaved'`` (with ``v`` chunks per device)."""
    _check(p, m, f, b)
    if name == "gpipe":
        return simulate(gpipe_order(p, m), f=f, b=b)
    if name == "1f1b":
        return simulate(one_f_one_b_order(p, m), f=f, b=b)
    if name == "interleaved":
        return simulate(interleaved_order(p, m, v), f=f, b=b, chunks=v)
    raise ValueError(f"unknown schedule {name!r}; expected 'gpipe', '1f1b' or 'interleaved'")


def gantt(slots: Sequence[Slot], ax, title: str = "") -> None:
    """Draw the slots on a matplotlib axis: one row per device, forwards light, backwards dark, labelled."""
    colours = {"F": "#9ecae1", "B": "#3182bd"}
    for slot in slots:
        ax.barh(slot.device, slot.end - slot.start, left=slot.start, color=colours[slot.op.kind], edgecolor="white")
        label = f"{slot.op.kind}{slot.op.microbatch}" + (f".{slot.op.chunk}" if slot.op.chunk else "")
        ax.text((slot.start + slot.end) / 2, slot.device, label, ha="center", va="center", fontsize=6)
    devices = sorted({slot.device for slot in slots})
    ax.set_yticks(devices, [f"device {d}" for d in devices])
    ax.invert_yaxis()
    ax.set_xlabel("time (units of one forward)")
    ax.set_title(title or f"bubble {bubble_fraction(slots):.2f}")
