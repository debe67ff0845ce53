/**
 * An OpenFeature web provider (`@openfeature/web-sdk`, a peer dependency)
 * for a browser holding a customer token: it watches the one customer the
 * token is for (WatchEntitlements, resumed from the version it holds after
 * a reconnect) and answers flags synchronously from that set, as the web
 * SDK's static context wants.
 *
 * Pass an entitlements client made with any transport (connect-web's in a
 * browser) that sends the customer token. The targeting key must be the
 * token's customer. Flags map as in the server provider: boolean allowed;
 * number the balance of a metered feature, else the limit (0 when not
 * allowed, the default when unlimited); object the whole entitlement;
 * string TYPE_MISMATCH. Every new set emits PROVIDER_CONFIGURATION_CHANGED.
 */
import { type JsonValue, toJson } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import {
  type EvaluationContext,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
  TargetingKeyMissingError,
  TypeMismatchError,
} from '@openfeature/web-sdk';
import { numberFlagOf } from './flag-values.js';
import {
  type Entitlement,
  EntitlementSchema,
  type EntitlementsService,
  WatchEventKind,
} from './gen/billing/v1/entitlements_pb.js';

export interface BillingWebProviderOptions {
  /** An entitlements client whose transport sends the customer token. */
  readonly entitlements: Client<typeof EntitlementsService>;
  /** Wait before reconnecting a dropped watch (doubled up to 10 s). Default 500 ms. */
  readonly reconnectMs?: number;
}

export class BillingWebProvider implements Provider {
  readonly metadata = { name: 'billing-entitlements-web' } as const;
  readonly runsOn = 'client' as const;
  readonly events = new OpenFeatureEventEmitter();
  private features = new Map<string, Entitlement>();
  private version = 0n;
  private watching: AbortController | undefined;

  constructor(private readonly options: BillingWebProviderOptions) {}

  /** Resolves once the customer's current set is held. */
  async initialize(context?: EvaluationContext): Promise<void> {
    await this.watch(context?.targetingKey);
  }

  async onContextChange(_old: EvaluationContext, next: EvaluationContext): Promise<void> {
    await this.watch(next.targetingKey);
  }

  async onClose(): Promise<void> {
    this.watching?.abort();
  }

  resolveBooleanEvaluation(flagKey: string): ResolutionDetails<boolean> {
    const entitlement = this.features.get(flagKey);
    return { value: entitlement?.allowed === true, ...this.details(entitlement) };
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number): ResolutionDetails<number> {
    const e = this.features.get(flagKey);
    return { value: numberFlagOf(e?.allowed === true, e) ?? defaultValue, ...this.details(e) };
  }

  resolveStringEvaluation(): ResolutionDetails<string> {
    throw new TypeMismatchError('entitlements are booleans, numbers or objects, never strings');
  }

  resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
  ): ResolutionDetails<T> {
    const e = this.features.get(flagKey);
    return { value: e ? (toJson(EntitlementSchema, e) as T) : defaultValue, ...this.details(e) };
  }

  private details(e: Entitlement | undefined) {
    return {
      reason: StandardResolutionReasons.CACHED,
      variant: e?.allowed ? 'allowed' : 'denied',
      flagMetadata: { allowed: e?.allowed === true, version: Number(this.version) },
    };
  }

  /** Follows one customer; resolves at its first set. */
  private watch(customerId: string | undefined): Promise<void> {
    if (!customerId) throw new TargetingKeyMissingError('the targeting key is the customer id');
    this.watching?.abort();
    const watching = new AbortController();
    this.watching = watching;
    this.features = new Map();
    this.version = 0n;
    return new Promise((resolve) => void this.follow(customerId, watching.signal, resolve));
  }

  private async follow(customerId: string, signal: AbortSignal, first: () => void): Promise<void> {
    let wait = this.options.reconnectMs ?? 500;
    while (!signal.aborted) {
      try {
        const stream = this.options.entitlements.watchEntitlements(
          { customerId, resumeFromVersion: this.version },
          { signal },
        );
        for await (const message of stream) {
          if (message.kind !== WatchEventKind.HEARTBEAT) {
            this.features = new Map(message.entitlements.map((e) => [e.feature, e]));
            this.version = message.version;
            this.events.emit(ProviderEvents.ConfigurationChanged);
          }
          first(); // a heartbeat first means the set held is current
          wait = this.options.reconnectMs ?? 500;
        }
      } catch {
        // Dropped (or aborted): reconnect below, resuming from the version held.
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(10_000, wait * 2);
    }
  }
}
