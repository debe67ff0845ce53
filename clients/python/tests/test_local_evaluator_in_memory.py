"""The local evaluator against a stand-in of the entitlements stub, in
memory: what a live server cannot show on demand (a feed change at a chosen
moment, checks that miss together, a refusal) and the ``allowed_for``
mappings following every way a held set changes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from billing.v1 import entitlements_pb2
from billing_client.local_evaluator import LocalEvaluator

KINDS = entitlements_pb2
TIMEOUT_S = 10.0


class _Refused(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.PERMISSION_DENIED


class _Feed:
    """READY, then what the test pushes, until cancelled (as a grpc stream call is)."""

    def __init__(self, messages: queue.Queue[Any]) -> None:
        self.messages = messages

    def __iter__(self) -> Iterator[Any]:
        yield entitlements_pb2.WatchProjectChangesResponse(
            kind=KINDS.PROJECT_CHANGE_KIND_READY, position="1-0"
        )
        while (message := self.messages.get()) is not None:
            yield message

    def cancel(self) -> None:
        self.messages.put(None)


class _Fetch:
    """A ListEntitlements call in flight; ``result`` waits for the stand-in's gate."""

    def __init__(self, stand_in: StandIn, customer_id: str) -> None:
        self.stand_in = stand_in
        self.customer_id = customer_id

    def result(self, timeout: float | None = None) -> Any:
        self.stand_in.waiting.release()
        self.stand_in.gate.wait()
        if self.stand_in.refuse:
            raise _Refused()
        version, features = self.stand_in.sets.get(self.customer_id, (1, []))
        return entitlements_pb2.ListEntitlementsResponse(
            version=version, entitlements=_entitlements(features)
        )


class _ListEntitlements:
    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in

    def future(self, request: Any, timeout: float = 0) -> _Fetch:
        self.stand_in.fills += 1
        return _Fetch(self.stand_in, request.customer_id)


class StandIn:
    """Fills answered from ``sets``; while ``gate`` is cleared every fill waits,
    and ``waiting`` counts the checks waiting for one."""

    def __init__(self) -> None:
        self.sets: dict[str, tuple[int, list[str]]] = {}
        self.fills = 0
        self.refuse = False
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Semaphore(0)
        self.messages: queue.Queue[Any] = queue.Queue()
        self.entitlements = self
        self.ListEntitlements = _ListEntitlements(self)  # noqa: N815
        self._position = 1

    def WatchProjectChanges(self, request: Any) -> _Feed:  # noqa: N802
        return _Feed(self.messages)

    def push(
        self, kind: int, customer_id: str = "", version: int = 0, features: list[str] | None = None
    ) -> None:
        self._position += 1
        self.messages.put(
            entitlements_pb2.WatchProjectChangesResponse(
                kind=kind,  # type: ignore[arg-type]
                position=f"{self._position}-0",
                customer_id=customer_id,
                version=version,
                entitlements=_entitlements(features or []),
            )
        )


def _entitlements(features: list[str]) -> list[entitlements_pb2.Entitlement]:
    return [entitlements_pb2.Entitlement(feature=f, allowed=True) for f in features]


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


@pytest.fixture
def evaluator(stand_in: StandIn) -> Iterator[LocalEvaluator]:
    local = LocalEvaluator(stand_in, max_customers=2)  # type: ignore[arg-type]
    assert local.wait_ready(TIMEOUT_S)
    yield local
    local.close()


def changed(evaluator: LocalEvaluator, customer: str) -> threading.Event:
    seen = threading.Event()
    evaluator.on_change(lambda changed_id: seen.set() if changed_id in (customer, "") else None)
    return seen


def test_allowed_for_follows_fills_feed_changes_evictions_and_resyncs(
    stand_in: StandIn, evaluator: LocalEvaluator
) -> None:
    reports = evaluator.allowed_for("reports")
    stand_in.sets["a"] = (5, ["reports"])
    assert reports.get("a") is None, "not held yet"
    assert evaluator.check("a", "reports").allowed
    assert reports.get("a") is True
    assert evaluator.check("b", "reports").allowed is False
    assert reports.get("b") is False

    older = changed(evaluator, "a")
    stand_in.push(KINDS.PROJECT_CHANGE_KIND_CUSTOMER, "a", 4, [])
    stand_in.push(KINDS.PROJECT_CHANGE_KIND_CUSTOMER, "a", 6, [])
    assert older.wait(TIMEOUT_S)
    assert reports.get("a") is False, "version 6 replaced 5; 4 never did"

    evaluator.check("c", "reports")  # max_customers=2: the one not used since goes
    assert len([c for c in ("a", "b", "c") if reports.get(c) is not None]) == 2
    dropped = changed(evaluator, "")
    stand_in.push(KINDS.PROJECT_CHANGE_KIND_RESYNC)
    assert dropped.wait(TIMEOUT_S)
    assert dict(reports) == {}


def test_allowed_for_cannot_be_written(evaluator: LocalEvaluator) -> None:
    reports = evaluator.allowed_for("reports")
    with pytest.raises(TypeError):
        reports["a"] = True  # type: ignore[index]


def checks_that_miss_together(stand_in: StandIn, check: Callable[[], None], count: int) -> None:
    """Runs ``check`` on ``count`` threads, all of them waiting for a fetch
    before the stand-in answers any."""
    stand_in.gate.clear()
    threads = [threading.Thread(target=check) for _ in range(count)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert stand_in.waiting.acquire(timeout=TIMEOUT_S), "every check missed and waits"
    stand_in.gate.set()
    for thread in threads:
        thread.join(TIMEOUT_S)


def test_checks_of_one_customer_that_miss_together_share_one_fetch(
    stand_in: StandIn, evaluator: LocalEvaluator
) -> None:
    stand_in.sets["a"] = (1, ["reports"])
    answers: list[bool] = []
    checks_that_miss_together(
        stand_in, lambda: answers.append(evaluator.check("a", "reports").allowed), 4
    )
    assert answers == [True] * 4
    assert stand_in.fills == 1


def test_a_refused_fetch_is_refused_to_every_check_that_waited_for_it(
    stand_in: StandIn, evaluator: LocalEvaluator
) -> None:
    stand_in.refuse = True
    outcomes: list[str] = []

    def check() -> None:
        try:
            evaluator.check("a", "reports")
            outcomes.append("answered")
        except grpc.RpcError as error:
            outcomes.append(error.code().name)

    checks_that_miss_together(stand_in, check, 3)
    assert outcomes == ["PERMISSION_DENIED"] * 3
    assert stand_in.fills == 1
