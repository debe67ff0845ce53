"""The local evaluator against a live service: a customer is fetched on its
first check, then answered from memory; a grant and a Stripe webhook on the
server reach it through the change feed; a grant's expiry turns it off with
no event; it answers through a restart of the service and follows changes
again after it. Run like test_smoke.py, with the same environment; skipped
without it. The webhook and the restart are made through
BILLING_CONTROL_URL, the test run's control endpoint
(test/helpers/client-control.ts in the service repository).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Literal

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from billing.v1 import admin_pb2
from billing_client import BillingClient, create_billing_client
from billing_client.local_evaluator import LocalEvaluator

URL = os.environ.get("BILLING_URL", "")
ADMIN_KEY = os.environ.get("BILLING_API_KEY", "")
CONTROL_URL = os.environ.get("BILLING_CONTROL_URL", "")
TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(
    not (URL and ADMIN_KEY), reason="BILLING_URL and BILLING_API_KEY are not both set"
)


@pytest.fixture
def client() -> Iterator[BillingClient]:
    with create_billing_client(URL, ADMIN_KEY) as opened:
        yield opened


def open_evaluator(
    client: BillingClient, unreachable: Literal["open", "closed"] = "closed"
) -> LocalEvaluator:
    local = LocalEvaluator(client, unreachable=unreachable, reconnect_seconds=(0.05, 0.5))
    assert local.wait_ready(TIMEOUT_S)
    return local


@pytest.fixture
def evaluator(client: BillingClient) -> Iterator[LocalEvaluator]:
    local = open_evaluator(client)
    yield local
    local.close()


def control(path: str, body: dict[str, str] | None = None) -> dict[str, str]:
    """Asks the test run's control endpoint for what only the service's side can do."""
    if not CONTROL_URL:
        pytest.skip("BILLING_CONTROL_URL is not set: no control endpoint for webhooks and restarts")
    request = urllib.request.Request(
        CONTROL_URL + path,
        data=json.dumps(body or {}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, str] = json.load(response)
        return answer


def grant(client: BillingClient, customer: str, feature: str, expires: float | None = None) -> None:
    # wait_for_ready: after a restart the channel may still be reconnecting.
    request = admin_pb2.GrantEntitlementRequest(
        customer_id=customer, feature=feature, reason="local evaluator test"
    )
    if expires is not None:
        at = Timestamp()
        at.FromNanoseconds(int(expires * 1e9))
        request.expires_at.CopyFrom(at)
    client.admin.GrantEntitlement(request, timeout=TIMEOUT_S, wait_for_ready=True)


def until(evaluator: LocalEvaluator, customer: str, condition: Callable[[], bool]) -> threading.Event:
    """Set once a change of ``customer`` makes ``condition`` true."""
    reached = threading.Event()

    def listener(changed: str) -> None:
        if changed in (customer, "") and condition():
            reached.set()

    evaluator.on_change(listener)
    return reached


def test_a_grant_on_the_server_reaches_the_local_answer(
    client: BillingClient, evaluator: LocalEvaluator
) -> None:
    customer = f"py-local-{time.time_ns()}"
    first = evaluator.check(customer, "reports")
    assert (first.allowed, first.source, first.stale_seconds) == (False, "server", 0.0)
    assert evaluator.is_allowed(customer, "reports") is False

    reached = until(evaluator, customer, lambda: evaluator.is_allowed(customer, "reports") is True)
    grant(client, customer, "reports")
    assert reached.wait(TIMEOUT_S)
    after = evaluator.check(customer, "reports")
    assert (after.allowed, after.source) == (True, "memory")
    assert after.version > first.version


def test_a_grant_expiry_turns_the_feature_off_with_no_event(
    client: BillingClient, evaluator: LocalEvaluator
) -> None:
    customer = f"py-expiry-{time.time_ns()}"
    # Far enough ahead for the grant and the first check to come first on a
    # loaded machine; whole milliseconds, as the service stores times.
    expires = math.floor((time.time() + 3.0) * 1000) / 1000
    grant(client, customer, "trial", expires)
    assert evaluator.check(customer, "trial").allowed
    ended = until(evaluator, customer, lambda: evaluator.is_allowed(customer, "trial") is False)
    assert ended.wait(TIMEOUT_S)
    assert time.time() >= expires


def test_a_webhook_on_the_server_reaches_the_local_answer(evaluator: LocalEvaluator) -> None:
    customer = f"py-webhook-{time.time_ns()}"
    reports = evaluator.allowed_for("reports")
    first = evaluator.check(customer, "reports")
    assert (first.allowed, first.source) == (False, "server")
    assert reports.get(customer) is False
    reached = until(evaluator, customer, lambda: evaluator.is_allowed(customer, "reports") is True)
    control("/webhooks/subscription", {"customer_id": customer})
    assert reached.wait(TIMEOUT_S)
    after = evaluator.check(customer, "reports")
    assert (after.allowed, after.source) == (True, "memory")
    assert after.version > first.version
    assert reports.get(customer) is True


def test_answers_through_a_restart_of_the_service_then_follows_changes_again() -> None:
    service = control("/restartable/start")
    try:
        with create_billing_client(service["url"], service["api_key"]) as client:
            local = open_evaluator(client, unreachable="open")
            try:
                restarted(client, local)
            finally:
                local.close()
    finally:
        control("/restartable/stop")


def restarted(client: BillingClient, local: LocalEvaluator) -> None:
    customer = "py-restart"
    grant(client, customer, "a")
    first = local.check(customer, "a")
    assert (first.allowed, first.source) == (True, "server")

    control("/restartable/stop")
    held = local.check(customer, "a")
    assert (held.allowed, held.source) == (True, "memory")
    unknown = local.check("py-never-seen", "a")
    assert (unknown.allowed, unknown.source) == (True, "policy")

    control("/restartable/start")
    reached = until(local, customer, lambda: local.is_allowed(customer, "b") is True)
    grant(client, customer, "b")
    assert reached.wait(TIMEOUT_S)
    assert local.stale_seconds == 0.0
