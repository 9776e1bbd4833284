"""A bounded, thread-safe LRU of loaded models and their fitted explainers, keyed by model version id.

Versions are immutable, so an entry never goes stale; it only ages out. Concurrent first requests for one key
load it once: the others wait on that key's lock, while requests for other keys go on.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from genome.errors import InvalidSetting

__all__ = ["LoadedCache"]

T = TypeVar("T")


class LoadedCache(Generic[T]):
    """``get(key, load)`` returns the cached value, or calls ``load()`` once and keeps its result.

    Example:
        >>> cache = LoadedCache[int](max_entries=2)
        >>> cache.get("a", lambda: 1), cache.get("a", lambda: 2)
        (1, 1)
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise InvalidSetting(f"the cache needs room for at least one entry; got {max_entries}")
        self.max_entries = max_entries
        self.loads = 0
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def _cached(self, key: str) -> tuple[bool, T | None]:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True, self._entries[key]
            return False, None

    def get(self, key: str, load: Callable[[], T]) -> T:
        found, value = self._cached(key)
        if found:
            return value  # type: ignore[return-value]
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            found, value = self._cached(key)  # loaded by whoever held the key's lock before us
            if found:
                return value  # type: ignore[return-value]
            try:
                loaded = load()
            except BaseException:
                with self._lock:  # a failure is not cached: the next request tries again
                    self._loading.pop(key, None)
                raise
            with self._lock:
                self._loading.pop(key, None)
                self.loads += 1
                self._entries[key] = loaded
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return loaded
