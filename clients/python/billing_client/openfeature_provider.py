"""An OpenFeature provider (PyPI ``openfeature-sdk``, the ``openfeature``
extra) over the LocalEvaluator: features are flags, answered in your
process.

- boolean: allowed;
- integer and float: the balance of a metered feature, else the limit (0
  when not allowed; unlimited: your default, with ``unlimited`` in the flag
  metadata);
- object: the whole entitlement, as ListEntitlements answers it in JSON;
- string: TYPE_MISMATCH.

The targeting key is the customer id. Flag metadata carries ``allowed``,
``limit``, ``balance``, ``usage``, ``sources``, the set's ``version`` and
``stale_seconds``. The reason is CACHED from memory, TARGETING_MATCH when
just fetched, STALE for the unreachable policy's answer. A change of a held
customer emits PROVIDER_CONFIGURATION_CHANGED with the customer id in the
event's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import TargetingKeyMissingError, TypeMismatchError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from .local_evaluator import LocalAnswer, LocalEvaluator

__all__ = ["BillingFeatureProvider"]

_REASONS = {"memory": Reason.CACHED, "server": Reason.TARGETING_MATCH, "policy": Reason.STALE}


class BillingFeatureProvider(AbstractProvider):
    def __init__(self, evaluator: LocalEvaluator, ready_timeout: float = 10.0) -> None:
        super().__init__()
        self._evaluator = evaluator
        self._ready_timeout = ready_timeout
        evaluator.on_change(self._changed)

    def get_metadata(self) -> Metadata:
        return Metadata(name="billing-entitlements")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._evaluator.wait_ready(self._ready_timeout)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        answer = self._answer(flag_key, evaluation_context)
        return self._details(answer.allowed, answer)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        raise TypeMismatchError("entitlements are booleans, numbers or objects, never strings")

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        answer = self._answer(flag_key, evaluation_context)
        figure = _figure(answer)
        return self._details(default_value if figure is None else figure, answer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        answer = self._answer(flag_key, evaluation_context)
        figure = _figure(answer)
        return self._details(default_value if figure is None else float(figure), answer)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        answer = self._answer(flag_key, evaluation_context)
        whole: Mapping[str, FlagValueType] | None = (
            MessageToDict(answer.entitlement) if answer.entitlement is not None else None
        )
        value = default_value if whole is None else whole
        return self._details(value, answer)

    def _answer(self, feature: str, context: EvaluationContext | None) -> LocalAnswer:
        customer_id = context.targeting_key if context else None
        if not customer_id:
            raise TargetingKeyMissingError("the targeting key is the customer id")
        return self._evaluator.check(customer_id, feature)

    def _details(self, value: Any, answer: LocalAnswer) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(
            value=value,
            reason=_REASONS[answer.source],
            variant="allowed" if answer.allowed else "denied",
            flag_metadata=_metadata(answer),
        )

    def _changed(self, customer_id: str) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(metadata={"customer_id": customer_id})
        )


def _figure(answer: LocalAnswer) -> int | None:
    """The balance of a metered feature, else the limit; None: unlimited."""
    if not answer.allowed:
        return 0
    entitlement = answer.entitlement
    if entitlement is None:
        return None
    if entitlement.HasField("usage"):
        return entitlement.balance if entitlement.HasField("balance") else None
    return entitlement.limit if entitlement.HasField("limit") else None


def _metadata(answer: LocalAnswer) -> dict[str, bool | str | int | float]:
    metadata: dict[str, bool | str | int | float] = {
        "allowed": answer.allowed,
        "version": answer.version,
        "stale_seconds": answer.stale_seconds,
    }
    if answer.source == "policy":
        metadata["unreachable"] = True
    entitlement = answer.entitlement
    if entitlement is None:
        return metadata
    for name in ("limit", "balance", "usage"):
        if entitlement.HasField(name):
            metadata[name] = getattr(entitlement, name)
    if entitlement.allowed and _figure(answer) is None:
        metadata["unlimited"] = True
    if entitlement.sources:
        metadata["sources"] = ",".join(source.id for source in entitlement.sources)
    return metadata
