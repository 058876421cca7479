import os
import subprocess
import sys

import pytest
import torch

from course_utils import claims as claims_module
from course_utils import cores, hardware


def fake_topology(root, layout):
    """``layout``: {cpu: (package, core)}, written as Linux's /sys/devices/system/cpu/cpuN/topology."""
    for cpu, (package, core) in layout.items():
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_two_hyperthreads_of_one_core_are_one_core(tmp_path):
    """Colab's CPU runtime and many 2-vCPU VMs: two logical CPUs, one physical core."""
    sys_cpu = fake_topology(tmp_path, {0: (0, 0), 1: (0, 0)})
    assert cores.physical_cores({0, 1}, sys_cpu) == 1


def test_two_cores_and_affinity(tmp_path):
    sys_cpu = fake_topology(tmp_path, {0: (0, 0), 1: (0, 1), 2: (0, 0), 3: (0, 1), 4: (1, 0)})
    assert cores.physical_cores({0, 1}, sys_cpu) == 2
    assert cores.physical_cores({0, 2}, sys_cpu) == 1, "CPUs 0 and 2 are siblings"
    assert cores.physical_cores({0, 4}, sys_cpu) == 2, "core 0 of package 1 is another core"


def test_unreadable_topology_counts_logical_cpus(tmp_path):
    assert cores.physical_cores({0, 1, 2}, tmp_path / "missing") == 3


def test_multicore_is_false_on_one_core_of_two_hyperthreads(monkeypatch):
    monkeypatch.setattr(cores, "physical_cores", lambda: 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not hardware.cpu_features()["multicore"]
    monkeypatch.setattr(cores, "physical_cores", lambda: 2)
    assert hardware.cpu_features()["multicore"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_capacity_probe_sees_a_single_cpu():
    """Pinned to one CPU, two copies of the work must queue: the probe reports about 1, never two free cores."""
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); from course_utils import cores; "
            "print(max(cores.parallel_capacity() for _ in range(5)))")
    capacity = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert capacity < cores.IDLE_CAPACITY, f"one CPU measured as capacity {capacity:.2f}"


def scaling(capacity, one=10.0, many=5.0):
    n = len(capacity)
    return cores.ThreadScaling(2, [one] * n, [many] * n, list(capacity))


def test_busy_rounds_are_left_out_and_named():
    busy_half = cores.ThreadScaling(2, [10, 10, 10, 10], [5, 5, 10, 10], [1.9, 1.9, 1.0, 1.0])
    assert busy_half.clean_rounds == [0, 1]
    assert busy_half.speedup == 2.0, "only the rounds with two free cores count"
    assert busy_half.idle == (True, "")
    held, reason = scaling([1.9, 1.0, 1.0]).idle
    assert not held and "1 of 3 rounds" in reason
    assert scaling([1.0, 1.0]).speedup == 2.0, "with no clean round, all rounds are used for the figure"
    assert cores.ThreadScaling(1, [1.0], [1.0], [1.9]).idle[0] is False


def test_thread_scaling_restores_threads_and_times_both():
    before = torch.get_num_threads()
    seen = []
    result = cores.thread_scaling(lambda: seen.append(torch.get_num_threads()), 2, warmup=1, repeats=4)
    assert torch.get_num_threads() == before
    assert len(result.one_thread_ms) == len(result.n_threads_ms) == len(result.capacity) == 4
    assert seen.count(1) == seen.count(2) == 5


def test_a_failed_premise_shows_the_figure_with_its_reason(tmp_path):
    claims = claims_module.Claims("00_test", quick=True, seed=0, device="cpu", folder=tmp_path)
    claims.record("speedup", 1.0, "x", at_least=1.2, premise=(False, "the second core was busy"), catches="x")
    entry = claims.doc["claims"][0]
    assert not entry["asserted"] and entry["not_asserted_because"] == "the second core was busy"
    with pytest.raises(claims_module.ClaimFailed):
        claims.record("speedup", 1.0, "x", at_least=1.2, premise=(True, ""), catches="x")
    with pytest.raises(TypeError, match="premise"):
        claims.record("speedup", 1.0, "x", at_least=1.2, premise=True, catches="x")
