"""The dynamic batcher of one model version: a bounded FIFO queue that instance workers pull batches from.

A worker that is free asks for the next batch (``next_batch``). The batch is formed from the queued requests in
arrival order, among those whose non-batch shapes equal the oldest one's (only those can be concatenated):

* if a prefix of them sums to a preferred batch size, the largest such prefix goes at once;
* else if they fill ``max_batch_size``, the largest prefix that fits goes at once;
* else the worker waits until the oldest request has waited ``max_queue_delay`` (or more arrive), then takes
  all that fit;
* in the last two cases, when other workers are idle too, the worker takes only its share of the queued rows
  (rounded up) and leaves the rest to them: on a CPU a batch of n rows costs about n single runs (measured on
  the bundled engine: 0.72 ms per row at batch 1, 0.77 at batch 8 for a Fashion-MNIST CNN), so one instance
  running a batch of 2 while another idles halves throughput. A preferred size is taken whole.

This is Triton's dynamic batcher. Because only an idle worker takes a batch, a batch never waits behind a busy
instance: the least-loaded instance (an idle one) always gets it. Without dynamic batching each request is a
batch of its own. The queue is bounded: ``submit`` refuses at once when it is full (``QueueFull``) or closed
(``Closed``); a closed batcher still hands out everything it accepted, so shutdown and version swaps finish the
requests already queued.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

QUEUED, TAKEN, CANCELLED = 0, 1, 2


class Rejected(Exception):
    """The request was not queued (HTTP 503: the client may retry elsewhere or later)."""


class QueueFull(Rejected):
    pass


class Closed(Rejected):
    pass


class TimedOut(Exception):
    """The request's timeout passed before a worker took it (it never ran)."""


@dataclass(eq=False)
class Pending:
    """One queued request. ``on_done`` is called once, from a worker thread, with the result or an exception."""

    inputs: dict[str, Any]
    rows: int  # its size along the batch dim (1 for a model without batching)
    shape_key: Any  # only requests with equal keys are concatenated
    on_done: Callable[[Any], None]
    deadline: float | None = None  # time.monotonic() after which it must not start
    enqueued: float = 0.0
    taken: float = 0.0
    state: int = QUEUED
    extra: dict[str, Any] = field(default_factory=dict)


class DynamicBatcher:
    def __init__(self, max_batch_size: int, *, dynamic: bool = True, preferred: Sequence[int] = (),
                 max_delay_s: float = 0.0, max_queue_size: int = 256) -> None:
        if max_queue_size < 1:
            raise ValueError(f"max_queue_size must be >= 1, got {max_queue_size}")
        # max_batch_size 0 (a model without a batch dim) or no dynamic batching: one request per batch
        self.max_batch_size = max_batch_size
        self.dynamic = dynamic and max_batch_size > 0
        self.preferred = frozenset(preferred)
        self.max_delay_s = max_delay_s
        self.max_queue_size = max_queue_size
        self._queue: deque[Pending] = deque()
        self._live = 0  # queued and not cancelled
        self._idle = 0  # workers inside next_batch, i.e. not computing
        self._closed = False
        self._cond = threading.Condition(threading.Lock())

    @property
    def depth(self) -> int:
        return self._live

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, p: Pending) -> None:
        with self._cond:
            if self._closed:
                raise Closed("the model version is being unloaded")
            if self._live >= self.max_queue_size:
                raise QueueFull(f"the queue is full ({self.max_queue_size} requests): server overloaded")
            p.enqueued = time.monotonic()
            p.state = QUEUED
            self._queue.append(p)
            self._live += 1
            # one waiter suffices: all workers are alike, and a worker that takes a batch wakes the next
            self._cond.notify()

    def cancel(self, p: Pending) -> bool:
        """Withdraws a queued request (timeout, client gone); False if a worker already took it."""
        with self._cond:
            if p.state != QUEUED:
                return False
            p.state = CANCELLED
            self._live -= 1  # its entry is skipped and dropped lazily
            return True

    def close(self) -> None:
        """Refuses new requests; workers still drain the queue, then ``next_batch`` returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def next_batch(self) -> list[Pending] | None:
        """Blocks until a batch is ready (see the module doc); None once closed and drained."""
        expired: list[Pending] = []
        try:
            with self._cond:
                self._idle += 1
                try:
                    return self._next(expired)
                finally:
                    self._idle -= 1
        finally:
            for p in expired:  # outside the lock: callbacks may take their own
                p.on_done(TimedOut("the request timed out in the queue before it could run"))

    def _next(self, expired: list[Pending]) -> list[Pending] | None:
        """``next_batch`` under the lock."""
        while True:
            now = time.monotonic()
            self._drop_head(now, expired)
            if not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
                continue
            batch, wait_s = self._form(now, expired)
            if batch:
                for p in batch:
                    p.state, p.taken = TAKEN, now
                self._live -= len(batch)
                if self._live:
                    self._cond.notify()  # let another idle worker look at what is left
                return batch
            self._cond.wait(wait_s)

    def _drop_head(self, now: float, expired: list[Pending]) -> None:
        q = self._queue
        while q and (q[0].state != QUEUED or self._expire(q[0], now, expired)):
            q.popleft()

    def _expire(self, p: Pending, now: float, expired: list[Pending]) -> bool:
        if p.state == QUEUED and p.deadline is not None and now >= p.deadline:
            p.state = CANCELLED
            self._live -= 1
            expired.append(p)
            return True
        return False

    def _form(self, now: float, expired: list[Pending]) -> tuple[list[Pending], float | None]:
        """(batch, 0) when one is ready; ([], seconds to wait) while waiting for the delay to pass."""
        head = self._queue[0]
        if not self.dynamic:
            self._queue.popleft()
            return [head], None
        chosen: list[Pending] = []
        rows, full, best_preferred = 0, False, 0
        for p in self._queue:
            if p.state != QUEUED or self._expire(p, now, expired) or p.shape_key != head.shape_key:
                continue
            if rows + p.rows > self.max_batch_size:
                full = True  # FIFO: a later, smaller request does not overtake this one
                break
            chosen.append(p)
            rows += p.rows
            if rows in self.preferred:
                best_preferred = len(chosen)
        full = full or rows == self.max_batch_size
        if best_preferred:
            chosen = chosen[:best_preferred]
        elif not (full or self._closed or now >= head.enqueued + self.max_delay_s):
            return [], head.enqueued + self.max_delay_s - now
        elif self._idle > 1:
            share, rows, n = -(-rows // self._idle), 0, 0
            while n < len(chosen) and (n == 0 or rows + chosen[n].rows <= share):
                rows += chosen[n].rows
                n += 1
            chosen = chosen[:n]
        taken = set(map(id, chosen))
        q, left = self._queue, len(chosen)
        while q and left and (id(q[0]) in taken or q[0].state != QUEUED):  # the usual case: a run at the head
            left -= id(q.popleft()) in taken
        if left:
            self._queue = deque(p for p in q if id(p) not in taken and p.state == QUEUED)
        return chosen, None
