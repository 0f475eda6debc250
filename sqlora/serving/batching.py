"""An asyncio micro-batcher: concurrent requests wait a few ms, then share one ``generate_batch`` call."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

Pair = tuple[str, str]
BatchFn = Callable[[list[Pair]], Sequence[Any]]


class QueueFull(RuntimeError):
    """Too many requests are already waiting for the model."""


@dataclass
class BatchStats:
    """How many generate calls served how many requests."""

    calls: int = 0
    requests: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, size: int) -> None:
        self.calls += 1
        self.requests += size
        self.largest = max(self.largest, size)
        self.sizes = (self.sizes + [size])[-1000:]

    def to_dict(self) -> dict:
        mean = self.requests / self.calls if self.calls else 0.0
        return {"calls": self.calls, "requests": self.requests, "largest": self.largest, "mean": round(mean, 2)}


@dataclass
class _Item:
    pair: Pair
    future: asyncio.Future


class MicroBatcher:
    """Collect requests for up to ``max_wait_ms`` (or until ``max_batch``) and run them as one batch.

    The batch function runs in one dedicated worker thread, so the model only ever sees one call at
    a time and the event loop stays free. ``max_batch=1`` turns batching off (one call per request).
    """

    def __init__(self, fn: BatchFn, max_batch: int = 8, max_wait_ms: float = 5.0, max_queue: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlora-generate")
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure_worker(self) -> asyncio.Queue[_Item]:
        """Start the collector on the running loop (again, if the loop changed, as in some test clients)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._queue is None or self._loop is not loop or self._task is None or self._task.done():
                self._loop = loop
                self._queue = asyncio.Queue()
                self._task = loop.create_task(self._run(self._queue), name="sqlora-batcher")
            return self._queue

    async def submit(self, question: str, schema: str) -> Any:
        """Queue one (question, schema) pair and wait for its result."""
        queue = self._ensure_worker()
        if queue.qsize() >= self.max_queue:
            raise QueueFull(f"{queue.qsize()} requests are already waiting; try again shortly")
        future = asyncio.get_running_loop().create_future()
        await queue.put(_Item((question, schema), future))
        return await future

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        batch = [await queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        # Anything that queued up while we waited rides along, up to the batch size.
        while len(batch) < self.max_batch and not queue.empty():
            batch.append(queue.get_nowait())
        return [item for item in batch if not item.future.done()]

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(queue)
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.fn, [item.pair for item in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"generator returned {len(results)} results for {len(batch)} questions")
            except Exception as err:  # noqa: BLE001 - every waiting request gets the error
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(err)
                continue
            self.stats.record(len(batch))
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)

    async def aclose(self) -> None:
        """Stop the collector; waiting requests are cancelled."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task

    def shutdown(self) -> None:
        """Release the worker thread (after :meth:`aclose`; the batcher cannot be used again)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
