"""A typed gRPC client for the Billing & Entitlements service.

The messages and stubs are generated into the ``billing.v1`` package (by
grpcio-tools and mypy-protobuf; never edit them). This module is the only
hand-written part: it opens a channel from a URL and sends the API key with
every call.

    from billing.v1 import entitlements_pb2
    from billing_client import create_billing_client

    with create_billing_client("http://localhost:8080", api_key) as client:
        response = client.entitlements.CheckEntitlement(
            entitlements_pb2.CheckEntitlementRequest(customer_id="user-1", feature="pro")
        )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import grpc

from billing.v1 import (
    admin_pb2_grpc,
    checkout_pb2_grpc,
    entitlements_pb2_grpc,
    metrics_pb2_grpc,
)

if TYPE_CHECKING:
    from grpc import _CallFuture, _CallIterator

__all__ = ["BillingClient", "__version__", "create_billing_client"]

# The version of the billing.v1 contract this package was generated from
# (proto/VERSION in the service repository); the Go and TypeScript clients
# carry the same number.
__version__ = "1.3.0"

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <key>`` to every unary and server-streaming call."""

    def __init__(self, api_key: str) -> None:
        self._header = ("authorization", f"Bearer {api_key}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        with_key = _CallDetails(
            method=details.method,
            timeout=details.timeout,
            metadata=[*(details.metadata or ()), self._header],
            credentials=details.credentials,
            wait_for_ready=getattr(details, "wait_for_ready", None),
            compression=getattr(details, "compression", None),
        )
        return with_key  # type: ignore[return-value]  # duck-typed, as grpc's own examples do

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], _CallFuture[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> _CallFuture[_Response]:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], _CallIterator[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> _CallIterator[_Response]:
        return continuation(self._details(client_call_details), request)


class BillingClient:
    """One stub per billing.v1 service, sharing one channel. Close it when done
    (or use it as a context manager)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.entitlements = entitlements_pb2_grpc.EntitlementsServiceStub(channel)
        self.checkout = checkout_pb2_grpc.CheckoutServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.metrics = metrics_pb2_grpc.MetricsServiceStub(channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> BillingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def create_billing_client(
    base_url: str,
    api_key: str,
    *,
    root_certificates: bytes | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> BillingClient:
    """A client for the service at ``base_url``: ``http://host:port`` is
    plaintext HTTP/2, ``https://host:port`` is TLS (with the system's roots
    unless ``root_certificates`` are given). ``options`` are gRPC channel
    arguments."""
    url = urlsplit(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"base_url must be http://host:port or https://host:port, not {base_url!r}")
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    target = f"{host}:{port}"
    if url.scheme == "https":
        channel = grpc.secure_channel(
            target, grpc.ssl_channel_credentials(root_certificates), options=options
        )
    else:
        channel = grpc.insecure_channel(target, options=options)
    return BillingClient(grpc.intercept_channel(channel, _BearerToken(api_key)))
