"""The OpenFeature provider over the local evaluator against a live service
(the same environment as test_smoke.py): booleans, integers and objects,
our flag metadata, and an event when a held customer changes.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode

from billing.v1 import admin_pb2
from billing_client import create_billing_client
from billing_client.local_evaluator import LocalEvaluator
from billing_client.openfeature_provider import BillingFeatureProvider

URL = os.environ.get("BILLING_URL", "")
ADMIN_KEY = os.environ.get("BILLING_API_KEY", "")
TIMEOUT_S = 20.0

pytestmark = pytest.mark.skipif(
    not (URL and ADMIN_KEY), reason="BILLING_URL and BILLING_API_KEY are not both set"
)


def test_flags_from_the_local_evaluator_and_an_event_per_change() -> None:
    customer = f"py-of-{time.time_ns()}"
    with create_billing_client(URL, ADMIN_KEY) as client:
        client.admin.GrantEntitlement(
            admin_pb2.GrantEntitlementRequest(
                customer_id=customer, feature="seats", limit=7, reason="provider test"
            ),
            timeout=TIMEOUT_S,
        )
        local = LocalEvaluator(client)
        try:
            api.set_provider_and_wait(BillingFeatureProvider(local), domain="billing-local")
            flags = api.get_client(domain="billing-local")
            context = EvaluationContext(targeting_key=customer)

            first = flags.get_boolean_details("seats", False, context)
            assert (first.value, first.reason, first.variant) == (True, "TARGETING_MATCH", "allowed")
            assert first.flag_metadata["limit"] == 7
            assert flags.get_boolean_details("seats", False, context).reason == "CACHED"
            assert flags.get_integer_value("seats", -1, context) == 7
            whole = flags.get_object_value("seats", {}, context)
            assert isinstance(whole, dict) and whole["feature"] == "seats"
            assert flags.get_integer_value("reports", -1, context) == 0
            assert flags.get_string_details("seats", "", context).error_code == ErrorCode.TYPE_MISMATCH
            missing = flags.get_boolean_details("seats", True, EvaluationContext())
            assert missing.error_code == ErrorCode.TARGETING_KEY_MISSING

            changed = threading.Event()

            def on_change(details: EventDetails) -> None:
                if details.metadata.get("customer_id") == customer:
                    changed.set()

            flags.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
            client.admin.GrantEntitlement(
                admin_pb2.GrantEntitlementRequest(
                    customer_id=customer, feature="reports", reason="provider test"
                ),
                timeout=TIMEOUT_S,
            )
            assert changed.wait(TIMEOUT_S)
            assert flags.get_boolean_value("reports", False, context) is True
        finally:
            local.close()
