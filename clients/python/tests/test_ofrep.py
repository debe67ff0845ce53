"""OFREP with OpenFeature's own generic provider (PyPI
``openfeature-provider-ofrep``), unchanged, against a live service: a
feature is a boolean flag, ``feature/limit`` a number, and an unknown flag
answers the caller's default with FLAG_NOT_FOUND (a feature only
grants give is known to the customers that hold one). Run like test_smoke.py,
with the same environment; skipped without it.
"""

from __future__ import annotations

import os
import time

import pytest
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from billing.v1 import admin_pb2
from billing_client import create_billing_client

URL = os.environ.get("BILLING_URL", "")
ADMIN_KEY = os.environ.get("BILLING_API_KEY", "")

pytestmark = pytest.mark.skipif(
    not (URL and ADMIN_KEY), reason="BILLING_URL and BILLING_API_KEY are not both set"
)


def test_generic_ofrep_provider_reads_entitlements_as_flags() -> None:
    customer = f"py-ofrep-{time.time_ns()}"
    with create_billing_client(URL, ADMIN_KEY) as client:
        client.admin.GrantEntitlement(
            admin_pb2.GrantEntitlementRequest(
                customer_id=customer, feature="py-seats", limit=4, reason="OFREP test"
            ),
            timeout=20.0,
        )

    api.set_provider(
        OFREPProvider(URL, headers_factory=lambda: {"Authorization": f"Bearer {ADMIN_KEY}"}),
        domain="ofrep",
    )
    flags = api.get_client(domain="ofrep")
    context = EvaluationContext(targeting_key=customer)

    allowed = flags.get_boolean_details("py-seats", False, context)
    assert allowed.value is True
    assert allowed.flag_metadata["allowed"] is True
    assert str(allowed.flag_metadata["sources"]).startswith("grant:")

    assert flags.get_integer_value("py-seats/limit", -1, context) == 4

    unknown = flags.get_boolean_details("no-such-feature", True, context)
    assert unknown.value is True
    assert unknown.error_code == ErrorCode.FLAG_NOT_FOUND
