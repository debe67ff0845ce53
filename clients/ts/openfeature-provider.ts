/**
 * An OpenFeature server provider (`@openfeature/server-sdk`, a peer
 * dependency) over the LocalEvaluator: features are flags, answered in
 * your process.
 *
 * - boolean: allowed;
 * - number: the balance of a metered feature, else the limit (0 when not
 *   allowed; unlimited: your default, with `unlimited: true` in the flag
 *   metadata);
 * - object: the whole entitlement (as ListEntitlements answers it in JSON);
 * - string: TYPE_MISMATCH.
 *
 * The targeting key is the customer id. Flag metadata carries `allowed`,
 * `limit`, `balance`, `usage`, `sources`, the set's `version` and
 * `staleMs`. The reason is CACHED for an answer from memory, TARGETING_MATCH
 * for one fetched just now, STALE for the unreachable policy's. A change of a
 * held customer emits PROVIDER_CONFIGURATION_CHANGED with the customer id
 * in the event's metadata.
 */
import { type JsonValue, toJson } from '@bufbuild/protobuf';
import {
  type EvaluationContext,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  TypeMismatchError,
} from '@openfeature/server-sdk';
import { numberFlagOf } from './flag-values.js';
import { type Entitlement, EntitlementSchema } from './gen/billing/v1/entitlements_pb.js';
import type { LocalAnswer, LocalEvaluator } from './local-evaluator.js';

type FlagMetadata = Record<string, string | number | boolean>;

export class BillingFeatureProvider implements Provider {
  readonly metadata = { name: 'billing-entitlements' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly stopListening: () => void;

  constructor(private readonly evaluator: LocalEvaluator) {
    this.stopListening = evaluator.onChange((customerId) =>
      this.events.emit(ProviderEvents.ConfigurationChanged, { metadata: { customerId } }),
    );
  }

  async initialize(): Promise<void> {
    await this.evaluator.whenReady();
  }

  async onClose(): Promise<void> {
    this.stopListening();
  }

  async resolveBooleanEvaluation(
    flagKey: string,
    _defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    const answer = await this.answer(flagKey, context);
    return { value: answer.allowed, ...this.details(answer) };
  }

  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    const answer = await this.answer(flagKey, context);
    const value = numberFlagOf(answer.allowed, answer.entitlement) ?? defaultValue;
    return { value, ...this.details(answer) };
  }

  async resolveStringEvaluation(): Promise<ResolutionDetails<string>> {
    throw new TypeMismatchError('entitlements are booleans, numbers or objects, never strings');
  }

  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    const answer = await this.answer(flagKey, context);
    const e = answer.entitlement;
    const value = e ? (toJson(EntitlementSchema, e) as T) : defaultValue;
    return { value, ...this.details(answer) };
  }

  private answer(feature: string, context: EvaluationContext): Promise<LocalAnswer> {
    const customerId = context.targetingKey;
    if (!customerId) throw new TargetingKeyMissingError('the targeting key is the customer id');
    return this.evaluator.check(customerId, feature);
  }

  private details(answer: LocalAnswer) {
    const reason =
      answer.from === 'policy'
        ? StandardResolutionReasons.STALE
        : answer.from === 'memory'
          ? StandardResolutionReasons.CACHED
          : StandardResolutionReasons.TARGETING_MATCH;
    return {
      reason,
      variant: answer.allowed ? 'allowed' : 'denied',
      flagMetadata: metadataOf(answer),
    };
  }
}

function metadataOf(answer: LocalAnswer): FlagMetadata {
  const metadata: FlagMetadata = {
    allowed: answer.allowed,
    version: Number(answer.version),
    staleMs: answer.staleMs,
  };
  const e: Entitlement | undefined = answer.entitlement;
  if (answer.from === 'policy') metadata.unreachable = true;
  if (!e) return metadata;
  if (e.allowed && e.limit === undefined && e.balance === undefined) metadata.unlimited = true;
  if (e.limit !== undefined) metadata.limit = Number(e.limit);
  if (e.balance !== undefined) metadata.balance = Number(e.balance);
  if (e.usage !== undefined) metadata.usage = Number(e.usage);
  if (e.sources.length > 0) metadata.sources = e.sources.map((s) => s.id).join(',');
  return metadata;
}
