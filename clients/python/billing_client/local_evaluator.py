"""Checks answered inside your process: a bounded cache of customers, each
fetched on first use (ListEntitlements) and kept current by the project's
change feed (WatchProjectChanges, followed on a background thread).

- A change on the server reaches the cache through the feed; versions
  decide, so an older answer never replaces a newer one.
- A feature's ``valid_until`` passing turns it off here with no event (a
  timer thread), and the customer is fetched again.
- The feed reconnects by itself with backoff and resumes where it left off;
  on RESYNC or a catalog change every customer is dropped and fetched again
  on use.
- While the server is unreachable, cached customers keep answering, with
  ``stale_seconds`` saying for how long the feed has been down; a customer
  not in the cache gets the ``unreachable`` policy ("closed": not allowed,
  the default; "open": allowed).

The hot paths, from memory and with no call to the server:
``allowed_for(feature)`` is a read-only mapping of the held customers to
"allowed", kept current like the rest, so a check is its ``get``, a dict
lookup; ``is_allowed`` is two dict lookups on shared small ints (about 2.8 x
a dict lookup, most of it the method call; ``npm run bench:local`` in the
service repository).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import grpc

from billing.v1 import entitlements_pb2

from . import BillingClient

__all__ = ["LocalAnswer", "LocalEvaluator"]


@dataclass(frozen=True)
class LocalAnswer:
    allowed: bool
    #: The customer's entitlement of the feature; None when it has none.
    entitlement: entitlements_pb2.Entitlement | None
    #: The version of the set answered from (0: none).
    version: int
    #: "memory": answered in process; "server": just fetched; "policy": unreachable, not cached.
    source: Literal["memory", "server", "policy"]
    #: How long the change feed has been down (0 while it is up).
    stale_seconds: float


@dataclass(frozen=True)
class _Held:
    version: int
    features: Mapping[str, entitlements_pb2.Entitlement]


def _covers(entitlement: entitlements_pb2.Entitlement, requested: int) -> bool:
    if not entitlement.allowed:
        return False
    return not entitlement.HasField("balance") or entitlement.balance >= requested


def _valid_until(entitlement: entitlements_pb2.Entitlement) -> float | None:
    if not entitlement.HasField("valid_until"):
        return None
    return entitlement.valid_until.seconds + entitlement.valid_until.nanos / 1e9


class LocalEvaluator:
    """Start it with a client whose key has entitlements:read; ``close()`` when done."""

    def __init__(
        self,
        client: BillingClient,
        *,
        max_customers: int = 10_000,
        unreachable: Literal["open", "closed"] = "closed",
        reconnect_seconds: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self._client = client
        self._max = max_customers
        self._unreachable = unreachable
        self._reconnect = reconnect_seconds
        self._lock = threading.Lock()
        self._held: OrderedDict[str, _Held] = OrderedDict()
        #: Bit n: the feature numbered n is allowed for 1. Small ints are shared
        #: objects in CPython, so the hot path dereferences nothing per customer.
        self._bits: dict[str, int] = {}
        self._feature_bits: dict[str, int] = {}
        #: allowed_for's mappings, by feature: customer -> allowed for 1.
        self._views: dict[str, dict[str, bool]] = {}
        #: Customers used since the eviction sweep last passed them (a second chance).
        self._used: dict[str, bool] = {}
        #: Customers being fetched: the newest feed change that came meanwhile.
        self._filling: dict[str, _Held | None] = {}
        #: The fetch of a customer in flight, which other checks of it wait for.
        self._fetches: dict[str, grpc.Future[entitlements_pb2.ListEntitlementsResponse]] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._position = ""
        self._down_since: float | None = time.monotonic()
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._stream: grpc.Call | None = None
        self._expiries: list[tuple[float, str, int]] = []
        self._expiry_wake = threading.Condition(self._lock)
        threading.Thread(target=self._follow_feed, name="billing-feed", daemon=True).start()
        threading.Thread(target=self._expire_loop, name="billing-expiry", daemon=True).start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the change feed is open (False if ``timeout`` passed first)."""
        return self._ready.wait(timeout)

    @property
    def stale_seconds(self) -> float:
        down = self._down_since
        return 0.0 if down is None else time.monotonic() - down

    def __len__(self) -> int:
        return len(self._held)

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Called (on a background thread) with a held customer's id when its
        set changes here, or with "" when every customer was dropped."""
        self._listeners.append(listener)

    def is_allowed(self, customer_id: str, feature: str, requested: int = 1) -> bool | None:
        """From memory only: None when the customer is not held (ask ``check``)."""
        if requested == 1:
            bits = self._bits.get(customer_id)
            if bits is None:
                return None
            self._used[customer_id] = True
            return bits & self._feature_bits.get(feature, 0) != 0
        held = self._held.get(customer_id)
        if held is None:
            return None
        self._used[customer_id] = True
        entitlement = held.features.get(feature)
        return entitlement is not None and _covers(entitlement, requested)

    def allowed_for(self, feature: str) -> Mapping[str, bool]:
        """A read-only mapping of every held customer's id to whether it may use
        ``feature`` (for an amount of 1), kept current as the evaluator is: its
        ``get`` is the fastest check, a dict lookup, with None for a customer
        not held yet (ask ``check``, which fetches it). A lookup through it does
        not count as a use for eviction."""
        with self._lock:
            view = self._views.get(feature)
            if view is None:
                bit = self._bits_of([feature])
                view = self._views[feature] = {c: b & bit != 0 for c, b in self._bits.items()}
            return MappingProxyType(view)

    def check(self, customer_id: str, feature: str, requested: int = 1) -> LocalAnswer:
        held = self._held.get(customer_id)
        source: Literal["memory", "server"] = "memory"
        if held is None:
            held, source = self._fill(customer_id), "server"
        if held is None:
            allowed = self._unreachable == "open"
            return LocalAnswer(allowed, None, 0, "policy", self.stale_seconds)
        self._used[customer_id] = True
        entitlement = held.features.get(feature)
        allowed = entitlement is not None and _covers(entitlement, requested)
        return LocalAnswer(allowed, entitlement, held.version, source, self.stale_seconds)

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()
        with self._lock:
            self._expiry_wake.notify_all()

    # Filling and holding.

    def _fill(self, customer_id: str) -> _Held | None:
        """Fetches the customer; a check that misses while a fetch of it is in
        flight waits for that fetch (a refusal included) instead of its own."""
        with self._lock:
            fetch = self._fetches.get(customer_id)
            if fetch is None:
                fetch = self._fetches[customer_id] = self._client.entitlements.ListEntitlements.future(
                    entitlements_pb2.ListEntitlementsRequest(customer_id=customer_id), timeout=10.0
                )
                self._filling[customer_id] = None
        try:
            answer = fetch.result()
        except grpc.RpcError as error:
            with self._lock:
                self._fetch_ended(customer_id, fetch)
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return None
            raise
        fetched = _Held(answer.version, {e.feature: e for e in answer.entitlements})
        with self._lock:
            first, latest = self._fetch_ended(customer_id, fetch)
            if first:
                # Hold the newer of the fetched set and a feed change that came meanwhile.
                newest = latest if latest is not None and latest.version > fetched.version else fetched
                self._hold(customer_id, newest)
            return self._held.get(customer_id, fetched)

    def _fetch_ended(
        self, customer_id: str, fetch: grpc.Future[entitlements_pb2.ListEntitlementsResponse]
    ) -> tuple[bool, _Held | None]:
        """With the lock held: whether this is the first of the checks that
        waited for ``fetch`` to end (which forgets it), and the feed's newest
        change of the customer that came meanwhile."""
        if self._fetches.get(customer_id) is not fetch:
            return False, None
        del self._fetches[customer_id]
        return True, self._filling.pop(customer_id, None)

    def _hold(self, customer_id: str, held: _Held) -> None:
        """With the lock held."""
        self._held[customer_id] = held
        self._held.move_to_end(customer_id)
        bits = self._bits[customer_id] = self._bits_of(
            f for f, e in held.features.items() if _covers(e, 1)
        )
        for feature, view in self._views.items():
            view[customer_id] = bits & self._feature_bits[feature] != 0
        ends = [t for e in held.features.values() if (t := _valid_until(e)) is not None]
        if ends:
            heapq.heappush(self._expiries, (min(ends), customer_id, held.version))
            self._expiry_wake.notify()
        while len(self._held) > self._max:
            self._evict_one()

    def _bits_of(self, features: Iterable[str]) -> int:
        bits = 0
        for feature in features:
            bit = self._feature_bits.get(feature)
            if bit is None:
                bit = self._feature_bits[feature] = 1 << len(self._feature_bits)
            bits |= bit
        return bits

    def _evict_one(self) -> None:
        """With the lock held: the oldest customer not used since the sweep last passed it."""
        for _ in range(len(self._held)):
            oldest = next(iter(self._held))
            if not self._used.pop(oldest, False):
                break
            self._held.move_to_end(oldest)
        evicted, _ = self._held.popitem(last=False)
        self._bits.pop(evicted, None)
        self._used.pop(evicted, None)
        for view in self._views.values():
            view.pop(evicted, None)

    def _drop_all(self) -> None:
        with self._lock:
            self._held.clear()
            self._bits.clear()
            self._used.clear()
            for view in self._views.values():
                view.clear()
            for customer_id in self._filling:
                self._filling[customer_id] = None
        self._tell("")

    def _tell(self, customer_id: str) -> None:
        for listener in list(self._listeners):
            listener(customer_id)

    # valid_until.

    def _expire_loop(self) -> None:
        with self._lock:
            while not self._closed.is_set():
                now = time.time()
                if self._expiries and self._expiries[0][0] <= now:
                    _, customer_id, version = heapq.heappop(self._expiries)
                    held = self._held.get(customer_id)
                    if held is not None and held.version == version:
                        left = {
                            f: e
                            for f, e in held.features.items()
                            if (t := _valid_until(e)) is None or t > now
                        }
                        self._hold(customer_id, _Held(held.version, left))
                        threading.Thread(target=self._refetch, args=(customer_id,), daemon=True).start()
                    continue
                wait = self._expiries[0][0] - now if self._expiries else None
                self._expiry_wake.wait(wait)

    def _refetch(self, customer_id: str) -> None:
        self._tell(customer_id)
        try:
            fetched = self._fill(customer_id)
        except grpc.RpcError:
            return  # closed, or refused: the expired features are off already
        if fetched is not None:
            self._tell(customer_id)

    # The change feed.

    def _follow_feed(self) -> None:
        first, longest = self._reconnect
        wait = first
        while not self._closed.is_set():
            try:
                stream = self._client.entitlements.WatchProjectChanges(
                    entitlements_pb2.WatchProjectChangesRequest(resume_after=self._position)
                )
                self._stream = stream
                for message in stream:
                    self._apply(message)
                    wait = first
            except grpc.RpcError:
                pass  # reconnect below, resuming from the last position
            if self._closed.is_set():
                return
            if self._down_since is None:
                self._down_since = time.monotonic()
            self._closed.wait(wait)
            wait = min(longest, wait * 2)

    def _apply(self, message: entitlements_pb2.WatchProjectChangesResponse) -> None:
        kinds = entitlements_pb2
        if message.kind == kinds.PROJECT_CHANGE_KIND_READY:
            if self._position == "":
                self._drop_all()  # opened fresh: what is held may predate the feed
            self._opened(message.position)
            return
        if message.kind == kinds.PROJECT_CHANGE_KIND_RESYNC:
            self._drop_all()
            self._opened(message.position)
            return
        if message.kind == kinds.PROJECT_CHANGE_KIND_PROJECT:
            self._drop_all()
        elif message.kind == kinds.PROJECT_CHANGE_KIND_CUSTOMER:
            self._customer_changed(message)
        self._position = message.position

    def _opened(self, position: str) -> None:
        self._position = position
        self._down_since = None
        self._ready.set()

    def _customer_changed(self, message: entitlements_pb2.WatchProjectChangesResponse) -> None:
        change = _Held(message.version, {e.feature: e for e in message.entitlements})
        customer_id = message.customer_id
        with self._lock:
            if customer_id in self._filling:
                latest = self._filling[customer_id]
                if latest is None or latest.version < change.version:
                    self._filling[customer_id] = change
            held = self._held.get(customer_id)
            if held is None or held.version >= change.version:
                return
            self._hold(customer_id, change)
        self._tell(customer_id)

