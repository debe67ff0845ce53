"""The Python client's local evaluator against a dict lookup in the same
process and run (issue 15: at most 2 x). Run by `npm run bench:local`
(load/local-evaluation.ts), which passes the client on PYTHONPATH and reads
the JSON this prints.

CUSTOMERS customers with five features each are held, filled through a
stand-in of the entitlements stub (the lookup is measured, not the fill).
Each round times LOOKUPS lookups of customers in a fixed random order: the
reference `d.get(customer)`, the evaluator's mapping of one feature
(`evaluator.allowed_for("reports").get(customer)`, a read-only view of a
dict the evaluator keeps current) and the method `is_allowed(customer,
"reports")`. The median of ROUNDS interleaved rounds is reported.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from billing.v1 import entitlements_pb2
from billing_client.local_evaluator import LocalEvaluator

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "10000"))
LOOKUPS = int(os.environ.get("BENCH_PY_LOOKUPS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
FEATURES = ["reports", "seats", "api", "export", "sso"]


class _Answered:
    def result(self, timeout: float | None = None) -> Any:
        return entitlements_pb2.ListEntitlementsResponse(
            version=1,
            entitlements=[entitlements_pb2.Entitlement(feature=f, allowed=True) for f in FEATURES],
        )


class _ListEntitlements:
    def future(self, request: Any, timeout: float = 0) -> _Answered:
        return _Answered()


class _StandInStub:
    def __init__(self) -> None:
        self.closed = threading.Event()
        self.ListEntitlements = _ListEntitlements()  # noqa: N815

    def WatchProjectChanges(self, request: Any) -> _QuietFeed:  # noqa: N802
        return _QuietFeed(self.closed)


class _QuietFeed:
    """READY, then nothing until cancelled (as a grpc stream call is)."""

    def __init__(self, closed: threading.Event) -> None:
        self.closed = closed

    def __iter__(self) -> Iterator[Any]:
        yield entitlements_pb2.WatchProjectChangesResponse(
            kind=entitlements_pb2.PROJECT_CHANGE_KIND_READY, position="1-0"
        )
        self.closed.wait()

    def cancel(self) -> None:
        self.closed.set()


class _StandInClient:
    def __init__(self) -> None:
        self.entitlements = _StandInStub()


def _time(loop: Callable[[], int]) -> float:
    started = time.perf_counter_ns()
    if loop() != LOOKUPS:
        raise RuntimeError("a lookup missed")
    return (time.perf_counter_ns() - started) / LOOKUPS


def main() -> None:
    client = _StandInClient()
    evaluator = LocalEvaluator(client, max_customers=CUSTOMERS)  # type: ignore[arg-type]
    evaluator.wait_ready(10)
    ids = [f"customer-{n}" for n in range(CUSTOMERS)]
    for customer in ids:
        evaluator.check(customer, "reports")
    reference = {customer: True for customer in ids}
    order = [random.choice(ids) for _ in range(LOOKUPS)]

    def dict_loop() -> int:
        get = reference.get
        return sum(1 for c in order if get(c) is True)

    def mapping_loop() -> int:
        get = evaluator.allowed_for("reports").get
        return sum(1 for c in order if get(c) is True)

    def method_loop() -> int:
        is_allowed = evaluator.is_allowed
        return sum(1 for c in order if is_allowed(c, "reports"))

    loops = {"dict": dict_loop, "allowed_for": mapping_loop, "is_allowed": method_loop}
    for loop in loops.values():
        _time(loop)  # warm-up
    ns: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(ROUNDS):
        for name, loop in loops.items():
            ns[name].append(_time(loop))
    evaluator.close()
    ratios = {
        name: [v / d for v, d in zip(values, ns["dict"], strict=True)]
        for name, values in ns.items()
        if name != "dict"
    }
    print(
        json.dumps(
            {
                "customers": CUSTOMERS,
                "lookups": LOOKUPS,
                "rounds": ROUNDS,
                "ns": {name: round(statistics.median(v), 2) for name, v in ns.items()},
                "ratio": {name: round(statistics.median(v), 2) for name, v in ratios.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
