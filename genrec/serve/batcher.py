"""Micro-batching: concurrent /recommend requests share one beam-search decode.

Requests wait in a queue; one worker takes the first and every one that follows without a
2 ms pause (up to `max_batch`, for at most `max_wait_ms`), answers them all with one decode in
a worker thread, and loops. While a decode runs the next batch fills up, so the batch grows
with the load and throughput with it. Each batch reads one catalogue snapshot throughout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from genrec.answer import Query, answer_batch
from genrec.catalog import Snapshot

log = logging.getLogger("genrec.serve")
GAP = 0.002  # seconds without a new request that end a batch early
__all__ = ["GAP", "MicroBatcher", "Query", "answer_batch"]


class MicroBatcher:
    """Collects queries on the running event loop; decodes batches in one worker thread."""

    def __init__(self, snapshot: Callable[[], Snapshot], max_batch: int = 64,
                 max_wait_ms: float = 10.0, workers: int = 1) -> None:
        self.snapshot = snapshot
        self.max_batch, self.max_wait, self.workers = max_batch, max_wait_ms / 1000, workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="genrec-decode")
        self.batches = self.requests = 0
        self.decode_seconds = 0.0  # summed over batches (worker-thread time)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []

    async def submit(self, query: Query) -> dict[str, Any]:
        """The response body for `query`; raises UnknownItem for a bad id."""
        self._ensure_worker()
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((query, fut))
        return await fut

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or not self._tasks or any(t.done() for t in self._tasks):
            for task in self._tasks:
                task.cancel()
            self._loop, self._queue = loop, asyncio.Queue()  # (a test client's new loop)
            # with 2+ workers a batch gathers while another decodes (torch ops drop the GIL)
            self._tasks = [loop.create_task(self._work()) for _ in range(self.workers)]

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(
                    self.pool, answer_batch, self.snapshot(), [q for q, _ in batch])
            except Exception as err:  # a bug must not stop the worker: fail this batch only
                log.exception("decode failed")
                results = [err] * len(batch)
            self.decode_seconds += time.perf_counter() - start
            self.batches += 1
            self.requests += len(batch)
            for (_, fut), res in zip(batch, results, strict=True):
                if fut.done():  # the client went away
                    continue
                if isinstance(res, Exception):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)

    async def _collect(self) -> list[tuple[Query, asyncio.Future]]:
        """The first waiting query plus all that follow it without a pause of `GAP` seconds,
        for at most max_wait: clients answered by the last decode come back as a burst, and
        one batch of them all decodes faster than two halves taking turns."""
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            while not self._queue.empty() and len(batch) < self.max_batch:
                batch.append(self._queue.get_nowait())
            left = deadline - loop.time()
            if left <= 0 or len(batch) >= self.max_batch:
                break
            await asyncio.sleep(min(GAP, left))
            if self._queue.empty():
                break  # a pause: nobody else is coming soon
        return batch

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.pool.shutdown(wait=True)
