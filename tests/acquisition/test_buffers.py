"""RingBuffer and WorkQueue: ordering, wrap-around, overflow counting, thread safety."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.acquisition import RingBuffer, WorkQueue


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 50),
    chunks=st.lists(st.integers(0, 80), min_size=1, max_size=20),
    want=st.integers(0, 100),
)
def test_ring_buffer_returns_the_latest_samples_in_order(capacity, chunks, want):
    ring = RingBuffer(2, capacity, 100.0)
    written = []
    k = 0
    for n in chunks:
        values = np.arange(k, k + n, dtype=float)
        ring.write(k * 0.01, np.column_stack([values, -values]))
        written.extend(values)
        k += n
    t, d = ring.latest(want)
    expected = np.array(written[len(written) - min(want, capacity, len(written)) :])
    assert d.shape == (len(expected), 2) and t.shape == (len(expected),)
    np.testing.assert_array_equal(d[:, 0], expected)
    np.testing.assert_array_equal(d[:, 1], -expected)
    np.testing.assert_allclose(t, expected * 0.01, rtol=0, atol=1e-12)
    assert ring.total_written == len(written)
    # what it keeps: the blocks holding the newest `capacity` samples, no more
    kept = sum(b.shape[0] for _, b in ring._blocks)
    assert kept == ring._kept
    if ring._blocks:
        assert kept - ring._blocks[0][1].shape[0] < capacity <= kept or kept == len(written)


def test_ring_buffer_since_selects_by_time_and_copies():
    ring = RingBuffer(1, 10, 1.0)
    ring.write(0.0, np.arange(5.0)[:, None])
    t, d = ring.since(2.0)
    np.testing.assert_array_equal(t, [2, 3, 4])
    d[:] = 99  # a copy: the buffer is untouched
    assert ring.latest(1)[1][0, 0] == 4
    t, d = ring.latest(5)  # one block read whole: still a copy
    d[:] = 98
    assert ring.latest(5)[1][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_ring_buffer_rejects_nonsense_sizes():
    with pytest.raises(ValueError):
        RingBuffer(0, 10, 100.0)
    with pytest.raises(ValueError):
        RingBuffer(3, 0, 100.0)
    with pytest.raises(ValueError):
        RingBuffer(3, 10, 0.0)


def test_work_queue_refuses_and_counts_instead_of_blocking():
    q = WorkQueue(max_samples_per_key=10)
    assert q.put("a", "x", 6)
    assert not q.put("a", "y", 6)  # would exceed the quota of stream a
    assert q.put("b", "z", 10)  # other streams have their own quota
    q.put_control("marker")  # control items are never refused
    assert q.overflows["a"] == 1 and q.overflow_samples["a"] == 6
    items = q.get_all(0.1)
    assert items == [("data", "a", "x"), ("data", "b", "z"), ("control", None, "marker")]
    assert q.pending_samples("a") == 0
    assert q.put("a", "w", 10)  # room again after draining
    assert q.get_all(0.01) == [("data", "a", "w")]
    assert q.get_all(0.01) == []


def test_work_queue_many_producers_one_consumer_loses_nothing_accepted():
    q = WorkQueue(max_samples_per_key=50)
    accepted = {k: [] for k in range(4)}

    def produce(key):
        for i in range(2000):
            if q.put(key, i, 1):
                accepted[key].append(i)

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    got = {k: [] for k in range(4)}
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) or len(q):
        for _, key, item in q.get_all(0.01):
            got[key].append(item)
    for t in threads:
        t.join()
    for k in range(4):
        assert got[k] == accepted[k]
        assert len(accepted[k]) + q.overflow_samples[k] == 2000


def test_coalesce_merges_only_contiguous_blocks_of_one_stream():
    from forcelab.drivers import Block

    from forcelab.acquisition.workers import coalesce as _coalesce

    def b(seq, n, gap=0, status=0):
        return Block(seq, seq / 100, 1000 + seq / 100, np.full((n, 2), float(seq)), status, gap)

    items = [
        ("data", "L", b(0, 4)),
        ("data", "R", b(0, 3)),
        ("data", "L", b(4, 4)),
        ("data", "L", b(8, 4, status=1)),  # other status bits: kept apart
        ("control", None, "reset"),
        ("data", "L", b(12, 4)),  # never merged across a control item
        ("data", "L", b(20, 4, gap=4)),  # after a gap: kept apart
        ("data", "R", b(3, 3)),
    ]
    out = _coalesce(items)
    assert [(k, key, None if k == "control" else (it.seq, it.n)) for k, key, it in out] == [
        ("data", "L", (0, 8)),
        ("data", "R", (0, 3)),
        ("data", "L", (8, 4)),
        ("control", None, None),
        ("data", "L", (12, 4)),
        ("data", "L", (20, 4)),
        ("data", "R", (3, 3)),
    ]
    merged = out[0][2]
    np.testing.assert_array_equal(merged.samples[:, 0], [0] * 4 + [4] * 4)
    assert merged.t_host_s == items[0][2].t_host_s
