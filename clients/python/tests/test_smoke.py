"""Smoke test against a live service: check an entitlement, receive the
change that our own admin grant causes on a WatchEntitlements stream, and get
PERMISSION_DENIED calling an admin RPC with a key that lacks the admin scope.

The service repository's ``npm test`` starts a server and runs this with
(test/clients/python.test.ts):

    BILLING_URL            the service, e.g. http://127.0.0.1:8080
    BILLING_API_KEY        a key with the admin scope
    BILLING_READ_ONLY_KEY  a key with only entitlements:read

Without them the test is skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import grpc
import pytest

from billing.v1 import admin_pb2, entitlements_pb2
from billing_client import create_billing_client

URL = os.environ.get("BILLING_URL", "")
ADMIN_KEY = os.environ.get("BILLING_API_KEY", "")
READ_ONLY_KEY = os.environ.get("BILLING_READ_ONLY_KEY", "")

pytestmark = pytest.mark.skipif(
    not (URL and ADMIN_KEY and READ_ONLY_KEY),
    reason="BILLING_URL, BILLING_API_KEY and BILLING_READ_ONLY_KEY are not all set",
)

TIMEOUT_S = 20.0


def next_non_heartbeat(
    stream: Iterator[entitlements_pb2.WatchEntitlementsResponse],
) -> entitlements_pb2.WatchEntitlementsResponse:
    for message in stream:
        if message.kind != entitlements_pb2.WATCH_EVENT_KIND_HEARTBEAT:
            return message
    raise AssertionError("the stream ended")


def test_check_watch_and_permission_denied() -> None:
    customer = f"py-smoke-{time.time_ns()}"
    with create_billing_client(URL, ADMIN_KEY) as client:
        check = client.entitlements.CheckEntitlement(
            entitlements_pb2.CheckEntitlementRequest(customer_id=customer, feature="smoke"),
            timeout=TIMEOUT_S,
        )
        assert not check.entitlement.allowed

        stream = client.entitlements.WatchEntitlements(
            entitlements_pb2.WatchEntitlementsRequest(customer_id=customer), timeout=TIMEOUT_S
        )
        try:
            first = next_non_heartbeat(stream)
            assert first.kind == entitlements_pb2.WATCH_EVENT_KIND_SNAPSHOT
            assert list(first.entitlements) == []

            client.admin.GrantEntitlement(
                admin_pb2.GrantEntitlementRequest(
                    customer_id=customer, feature="smoke", reason="Python client smoke test"
                ),
                timeout=TIMEOUT_S,
            )
            change = next_non_heartbeat(stream)
            assert change.kind == entitlements_pb2.WATCH_EVENT_KIND_CHANGE
            assert [(e.feature, e.allowed) for e in change.entitlements] == [("smoke", True)]
        finally:
            stream.cancel()

    with create_billing_client(URL, READ_ONLY_KEY) as read_only:
        with pytest.raises(grpc.RpcError) as refused:
            read_only.admin.GrantEntitlement(
                admin_pb2.GrantEntitlementRequest(
                    customer_id=customer, feature="smoke", reason="must be refused"
                ),
                timeout=TIMEOUT_S,
            )
        error = refused.value
        assert isinstance(error, grpc.Call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error.details()
