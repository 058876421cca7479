import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import benchmark, models


def test_timing_script_runs_in_a_subprocess_and_reports_a_median():
    script = benchmark.timing_script("import os\nvalue = os.environ.get('COURSE_TEST_FLAG', 'unset')",
                                     "assert value == 'on', value", warmup=1, repeats=3)
    medians = benchmark.subprocess_timings(script, {"with flag": {"COURSE_TEST_FLAG": "on"}}, runs=2)
    assert list(medians) == ["with flag"] and len(medians["with flag"]) == 2
    assert all(m >= 0 for m in medians["with flag"])


def test_drop_env_removes_a_variable_from_the_child(monkeypatch):
    monkeypatch.setenv("COURSE_TEST_FLAG", "leaked")
    script = benchmark.timing_script("import os", "assert 'COURSE_TEST_FLAG' not in os.environ", warmup=0, repeats=1)
    benchmark.run_script(script, drop_env=("COURSE_TEST_FLAG",))
    with pytest.raises(RuntimeError, match="exit code"):
        benchmark.run_script(script)


def test_parse_median_and_bad_inputs():
    assert benchmark.parse_median("noise\nMEDIAN_MS=1.5\nMEDIAN_MS=2.5\n") == 2.5
    with pytest.raises(ValueError, match="MEDIAN_MS"):
        benchmark.parse_median("nothing here")
    with pytest.raises(ValueError, match="repeats"):
        benchmark.timing_script("", "pass", repeats=0)
    with pytest.raises(ValueError, match="call is empty"):
        benchmark.timing_script("", "  ")
    with pytest.raises(ValueError, match="runs"):
        benchmark.subprocess_timings("pass", {"a": {}}, runs=0)


def test_time_after_calls_before_untimed_every_time():
    calls = []
    result = benchmark.time_after({"plain": (None, lambda: calls.append("fn")),
                                   "after": (lambda: calls.append("before"), lambda: calls.append("fn2"))},
                                  warmup=1, repeats=4)
    assert len(result.stats["plain"].times_ms) == 4 and len(result.stats["after"].times_ms) == 4
    assert calls.count("before") == 5 and calls.count("fn2") == 5
    assert all(calls[i + 1] == "fn2" for i, c in enumerate(calls) if c == "before")
    with pytest.raises(ValueError, match="empty"):
        benchmark.time_after({})


def test_compare_phased_runs_blocks_in_abba_order():
    order = []
    result = benchmark.compare_phased({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                                      phases=2, warmup=1, repeats=2)
    assert order == ["a"] * 3 + ["b"] * 6 + ["a"] * 3
    assert len(result.stats["a"].times_ms) == 4
    with pytest.raises(ValueError, match="phases"):
        benchmark.compare_phased({"a": lambda: None}, phases=0)


def test_layer_costs_equal_torch_flop_counter():
    for name in ("simple_cnn", "resnet20"):
        model = models.build_model(name).eval()
        x = models.example_input(name, 1)
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(x)
        costs = benchmark.layer_costs(model, x)
        assert sum(c.flops for c in costs) == counter.get_total_flops()
        assert all(c.bytes > 0 and c.intensity > 0 for c in costs)


def test_layer_costs_hand_computed_and_errors():
    conv = nn.Conv2d(2, 3, 3, bias=False)
    (cost,) = benchmark.layer_costs(conv, torch.zeros(1, 2, 5, 5))
    assert cost.flops == 2 * (3 * 3 * 3) * (2 * 3 * 3)
    assert cost.bytes == 4 * (2 * 25 + 3 * 2 * 9 + 3 * 9)
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        benchmark.layer_costs(nn.ReLU(), torch.zeros(1))
    assert benchmark.matmul_flops(4) == 128
    with pytest.raises(ValueError):
        benchmark.matmul_flops(0)


def test_copy_bandwidth_is_positive():
    assert benchmark.copy_bandwidth_gbs(1 << 16, repeats=2) > 0
    with pytest.raises(ValueError):
        benchmark.copy_bandwidth_gbs(0)


def _count_syncs(monkeypatch):
    synced = []
    monkeypatch.setattr(benchmark, "synchronize", lambda device: synced.append(device))
    return synced


def test_time_after_synchronises_the_device_around_each_timed_call(monkeypatch):
    events = []
    monkeypatch.setattr(benchmark, "synchronize", lambda device: events.append(("sync", device)))
    benchmark.time_after({"a": (lambda: events.append("before"), lambda: events.append("fn"))},
                         warmup=1, repeats=2, device="cuda")
    assert events == ["before", ("sync", "cuda"), "fn", ("sync", "cuda")] * 3  # before() stays outside the timed span
    events.clear()
    benchmark.time_after({"a": (None, lambda: None)}, warmup=0, repeats=1)
    assert events == [("sync", None)] * 2  # no device: synchronize(None) does nothing


def test_compare_phased_synchronises_the_device(monkeypatch):
    synced = _count_syncs(monkeypatch)
    benchmark.compare_phased({"a": lambda: None, "b": lambda: None}, phases=2, warmup=1, repeats=3,
                             device=torch.device("cuda"))
    assert len(synced) == 2 * 2 * 3 * 2 and all(d == torch.device("cuda") for d in synced)


def test_synchronize_is_a_no_op_off_gpu():
    for device in (None, "cpu", torch.device("cpu"), "meta"):
        benchmark.synchronize(device)


def test_copy_bandwidth_allocates_on_the_device(monkeypatch):
    synced = _count_syncs(monkeypatch)
    assert benchmark.copy_bandwidth_gbs(1 << 10, repeats=3, device="meta") > 0
    assert len(synced) == 6 and all(d == torch.device("meta") for d in synced)  # the tensors' own device
    synced.clear()
    benchmark.copy_bandwidth_gbs(1 << 10, repeats=1)
    assert synced == [torch.device("cpu")] * 2


def test_phased_script_runs_each_phase_in_order_in_one_process():
    script = benchmark.phased_timing_script("state = []", "assert state, 'the phase statement runs before timing'",
                                            {"first": "state.append(1)", "second": "state.append(2); assert state == [1, 2]"},
                                            warmup=1, repeats=2)  # fmt: skip
    medians = benchmark.subprocess_phase_timings(script, runs=2)
    assert list(medians) == ["first", "second"] and all(len(v) == 2 and min(v) >= 0 for v in medians.values())


def test_phased_script_starts_without_the_dropped_variables(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4096")
    script = benchmark.phased_timing_script("import os", "assert 'MALLOC_MMAP_THRESHOLD_' not in os.environ",
                                            {"default": ""}, warmup=0, repeats=1)  # fmt: skip
    assert list(benchmark.subprocess_phase_timings(script, runs=1)) == ["default"]  # ALLOCATOR_ENV dropped by default
    with pytest.raises(RuntimeError, match="exit code"):
        benchmark.subprocess_phase_timings(script, runs=1, drop_env=())


def test_phased_script_and_parser_refuse_bad_input():
    assert benchmark.parse_phase_medians("noise\nPHASE_MS a=1.5\nPHASE_MS b c=2.5\n") == {"a": 1.5, "b c": 2.5}
    with pytest.raises(ValueError, match="PHASE_MS"):
        benchmark.parse_phase_medians("MEDIAN_MS=1.0")
    for phases in ({}, {"a=b": ""}, {"": ""}, {"a\nb": ""}):
        with pytest.raises(ValueError):
            benchmark.phased_timing_script("", "pass", phases)
    with pytest.raises(ValueError, match="call is empty"):
        benchmark.phased_timing_script("", " ", {"a": ""})
    with pytest.raises(ValueError, match="runs"):
        benchmark.subprocess_phase_timings("pass", runs=0)
