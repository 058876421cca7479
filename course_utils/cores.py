"""How many cores a timing really had: physical cores in this process's affinity, and whether the second was free.

Two facts decide whether "2 threads are 1.2× faster than 1" can be asserted:

- **Physical cores.** Many 2-vCPU VMs (Colab's CPU runtime among them) give two hyperthreads of one core: two
  threads then share one core's arithmetic units and cannot be much faster than one. :func:`physical_cores`
  counts distinct cores (not logical CPUs) among the CPUs this process may run on, from Linux's
  ``/sys/devices/system/cpu/cpu*/topology``.
- **An idle second core, during the measurement.** On a shared machine another process can hold the second core
  for a few seconds (measured here: a thread speed-up of 1.00× while a neighbour ran, 1.9× in the same run a
  minute later). :func:`parallel_capacity` runs the same single-threaded work once alone and twice at the same
  time: on two free cores both copies finish nearly together (capacity about 1.6 here, not 2: the two cores
  share caches and clock), on one busy or hyperthreaded core they queue (about 1). :func:`thread_scaling`
  measures it in every round of a 1-vs-N-threads comparison and keeps the rounds that had two free cores, so a
  busy moment shows up as a reason, not as a wrong technique.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .measure import _sync

SYS_CPU = Path("/sys/devices/system/cpu")
# Two copies of 1-thread work, together vs one after the other. Measured on the course's 2-core AMD EPYC: 1.42-1.69
# (19 of 20 probes) when idle, 0.80-1.16 (all 20) with another process spinning on one core; 1.3 lies between.
IDLE_CAPACITY = 1.3


def allowed_cpus() -> set[int]:
    """The logical CPUs this process may run on (its affinity; every CPU where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int] | None = None, sys_cpu: Path = SYS_CPU) -> int:
    """Distinct physical cores among ``cpus`` (default: :func:`allowed_cpus`); hyperthreads of one core count once.

    Reads ``cpuN/topology/{physical_package_id,core_id}`` under ``sys_cpu``. Where the topology is not readable
    (macOS, Windows, some containers) every logical CPU counts as a core, as ``os.cpu_count()`` does.
    """
    cpus = allowed_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topology = sys_cpu / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return len(cores)


def _busy_work(size: int, calls: int) -> Callable[[], None]:
    a = torch.randn(size, size)

    def work() -> None:
        torch.set_num_threads(1)  # a new thread starts with the default intra-op threads: one per copy
        for _ in range(calls):
            torch.mm(a, a)  # releases the GIL: two Python threads run it on two cores at once

    return work


def parallel_capacity(*, size: int = 512, calls: int = 8) -> float:
    """How much faster two copies of a 1-thread job run at the same time than one after the other (1 to 2).

    Well above :data:`IDLE_CAPACITY` on two free physical cores, about 1 when the second core is busy or is a
    hyperthread of the first. Takes about 70 ms (three runs of about 20 ms of matrix products, the last two at
    once); torch's thread setting is restored.
    """
    work = _busy_work(size, calls)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        work()  # warm-up
        start = time.perf_counter()
        work()
        alone = time.perf_counter() - start
        pair = [threading.Thread(target=work) for _ in range(2)]
        start = time.perf_counter()
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
        together = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return 2 * alone / together


@dataclass
class ThreadScaling:
    """A 1-thread vs N-thread comparison whose every round also measured the machine's parallel capacity."""

    threads: int
    one_thread_ms: list[float]
    n_threads_ms: list[float]
    capacity: list[float]

    @property
    def clean_rounds(self) -> list[int]:
        """Rounds whose capacity probe found two free cores."""
        return [i for i, c in enumerate(self.capacity) if c >= IDLE_CAPACITY]

    @property
    def speedup(self) -> float:
        """Median 1-thread time over median N-thread time, over the clean rounds (all rounds if none was clean)."""
        rounds = self.clean_rounds or list(range(len(self.capacity)))
        return (statistics.median(self.one_thread_ms[i] for i in rounds)
                / statistics.median(self.n_threads_ms[i] for i in rounds))  # fmt: skip

    @property
    def idle(self) -> tuple[bool, str]:
        """``(True, '')`` when at least half the rounds had two free cores; else ``(False, the reason)``.

        Shaped for ``claims.record(..., premise=scaling.idle)``.
        """
        clean, total = len(self.clean_rounds), len(self.capacity)
        if self.threads < 2:
            return False, f"torch uses {self.threads} thread here"
        if clean * 2 >= total:
            return True, ""
        return False, (f"the second core was busy: only {clean} of {total} rounds had two free cores "
                       f"(median capacity {statistics.median(self.capacity):.2f}, free cores give ≥ {IDLE_CAPACITY})")


def thread_scaling(fn: Callable[[], object], threads: int, *, warmup: int = 3, repeats: int = 20,
                   device: torch.device | None = None) -> ThreadScaling:  # fmt: skip
    """Time ``fn`` with 1 and with ``threads`` intra-op threads, interleaved, with a capacity probe each round.

    torch's thread setting is restored afterwards.
    """
    if warmup < 0 or repeats <= 0:
        raise ValueError(f"need warmup ≥ 0 and repeats > 0, got warmup={warmup}, repeats={repeats}")
    if not isinstance(threads, int) or threads <= 0:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    before = torch.get_num_threads()
    result = ThreadScaling(threads, [], [], [])

    def timed(n: int) -> float:
        torch.set_num_threads(n)
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        return (time.perf_counter() - start) * 1e3

    try:
        for _ in range(warmup):
            timed(1), timed(threads)
        for i in range(repeats):
            result.capacity.append(parallel_capacity())
            order = (1, threads) if i % 2 == 0 else (threads, 1)
            times = {n: timed(n) for n in order}
            result.one_thread_ms.append(times[1])
            result.n_threads_ms.append(times[threads])
    finally:
        torch.set_num_threads(before)
    return result
