"""The dynamic batcher on its own: batch formation, preferred sizes, shape keys, bounds, timeouts, draining."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from serving.batcher import Closed, DynamicBatcher, Pending, QueueFull, TimedOut


def pending(rows: int = 1, key: Any = (4,), deadline: float | None = None, log: list | None = None) -> Pending:
    return Pending({}, rows, key, (log.append if log is not None else lambda r: None), deadline)


def rows_of(batch: list[Pending]) -> list[int]:
    return [p.rows for p in batch]


def test_a_full_batch_goes_at_once_without_waiting_for_the_delay():
    b = DynamicBatcher(8, max_delay_s=60)
    for r in (1, 2, 3, 2, 4):
        b.submit(pending(r))
    t = time.monotonic()
    assert rows_of(b.next_batch()) == [1, 2, 3, 2]  # 8 rows; the 4 waits for the next batch (FIFO, no overtaking)
    assert time.monotonic() - t < 5
    assert b.depth == 1


def test_the_largest_preferred_prefix_goes_at_once():
    b = DynamicBatcher(16, preferred=(2, 4), max_delay_s=60)
    for r in (1, 1, 1, 1, 1):
        b.submit(pending(r))
    assert rows_of(b.next_batch()) == [1, 1, 1, 1]
    assert b.depth == 1


def test_a_partial_batch_waits_for_the_delay_then_goes():
    b = DynamicBatcher(8, max_delay_s=0.05)
    t = time.monotonic()
    b.submit(pending(1))
    b.submit(pending(2))
    assert rows_of(b.next_batch()) == [1, 2]
    assert time.monotonic() - t >= 0.05


def test_requests_arriving_during_the_delay_join_the_batch():
    b = DynamicBatcher(4, max_delay_s=30)
    b.submit(pending(1))
    got: list[list[Pending]] = []
    worker = threading.Thread(target=lambda: got.append(b.next_batch()))
    worker.start()
    for _ in range(3):
        b.submit(pending(1))
    worker.join(10)
    assert rows_of(got[0]) == [1, 1, 1, 1]  # filled to max batch before the 30 s delay


def test_only_equal_shapes_are_batched_together_and_order_is_kept():
    b = DynamicBatcher(8, max_delay_s=0)
    a1, c1, a2 = pending(1, key=(4,)), pending(1, key=(5,)), pending(1, key=(4,))
    for p in (a1, c1, a2):
        b.submit(p)
    assert b.next_batch() == [a1, a2]
    assert b.next_batch() == [c1]


def test_without_dynamic_batching_each_request_is_its_own_batch():
    b = DynamicBatcher(8, dynamic=False)
    for r in (1, 2):
        b.submit(pending(r))
    assert rows_of(b.next_batch()) == [1]
    assert rows_of(b.next_batch()) == [2]


def test_a_full_queue_refuses_at_once():
    b = DynamicBatcher(8, max_queue_size=2)
    b.submit(pending())
    b.submit(pending())
    with pytest.raises(QueueFull, match="queue is full"):
        b.submit(pending())
    b.next_batch()
    b.submit(pending())  # room again


def test_an_expired_request_never_runs_and_is_told_so():
    b = DynamicBatcher(8, max_delay_s=0)
    log: list = []
    b.submit(pending(deadline=time.monotonic() - 1, log=log))
    live = pending()
    b.submit(live)
    assert b.next_batch() == [live]
    assert len(log) == 1 and isinstance(log[0], TimedOut)


def test_a_cancelled_request_is_skipped_and_frees_its_slot():
    b = DynamicBatcher(8, max_delay_s=0, max_queue_size=1)
    p = pending()
    b.submit(p)
    assert b.cancel(p) and b.depth == 0
    q = pending()
    b.submit(q)
    assert b.next_batch() == [q]
    assert not b.cancel(q)  # already taken: it runs


def test_close_refuses_new_requests_but_drains_the_queue():
    b = DynamicBatcher(8, max_delay_s=60)
    b.submit(pending(3))
    b.close()
    with pytest.raises(Closed):
        b.submit(pending())
    t = time.monotonic()
    assert rows_of(b.next_batch()) == [3]  # no waiting for the delay once closed
    assert time.monotonic() - t < 5
    assert b.next_batch() is None


def test_idle_workers_split_the_queue_instead_of_one_batching_while_another_idles():
    b = DynamicBatcher(8, max_delay_s=0.2)
    got: list[list[Pending]] = []
    lock = threading.Lock()

    def work() -> None:
        batch = b.next_batch()
        with lock:
            got.append(batch)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 10
    while b._idle < 2 and time.monotonic() < deadline:  # both workers wait inside next_batch
        time.sleep(0.001)
    for r in (1, 2, 1):
        b.submit(pending(r))
    for w in workers:
        w.join(10)
    # 4 rows, 2 idle workers: the first takes its share (2 rows at most, FIFO: the 1), the second the rest
    assert sorted(rows_of(g) for g in got) == [[1], [2, 1]] and b.depth == 0


def test_a_lone_idle_worker_still_takes_everything_that_fits():
    b = DynamicBatcher(8, max_delay_s=0.01)
    for r in (1, 2, 1):
        b.submit(pending(r))
    assert rows_of(b.next_batch()) == [1, 2, 1]
