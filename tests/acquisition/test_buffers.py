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
    ring = RingBuffer(2, capacity)
    written = []
    k = 0
    for n in chunks:
        values = np.arange(k, k + n, dtype=float)
        ring.write(values * 0.01, np.column_stack([values, -values]))
        written.extend(values)
        k += n
    t, d = ring.latest(want)
    expected = np.array(written[len(written) - min(want, capacity, len(written)) :])
    np.testing.assert_array_equal(d[:, 0], expected)
    np.testing.assert_array_equal(d[:, 1], -expected)
    np.testing.assert_allclose(t, expected * 0.01)
    assert ring.total_written == len(written)


def test_ring_buffer_since_selects_by_time_and_copies():
    ring = RingBuffer(1, 10)
    ring.write(np.arange(5.0), np.arange(5.0)[:, None])
    t, d = ring.since(2.0)
    np.testing.assert_array_equal(t, [2, 3, 4])
    d[:] = 99  # a copy: the buffer is untouched
    assert ring.latest(1)[1][0, 0] == 4


def test_ring_buffer_rejects_nonsense_sizes():
    with pytest.raises(ValueError):
        RingBuffer(0, 10)
    with pytest.raises(ValueError):
        RingBuffer(3, 0)


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
