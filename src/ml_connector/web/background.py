"""Work that continues after Slack has had its answer.

Slack waits three seconds for an acknowledgement and then retries, so anything slower (a
pipeline run, marking an installation unusable) runs as a task the request does not await.
The set holds a reference to each task (the event loop keeps only weak ones) and lets the
server finish or cancel them on shutdown instead of dropping them silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from ml_connector.logging import get_logger

log = get_logger("ml_connector.web")


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("background task failed", task=task.get_name(), error=error)

    async def close(self, grace: float) -> None:
        """Let running work finish for ``grace`` seconds, then cancel what is left."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        _done, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            log.warning("background work cancelled at shutdown", tasks=len(still))
            await asyncio.gather(*still, return_exceptions=True)
