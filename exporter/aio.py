"""Small asyncio helpers shared by the long-running parts."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_all(tasks: dict[Any, asyncio.Task[None]]) -> None:
    """Cancel every task of `tasks`, empty it, and wait until each has really finished."""
    pending = list(tasks.values())
    tasks.clear()
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
