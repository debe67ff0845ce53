"""The local evaluator against a live service: a customer is fetched on its
first check, then answered from memory; a grant made on the server reaches
it through the change feed; a grant's expiry turns it off with no event.
Run like test_smoke.py, with the same environment; skipped without it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from billing.v1 import admin_pb2
from billing_client import BillingClient, create_billing_client
from billing_client.local_evaluator import LocalEvaluator

URL = os.environ.get("BILLING_URL", "")
ADMIN_KEY = os.environ.get("BILLING_API_KEY", "")
TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(
    not (URL and ADMIN_KEY), reason="BILLING_URL and BILLING_API_KEY are not both set"
)


@pytest.fixture
def client() -> Iterator[BillingClient]:
    with create_billing_client(URL, ADMIN_KEY) as opened:
        yield opened


@pytest.fixture
def evaluator(client: BillingClient) -> Iterator[LocalEvaluator]:
    local = LocalEvaluator(client, reconnect_seconds=(0.05, 0.5))
    assert local.wait_ready(TIMEOUT_S)
    yield local
    local.close()


def grant(client: BillingClient, customer: str, feature: str, expires: float | None = None) -> None:
    request = admin_pb2.GrantEntitlementRequest(
        customer_id=customer, feature=feature, reason="local evaluator test"
    )
    if expires is not None:
        at = Timestamp()
        at.FromNanoseconds(int(expires * 1e9))
        request.expires_at.CopyFrom(at)
    client.admin.GrantEntitlement(request, timeout=TIMEOUT_S)


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
