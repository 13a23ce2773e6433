"""Pairing two message streams by stamp (image + parts), without ROS: a small stamp-keyed cache.

The vision stamps its `parts` with the stamp of the image they came from, so the classifier
pairs each `parts` message with the image of (nearly) the same stamp, whichever arrives first.
message_filters' ApproximateTimeSynchronizer would do too; this keeps the rule explicit and
testable here, and never blocks: unmatched items simply age out of a bounded cache.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class StampPairer(Generic[A, B]):
    """Pairs items of stream A with items of stream B whose stamps differ by <= `tolerance_s`.

    Each item is used at most once; each side keeps at most `max_items` unmatched items (the
    oldest are dropped and counted in `dropped`).
    """

    def __init__(self, tolerance_s: float = 0.005, max_items: int = 30) -> None:
        if not tolerance_s >= 0.0:
            msg = f"tolerance_s must be >= 0, got {tolerance_s!r}"
            raise ValueError(msg)
        if max_items < 1:
            msg = f"max_items must be >= 1, got {max_items!r}"
            raise ValueError(msg)
        self.tolerance_s = float(tolerance_s)
        self._a: deque[tuple[float, Any]] = deque()
        self._b: deque[tuple[float, Any]] = deque()
        self._max = int(max_items)
        self.dropped = 0

    def add_a(self, stamp_s: float, item: A) -> tuple[A, B] | None:
        """Add an A item; return (a, b) if a waiting B item matches its stamp."""
        b = self._take(self._b, stamp_s)
        if b is not None:
            return item, b
        self._push(self._a, stamp_s, item)
        return None

    def add_b(self, stamp_s: float, item: B) -> tuple[A, B] | None:
        """Add a B item; return (a, b) if a waiting A item matches its stamp."""
        a = self._take(self._a, stamp_s)
        if a is not None:
            return a, item
        self._push(self._b, stamp_s, item)
        return None

    def __len__(self) -> int:
        return len(self._a) + len(self._b)

    def clear(self) -> None:
        """Forget every waiting item."""
        self._a.clear()
        self._b.clear()

    def _take(self, queue: deque[tuple[float, Any]], stamp_s: float) -> Any | None:
        best_i, best_d = -1, float("inf")
        for i, (s, _) in enumerate(queue):
            d = abs(s - stamp_s)
            if d <= self.tolerance_s and d < best_d:
                best_i, best_d = i, d
        if best_i < 0:
            return None
        item = queue[best_i][1]
        del queue[best_i]
        return item

    def _push(self, queue: deque[tuple[float, Any]], stamp_s: float, item: Any) -> None:
        queue.append((float(stamp_s), item))
        while len(queue) > self._max:
            queue.popleft()
            self.dropped += 1
