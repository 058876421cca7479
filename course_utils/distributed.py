"""Launch ``torchrun`` from a notebook safely, and the small helpers its worker scripts share.

A notebook cell calls :func:`launch`: it picks a free port (never assumes 29500), starts one ``torchrun`` agent
per "node" (several on one machine simulate a multi-node job), streams every line the workers print into the
cell, enforces a timeout and always cleans up. Clean-up covers the agents *and* their workers: torchrun starts
each worker in a session of its own, so killing the agent's process group alone could leave orphans holding
memory or a port. A worker that fails surfaces as :class:`WorkerFailed` naming its rank and exit code (or the
signal that killed it) with its last lines of output.

Where the workers run is decided once, by :func:`worker_devices`: one CUDA GPU per worker (nccl) when the machine
has a GPU for every worker it starts, otherwise every worker on the CPU (gloo), said in the output. A one-GPU
machine (Colab, a laptop) therefore runs a 2-process lesson on its CPU instead of failing on ``cuda:1``.

Worker scripts call :func:`init_worker` (joins the group on the device chosen above; one thread per rank),
:func:`write_json` to hand figures back, and :func:`close_worker` at the end; the notebook reads the figures with
:func:`read_json` and records them as claims.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_bytes_atomic

HOST = "127.0.0.1"
WORKER_DEVICE_ENV = "COURSE_WORKER_DEVICE"  # "cuda" or "cpu": set by launch() for every worker it starts
_ROOT_CAUSE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank:\s*(\d+)\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
_RANK_PREFIX = re.compile(r"^\[(?:default(\d+)|rank(\d+))\]:")
_AGENT_REPORT = re.compile(r"^[EWI]\d{4} |failed \(exitcode|ChildFailedError")


class LaunchError(RuntimeError):
    """A torchrun launch did not finish cleanly."""

    def __init__(self, message: str, output: list[str]) -> None:
        super().__init__(message)
        self.output = output


class WorkerFailed(LaunchError):
    """A worker exited with an error; ``rank`` and ``exitcode`` (negative: killed by that signal) say which."""

    def __init__(self, message: str, output: list[str], rank: int | None, exitcode: int | None) -> None:
        super().__init__(message, output)
        self.rank, self.exitcode = rank, exitcode


class LaunchTimeout(LaunchError, TimeoutError):
    """The launch ran past its timeout and was stopped."""


@dataclass
class LaunchResult:
    """What a finished launch printed, how long it took, on which port it met and where its workers ran."""

    output: list[str]
    seconds: float
    port: int
    commands: list[list[str]] = field(default_factory=list)
    workers: WorkerDevices | None = None


@dataclass(frozen=True)
class WorkerDevices:
    """Where the workers of one machine run: ``kind`` is "cuda" (one GPU each, nccl) or "cpu" (gloo); ``note`` says why."""

    kind: str
    processes: int
    gpus: int
    note: str

    @property
    def fallback(self) -> bool:
        """True when GPUs exist but too few for one per worker, so the workers run on the CPU instead."""
        return self.kind == "cpu" and self.gpus > 0


def worker_devices(processes: int, gpus: int | None = None) -> WorkerDevices:
    """Where ``processes`` workers on this machine run: one CUDA GPU each if there are that many GPUs, else the CPU.

    ``gpus`` defaults to the CUDA GPUs visible here. Two processes on one GPU would need both to share ``cuda:0``
    (nccl refuses two ranks on one device) and ``cuda:1`` does not exist, so with fewer GPUs than processes every
    worker runs on the CPU with gloo: the same lesson, CPU times.
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive int, got {processes!r}")
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus >= processes:
        return WorkerDevices("cuda", processes, gpus, f"{processes} worker processes, one CUDA GPU each (nccl)")
    if gpus == 0:
        return WorkerDevices("cpu", processes, 0, f"{processes} worker processes on the CPU (gloo): no CUDA GPU here")
    note = (f"{processes} worker processes but only {gpus} CUDA GPU{'s' if gpus > 1 else ''}: one GPU per process is "
            f"impossible, so all {processes} run on the CPU with gloo (same lesson, CPU times)")  # fmt: skip
    return WorkerDevices("cpu", processes, gpus, note)


def _gpu_slices(nnodes: int, nproc_per_node: int, gpus: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES per simulated node: node i sees its own GPUs, so its local rank 0 is not node 0's GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in visible.split(",") if i.strip()] if visible else [str(i) for i in range(gpus)]
    return [",".join(ids[node * nproc_per_node:(node + 1) * nproc_per_node]) for node in range(nnodes)]


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it; never the default 29500)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether ``port`` can be bound (nothing listens on it; TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def torchrun_command(script: str | Path, args: list[str] | tuple[str, ...] = (), *, nproc_per_node: int = 2,
                     nnodes: int = 1, node_rank: int = 0, endpoint: str = f"{HOST}:29400", max_restarts: int = 0,
                     run_id: str = "course") -> list[str]:  # fmt: skip
    """The ``torchrun`` command line of one node (as ``python -m torch.distributed.run``, the same program)."""
    for name, value in (("nproc_per_node", nproc_per_node), ("nnodes", nnodes)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not 0 <= node_rank < nnodes:
        raise ValueError(f"node_rank must lie in [0, {nnodes}), got {node_rank!r}")
    if not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"max_restarts must be a non-negative int, got {max_restarts!r}")
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nnodes}", f"--node-rank={node_rank}",
            f"--nproc-per-node={nproc_per_node}", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id={run_id}", f"--max-restarts={max_restarts}", str(script), *map(str, args)]  # fmt: skip


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (empty where there is no /proc: then torchrun's own clean-up is relied on)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # a zombie has exited: only its parent's wait() is missing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _signal_group_or_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)  # a session leader (an agent or a torchrun worker): its whole group
        else:
            os.kill(pid, sig)


def stop_processes(procs: list[subprocess.Popen], known: set[int], grace_s: float = 5.0) -> None:
    """SIGTERM the agents (they stop their workers), then SIGKILL whatever of them or ``known`` is still alive."""
    for proc in procs:
        if proc.poll() is None:
            _signal_group_or_pid(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    for proc in procs:
        known |= descendants(proc.pid)
    for pid in [p.pid for p in procs] + sorted(known):
        if _alive(pid):
            _signal_group_or_pid(pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in known):
        time.sleep(0.05)


def _failure(output: list[str], returncodes: list[int | None]) -> WorkerFailed:
    text = "\n".join(output)
    text = text[text.rfind("Root Cause"):] if "Root Cause" in text else text  # not the 'Failures:' list above it
    match = _ROOT_CAUSE.search(text)
    rank, exitcode = (int(match.group(1)), int(match.group(3))) if match else (None, None)
    if rank is None:
        return WorkerFailed(f"torchrun exited with {returncodes} and named no failing rank; last output:\n"
                            + "\n".join(output[-15:]), output, None, None)  # fmt: skip
    mine = [line for line in output if (m := _RANK_PREFIX.match(line)) and rank in {int(g) for g in m.groups() if g}]
    if not mine:  # no torch prefixes (a worker that did not import torch): what was printed before the agent's report
        cut = next((i for i, line in enumerate(output) if _AGENT_REPORT.search(line)), len(output))
        mine = output[:cut]
    how = f"was killed by {signal.Signals(-exitcode).name}" if exitcode < 0 else f"exited with code {exitcode}"
    return WorkerFailed(f"worker rank {rank} {how}; its last lines:\n" + "\n".join(mine[-12:]),
                        output, rank, exitcode)  # fmt: skip


def launch(script: str | Path, args: list[str] | tuple[str, ...] = (), *, nproc_per_node: int = 2, nnodes: int = 1,
           max_restarts: int = 0, timeout_s: float = 120.0, threads_per_worker: int = 1, echo: bool = True,
           env: dict[str, str] | None = None, cwd: str | Path | None = None,
           gpus: int | None = None) -> LaunchResult:  # fmt: skip
    """Run ``script`` under torchrun (``nnodes`` agents on this machine, ``nproc_per_node`` workers each).

    The workers run on one CUDA GPU each when this machine has ``nnodes × nproc_per_node`` of them, else all on the
    CPU (:func:`worker_devices`; ``gpus`` overrides the count); the first line printed says which and why.
    Streams the workers' output (prefixed ``[node i]`` when ``nnodes > 1``), raises :class:`LaunchTimeout` past
    ``timeout_s`` and :class:`WorkerFailed` when a worker fails for good, and in every case (KeyboardInterrupt
    included) leaves no process alive and the rendezvous port free.
    """
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"no worker script at {script.resolve()}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    workers = worker_devices(nnodes * nproc_per_node, gpus)
    if echo:
        print(f"launch: {workers.note}", flush=True)
    port = free_port()
    # TORCH_DISABLE_SHARE_RDZV_TCP_STORE: restarted gloo workers hang in init_process_group on the store they share
    # with the rendezvous (pytorch/pytorch#135712); a store of their own makes --max-restarts work.
    child_env = {**os.environ, "OMP_NUM_THREADS": str(threads_per_worker), "PYTHONUNBUFFERED": "1",
                 "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", WORKER_DEVICE_ENV: workers.kind, **(env or {})}  # fmt: skip
    node_envs = [child_env] * nnodes
    if workers.kind == "cuda" and nnodes > 1:  # simulated nodes on one machine: each its own GPUs
        node_envs = [{**child_env, "CUDA_VISIBLE_DEVICES": ids}
                     for ids in _gpu_slices(nnodes, nproc_per_node, workers.gpus)]  # fmt: skip
    commands = [torchrun_command(script, args, nproc_per_node=nproc_per_node, nnodes=nnodes, node_rank=i,
                                 endpoint=f"{HOST}:{port}", max_restarts=max_restarts, run_id=f"course{port}")
                for i in range(nnodes)]  # fmt: skip
    procs: list[subprocess.Popen] = []
    known: set[int] = set()
    output: list[str] = []
    start = time.monotonic()
    selector = selectors.DefaultSelector()
    partial = [b""] * nnodes
    try:
        for node, command in enumerate(commands):
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=node_envs[node],
                                    cwd=cwd, start_new_session=True)  # fmt: skip
            procs.append(proc)
            selector.register(proc.stdout, selectors.EVENT_READ, node)
        last_scan, agents_gone = 0.0, None
        while selector.get_map():
            if all(p.poll() is not None for p in procs):  # orphaned workers may still hold the pipe open
                agents_gone = agents_gone or time.monotonic()
                if time.monotonic() - agents_gone > 1.0:
                    break
            if time.monotonic() - start > timeout_s:
                raise LaunchTimeout(f"{script.name} ran past its {timeout_s:g} s timeout and was stopped; last output:\n"
                                    + "\n".join(output[-10:]), output)  # fmt: skip
            for key, _ in selector.select(timeout=0.2):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    chunk = b"\n" if partial[key.data] else b""
                *lines, partial[key.data] = (partial[key.data] + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace")
                    output.append(line)
                    if echo:
                        print(f"[node {key.data}] {line}" if nnodes > 1 else line, flush=True)
            if time.monotonic() - last_scan > 0.5:  # remember the workers: if an agent dies they are re-parented
                known |= set().union(*(descendants(p.pid) for p in procs))
                last_scan = time.monotonic()
        returncodes = [proc.wait() for proc in procs]
        if any(returncodes):
            raise _failure(output, returncodes)
        return LaunchResult(output, time.monotonic() - start, port, commands, workers)
    finally:
        selector.close()
        stop_processes(procs, known)
        for proc in procs:
            if proc.stdout:
                proc.stdout.close()


# ---- helpers for the worker scripts ------------------------------------------------------------------------------


@dataclass
class WorkerInfo:
    """Who this worker is: ranks, world size, its device and the backend chosen for that device."""

    rank: int
    world_size: int
    local_rank: int
    device: Any
    backend: str


def whole_lines(stream: Any) -> None:
    """Make a text stream write each printed line in one system call, as soon as the line ends.

    Ranks share one pipe; a write of up to 4 KiB to a pipe is atomic, so whole-line writes never interleave.
    torchrun starts Python workers with ``python -u``, whose unbuffered ``print`` writes a line's text and its
    newline in two calls: two ranks printing at once then share a line ("rank 0 startedrank 1 started").
    :func:`init_worker` calls this on ``sys.stdout``.
    """
    if not hasattr(stream, "reconfigure"):
        raise TypeError(f"whole_lines needs an io.TextIOWrapper such as sys.stdout, got {type(stream).__name__}")
    stream.reconfigure(line_buffering=True, write_through=False)


def init_worker(threads: int = 1) -> WorkerInfo:
    """Join the process group torchrun prepared: nccl on ``cuda:LOCAL_RANK``, or gloo on the CPU.

    The device kind comes from :func:`launch` (``COURSE_WORKER_DEVICE``); a script started with torchrun by hand
    decides the same way itself, from this machine's GPUs and ``LOCAL_WORLD_SIZE``, and says so on local rank 0
    when it falls back to the CPU.
    """
    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise RuntimeError("init_worker() runs inside a torchrun worker (RANK is not set); start the script with torchrun")
    whole_lines(sys.stdout)
    torch.set_num_threads(threads)  # 2 ranks on 2 cores: one thread each, or they fight over the cores
    local_rank = int(os.environ["LOCAL_RANK"])
    kind = os.environ.get(WORKER_DEVICE_ENV)
    if not kind:
        workers = worker_devices(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        kind = workers.kind
        if workers.fallback and local_rank == 0:
            print(f"init_worker: {workers.note}", flush=True)
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"{WORKER_DEVICE_ENV}={kind!r}: expected 'cuda' or 'cpu'")
    if kind == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"local rank {local_rank} has no GPU: {torch.cuda.device_count()} visible")
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return WorkerInfo(dist.get_rank(), dist.get_world_size(), local_rank, device, backend)


def close_worker(*, require_gone: bool = True) -> None:
    """End a worker script: wait for every rank, destroy the process groups, and check they are really gone.

    ``destroy_process_group()`` only drops torch's own references to the groups. If anything else still holds the
    default group (a ``DeviceMesh`` built on it, which DTensor's sharding cache keeps for the life of the process),
    the group and its gloo worker threads live on into interpreter shutdown. A worker thread that is still
    releasing the tensors of the last collective then needs the GIL, cannot get it during shutdown, and the
    process dies with SIGABRT ("terminate called without an active exception"), now and then, under load. This
    check turns that rare abort into an error every time: build meshes on a group of their own.

    ``require_gone=False`` skips the check, for scripts that use DDP: its reducer keeps the default group alive from
    C++ (torch 2.14) whatever the script does. They stay safe only while their last collective before this call
    holds no Python tensors (a barrier), so that nothing is left for a gloo thread to release at shutdown.
    """
    import gc
    import weakref

    import torch.distributed as dist

    default = weakref.ref(dist.group.WORLD)
    dist.barrier()  # nobody tears down while a peer still talks to it
    dist.destroy_process_group()
    gc.collect()  # groups held only by reference cycles go now, while the interpreter is alive
    if require_gone and default() is not None:
        raise RuntimeError("the default process group outlived destroy_process_group(): something still holds it "
                           "(a DeviceMesh on the default group, cached by DTensor?), so its worker threads can abort "
                           "the process at exit; build the mesh on a process group of its own")  # fmt: skip


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    write_bytes_atomic(path, json.dumps(data, indent=1).encode())
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """Read what a worker wrote with :func:`write_json`, with a clear error when it wrote nothing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}: did the worker script run to its end?")
    return json.loads(path.read_text())


def script_source(path: str | Path, name: str) -> str:
    """The source of the top-level function or class ``name`` in a worker script, to show it in a notebook cell."""
    import ast

    text = Path(path).read_text()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return ast.get_source_segment(text, node) or ""
    raise KeyError(f"{Path(path).name} defines no top-level function or class {name!r}")
