"""Run calls at the same moment, to show what concurrent requests do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call on its own thread, all released together; their results, in order.

    An exception a call raised is re-raised here (the first, in call order),
    so a failure inside a thread cannot pass unseen.
    """
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(n: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[n] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[n] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for error in errors:
        if error is not None:
            raise error
    return results
