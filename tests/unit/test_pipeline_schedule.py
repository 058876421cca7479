import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from course_utils import pipeline_schedule as ps


@pytest.mark.parametrize("name", ["gpipe", "1f1b"])
@pytest.mark.parametrize(("p", "m"), [(2, 1), (2, 4), (4, 4), (4, 8), (3, 7), (8, 16)])
@pytest.mark.parametrize(("f", "b"), [(1.0, 1.0), (1.0, 2.0)])
def test_gpipe_and_1f1b_reproduce_the_bubble_formula_exactly(name, p, m, f, b):
    slots = ps.schedule(name, p, m, f=f, b=b)
    assert len(slots) == 2 * p * m, "every stage runs every microbatch forward and backward once"
    assert ps.bubble_fraction(slots) == pytest.approx(ps.formula_bubble(p, m), abs=1e-12)
    assert ps.makespan(slots) == pytest.approx((m + p - 1) * (f + b))


@pytest.mark.parametrize(("p", "m", "v"), [(2, 4, 2), (4, 4, 2), (4, 8, 2), (4, 8, 4), (2, 2, 3)])
def test_interleaving_divides_the_bubble_by_the_chunks(p, m, v):
    slots = ps.schedule("interleaved", p, m, v=v)
    assert ps.bubble_fraction(slots) == pytest.approx(ps.formula_bubble(p, m, v), abs=1e-12)
    assert ps.bubble_fraction(slots) < ps.bubble_fraction(ps.schedule("1f1b", p, m))


@pytest.mark.parametrize(("p", "m"), [(4, 8), (4, 2), (2, 8)])
def test_1f1b_holds_at_most_p_minus_s_microbatches_gpipe_holds_all(p, m):
    one_f_one_b, gpipe = ps.schedule("1f1b", p, m), ps.schedule("gpipe", p, m)
    for s in range(p):
        assert ps.peak_in_flight(one_f_one_b, s) == min(p - s, m)
        assert ps.peak_in_flight(gpipe, s) == m


def test_a_wrong_order_is_caught():
    """A schedule that runs a backward before its forward reached the last stage deadlocks, and says so."""
    orders = ps.one_f_one_b_order(2, 2)
    orders[1] = [ps.Op("B", 0), ps.Op("F", 0), ps.Op("F", 1), ps.Op("B", 1)]
    with pytest.raises(ValueError, match="deadlocks"):
        ps.simulate(orders)


def test_a_schedule_that_waits_too_long_shows_a_bigger_bubble():
    """GPipe's order with 1F1B's name would still match the formula; one that idles (forwards one at a time
    through the whole pipe) does not: the simulation measures the order it is given."""
    p, m = 4, 4
    serial = [[op for i in range(m) for op in (ps.Op("F", i), ps.Op("B", i))] for _ in range(p)]
    assert ps.bubble_fraction(ps.simulate(serial)) > ps.formula_bubble(p, m) + 0.2


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiple of p"):
        ps.schedule("interleaved", 4, 6)
    with pytest.raises(ValueError, match="unknown schedule"):
        ps.schedule("zero-bubble", 2, 2)
    with pytest.raises(ValueError, match="positive"):
        ps.schedule("gpipe", 2, 2, f=0)


def test_gantt_draws_every_slot():
    fig, ax = plt.subplots()
    slots = ps.schedule("1f1b", 2, 3)
    ps.gantt(slots, ax)
    assert len(ax.patches) == len(slots)
    plt.close(fig)
