"""The torchrun launcher: timeouts, failing and killed workers, clean-up (no orphans, no port left bound).

The worker scripts here are plain Python (no torch import), so a launch costs only torchrun's own start-up.
Each worker writes its pid and the ports it was given, so the tests can check that nothing survives.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from course_utils import distributed

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="orphan checks read /proc (Linux)")

WORKER = """
import json, os, signal, sys, time
from pathlib import Path
rank = int(os.environ["RANK"])
out = Path(sys.argv[1])
port = int(os.environ["TORCHELASTIC_RUN_ID"].removeprefix("course"))
info = {"pid": os.getpid(), "ports": [port, int(os.environ["MASTER_PORT"])]}
(out / f"worker{rank}.json").write_text(json.dumps(info))
print(f"rank {rank} started", flush=True)
mode = sys.argv[2]
if mode == "fail" and rank == 1:
    raise ValueError("bad batch on rank 1")
if mode == "kill" and rank == 1:
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "kill_agent" and rank == 0:
    while len(list(out.glob("worker*.json"))) < int(os.environ["WORLD_SIZE"]):  # both workers up, even under load
        time.sleep(0.05)
    time.sleep(1.0)  # the launcher polls its agents' descendants: let it see both workers
    os.kill(os.getppid(), signal.SIGKILL)
if mode == "chatty":  # a course worker: init_worker() makes each printed line one write
    sys.path.insert(0, sys.argv[3])
    from course_utils.distributed import init_worker
    init_worker()
    for i in range(3000):
        print(f"rank {rank} line {i}", flush=True)
if mode == "env":  # where the launcher told this worker to run
    # one write with its newline: two ranks share the pipe, and print's separate newline can land after the other's line
    print(f"rank {rank} device={os.environ.get('COURSE_WORKER_DEVICE')} "
          f"visible={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}\\n", end="", flush=True)
if mode in ("hang", "kill_agent"):
    time.sleep(600)
"""

# A worker that runs notebook 07's tensor-parallel section, then leaves with close_worker(). With "held" something
# keeps the default group, as DTensor's sharding cache did (torch 2.14) when the script built its DeviceMesh on the
# default group: the group and its gloo threads then outlived destroy_process_group(), the state in which a gloo
# worker thread aborted the process at exit now and then. close_worker() must catch that every time.
MESH_WORKER = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import torch
import torch.distributed as dist
import model_parallel
from course_utils.distributed import close_worker, init_worker
info = init_worker()
held = dist.group.WORLD if sys.argv[3] == "held" else None
x = torch.randn(64, 784, generator=torch.Generator().manual_seed(0))  # the same batch on every rank
result = model_parallel.tensor_parallel(info, x, seed=0, features=64)
assert result["dtensor_grad_max_diff"] < 1e-5, result
close_worker()
print(f"rank {info.rank} closed cleanly", flush=True)
"""

# A worker that runs 07's pipeline at m = 1 and m = 2 with a GPipe that refuses fewer microbatches than stages, as
# torch 2.9's does: m = 1 must then run by hand (the naive split) and still match the unsplit model.
PIPELINE_WORKER = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import torch
import model_parallel
from course_utils.distributed import close_worker, init_worker
from torch.distributed.pipelining import ScheduleGPipe

class StrictGPipe(ScheduleGPipe):
    def __init__(self, stage, n_microbatches, **kwargs):
        if n_microbatches < stage.num_stages:
            raise ValueError("Number of microbatches must be greater than or equal to the number of stages")
        super().__init__(stage, n_microbatches, **kwargs)

info = init_worker()
g = torch.Generator().manual_seed(0)
x, y = torch.randn(32, 784, generator=g), torch.randint(0, 10, (32,), generator=g)
model_parallel.ScheduleGPipe = StrictGPipe  # pipelines() picks the schedule by this name
out = model_parallel.pipelines(info, x, y, hidden=32, microbatches=[1, 2], repeats=1, seed=0)
for key in ("gpipe_m1", "gpipe_m2"):
    run = out[key]
    print(f"rank {info.rank} {key} grad {run['grad_max_diff']:.1e} how {run['how']}", flush=True)
    assert run["grad_max_diff"] < 1e-6, run["grad_max_diff"]
    if run["loss"] is not None:
        assert abs(run["loss"] - out["reference_loss"]) < 1e-6, (run["loss"], out["reference_loss"])
close_worker()
"""


@pytest.fixture
def worker(tmp_path: Path) -> Path:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    return script


def _wait_for_workers(folder: Path, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("worker*.json"))
        if len(files) == n:
            time.sleep(0.1)
            return [json.loads(f.read_text()) for f in files]
        time.sleep(0.05)
    raise AssertionError(f"only {len(list(folder.glob('worker*.json')))} of {n} workers started")


def _assert_clean(folder: Path, n: int = 2) -> None:
    for info in _wait_for_workers(folder, n, timeout=1.0):
        assert not distributed._alive(info["pid"]), f"worker pid {info['pid']} survived the launch"
        for port in info["ports"]:
            assert distributed.port_is_free(port), f"port {port} is still bound after the launch"


def test_a_clean_run_returns_output_and_frees_everything(worker, tmp_path):
    result = distributed.launch(worker, [str(tmp_path), "ok"], echo=False, timeout_s=60)
    # These plain workers print unbuffered (torchrun runs them with python -u): their lines may share a line of output
    assert "\n".join(result.output).count("started") == 2
    assert result.port != 29500 and result.commands[0][2] == "torch.distributed.run"
    _assert_clean(tmp_path)


def test_ranks_printing_at_once_never_share_a_line(worker, tmp_path):
    repo = Path(distributed.__file__).resolve().parents[1]
    result = distributed.launch(worker, [str(tmp_path), "chatty", str(repo)], echo=False, timeout_s=120)
    lines = [line for line in result.output if re.search(r"rank \d line \d", line)]  # not torchrun's own lines
    torn = [line for line in lines if not re.fullmatch(r"rank [01] line \d+", line)]
    assert not torn, f"{len(torn)} lines mix two ranks' output, e.g. {torn[:2]}"
    assert len(lines) == 6000


def test_whole_lines_writes_each_line_in_one_call():
    class Recorder(io.RawIOBase):
        def __init__(self):
            self.calls: list[bytes] = []

        def writable(self):
            return True

        def write(self, data):
            self.calls.append(bytes(data))
            return len(data)

    raw = Recorder()
    stream = io.TextIOWrapper(raw, write_through=True)  # what python -u gives sys.stdout
    print("before", file=stream)
    assert raw.calls == [b"before", b"\n"], "the unbuffered stream should show the problem"
    distributed.whole_lines(stream)
    print("rank 0 started", file=stream)
    print("rank 0 done", file=stream)
    assert raw.calls[2:] == [b"rank 0 started\n", b"rank 0 done\n"]
    with pytest.raises(TypeError, match="TextIOWrapper"):
        distributed.whole_lines(io.BytesIO())


def test_timeout_stops_a_hung_worker(worker, tmp_path):
    start = time.monotonic()
    with pytest.raises(distributed.LaunchTimeout, match="timeout"):
        distributed.launch(worker, [str(tmp_path), "hang"], echo=False, timeout_s=6)
    assert time.monotonic() - start < 20, "the timeout did not stop the launch promptly"
    _assert_clean(tmp_path)


def test_a_failing_worker_is_named_by_rank(worker, tmp_path):
    with pytest.raises(distributed.WorkerFailed, match="rank 1") as failure:
        distributed.launch(worker, [str(tmp_path), "fail"], echo=False, timeout_s=60)
    assert failure.value.rank == 1 and failure.value.exitcode == 1
    assert "ValueError: bad batch on rank 1" in str(failure.value), "the worker's own error must be shown"
    _assert_clean(tmp_path)


def test_a_killed_worker_is_detected(worker, tmp_path):
    with pytest.raises(distributed.WorkerFailed, match="rank 1 was killed by SIGKILL") as failure:
        distributed.launch(worker, [str(tmp_path), "kill"], echo=False, timeout_s=60)
    assert failure.value.exitcode == -signal.SIGKILL
    _assert_clean(tmp_path)


def test_a_killed_agent_leaves_no_orphan_worker(worker, tmp_path):
    with pytest.raises(distributed.WorkerFailed, match="named no failing rank"):
        distributed.launch(worker, [str(tmp_path), "kill_agent"], echo=False, timeout_s=60)
    _assert_clean(tmp_path)


def test_keyboard_interrupt_cleans_up(worker, tmp_path):
    driver = (f"import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"  # a background shell ignores it
              f"from course_utils import distributed\n"
              f"distributed.launch({str(worker)!r}, [{str(tmp_path)!r}, 'hang'], echo=False, timeout_s=120)\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", driver], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_workers(tmp_path, 2)
        proc.send_signal(signal.SIGINT)  # what Jupyter's "interrupt kernel" sends
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in stderr
    _assert_clean(tmp_path)


def test_two_nodes_on_one_machine(worker, tmp_path):
    result = distributed.launch(worker, [str(tmp_path), "ok"], nproc_per_node=1, nnodes=2, echo=False, timeout_s=60)
    assert [c[c.index("--nnodes=2") + 1] for c in result.commands] == ["--node-rank=0", "--node-rank=1"]
    _assert_clean(tmp_path)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no worker script"):
        distributed.launch(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="node_rank"):
        distributed.torchrun_command("x.py", nnodes=2, node_rank=2)
    with pytest.raises(ValueError, match="nproc_per_node"):
        distributed.torchrun_command("x.py", nproc_per_node=0)


def test_free_port_is_free_and_a_bound_port_is_not():
    import socket

    port = distributed.free_port()
    assert distributed.port_is_free(port)
    with socket.socket() as sock:
        sock.bind((distributed.HOST, port))
        sock.listen()
        assert not distributed.port_is_free(port)


def test_json_results_round_trip_and_missing_file_is_explained(tmp_path):
    distributed.write_json(tmp_path / "r.json", {"rank": 1, "loss": 0.5})
    assert distributed.read_json(tmp_path / "r.json") == {"rank": 1, "loss": 0.5}
    assert not list(tmp_path.glob(".*tmp")), "the atomic write left its temporary file"
    with pytest.raises(FileNotFoundError, match="did the worker script run"):
        distributed.read_json(tmp_path / "none.json")


def test_init_worker_outside_torchrun_is_explained(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init_worker()
    assert os.environ.get("RANK") is None


def test_script_source_shows_one_function_or_class(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import os\n\n\ndef step(x):\n    return x + 1\n\n\nclass Op:\n    pass\n")
    assert distributed.script_source(script, "step") == "def step(x):\n    return x + 1"
    assert distributed.script_source(script, "Op") == "class Op:\n    pass"
    with pytest.raises(KeyError, match="no top-level function or class 'missing'"):
        distributed.script_source(script, "missing")


def test_worker_devices_need_one_gpu_per_process():
    assert distributed.worker_devices(2, gpus=2).kind == "cuda"
    none = distributed.worker_devices(2, gpus=0)
    assert none.kind == "cpu" and not none.fallback and "no CUDA GPU" in none.note
    one = distributed.worker_devices(2, gpus=1)  # Colab, a laptop: cuda:1 does not exist, two ranks on cuda:0 fail
    assert one.kind == "cpu" and one.fallback and "only 1 CUDA GPU" in one.note and "gloo" in one.note
    with pytest.raises(ValueError, match="processes"):
        distributed.worker_devices(0, gpus=1)


def _fake_gpus(monkeypatch, count: int) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_a_one_gpu_machine_runs_two_workers_on_the_cpu_and_says_so(worker, tmp_path, monkeypatch, capsys):
    _fake_gpus(monkeypatch, 1)
    result = distributed.launch(worker, [str(tmp_path), "env"], nproc_per_node=2, echo=True, timeout_s=60)
    assert result.workers.fallback and result.workers.gpus == 1
    assert "launch: 2 worker processes but only 1 CUDA GPU" in capsys.readouterr().out
    assert sorted(line for line in result.output if "device=" in line) == [
        "rank 0 device=cpu visible=all", "rank 1 device=cpu visible=all"]  # fmt: skip


def test_simulated_nodes_with_enough_gpus_get_a_gpu_each(worker, tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _fake_gpus(monkeypatch, 2)  # both "nodes" run here: without their own GPUs both local ranks 0 would take cuda:0
    result = distributed.launch(worker, [str(tmp_path), "env"], nproc_per_node=1, nnodes=2, echo=False, timeout_s=60)
    assert result.workers.kind == "cuda"
    assert sorted(line.split("] ", 1)[-1] for line in result.output if "device=" in line) == [
        "rank 0 device=cuda visible=0", "rank 1 device=cuda visible=1"]  # fmt: skip


def test_init_worker_started_by_hand_on_one_gpu_uses_gloo_on_the_cpu(monkeypatch):
    import torch
    import torch.distributed as dist

    _fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: pytest.fail(f"set_device({device}) on a 1-GPU machine"))
    port = distributed.free_port()
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2",
                        "MASTER_ADDR": distributed.HOST, "MASTER_PORT": str(port)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(distributed.WORKER_DEVICE_ENV, raising=False)
    out = io.TextIOWrapper(io.BytesIO())
    monkeypatch.setattr(sys, "stdout", out)
    threads = torch.get_num_threads()
    try:
        info = distributed.init_worker()
        assert (info.device.type, info.backend, dist.get_backend()) == ("cpu", "gloo", "gloo")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        torch.set_num_threads(threads)
    out.seek(0)
    assert "only 1 CUDA GPU" in out.buffer.getvalue().decode()


def test_init_worker_refuses_a_missing_gpu_and_an_unknown_device(monkeypatch):
    _fake_gpus(monkeypatch, 1)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO()))
    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(distributed.WORKER_DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="local rank 1 has no GPU"):
        distributed.init_worker()
    monkeypatch.setenv(distributed.WORKER_DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="expected 'cuda' or 'cpu'"):
        distributed.init_worker()


def test_tensor_parallel_leaves_no_process_group_behind(tmp_path):
    """The cause of 07's rare SIGABRT at exit, checked every time: a group alive after destroy_process_group()."""
    script = tmp_path / "mesh_worker.py"
    script.write_text(textwrap.dedent(MESH_WORKER))
    repo = Path(distributed.__file__).resolve().parents[1]
    args = [str(repo), str(repo / "notebooks" / "scripts")]
    result = distributed.launch(script, [*args, "private"], echo=False, timeout_s=120)
    assert sum("closed cleanly" in line for line in result.output) == 2
    with pytest.raises(distributed.WorkerFailed, match="outlived destroy_process_group"):
        distributed.launch(script, [*args, "held"], echo=False, timeout_s=120)


def test_gpipe_refusing_one_microbatch_runs_it_by_hand(tmp_path):
    """torch 2.9's GPipe refuses m < stages: m = 1 is then the naive split, run by hand, equal to the unsplit model."""
    script = tmp_path / "pipeline_worker.py"
    script.write_text(textwrap.dedent(PIPELINE_WORKER))
    repo = Path(distributed.__file__).resolve().parents[1]
    result = distributed.launch(script, [str(repo), str(repo / "notebooks" / "scripts")], echo=False, timeout_s=120)
    lines = [line for line in result.output if " grad " in line]
    assert len(lines) == 4, result.output
    assert all("by hand" in line for line in lines if "gpipe_m1" in line)
    assert all("torch.distributed.pipelining.StrictGPipe" in line for line in lines if "gpipe_m2" in line)


def test_pipeline_links_open_with_float32_both_ways(monkeypatch):
    """torch 2.9 opens a stage's links sending int64 and receiving float32, which gloo aborts on (pytorch#165539)."""
    import torch

    monkeypatch.syspath_prepend(str(Path(distributed.__file__).resolve().parents[1] / "notebooks" / "scripts"))
    import model_parallel

    class Op:
        def __init__(self, tensor):
            self.tensor = tensor

    class Stage:  # what torch 2.9's PipelineStage returns for its first exchange
        def _get_init_p2p_neighbors_ops(self):
            return [Op(torch.zeros(1)), Op(torch.tensor(1))]

    ops = model_parallel.float32_handshake(Stage())._get_init_p2p_neighbors_ops()
    assert [str(op.tensor.dtype) for op in ops] == ["torch.float32", "torch.float32"]
    assert [op.tensor.item() for op in ops] == [0.0, 1.0]
