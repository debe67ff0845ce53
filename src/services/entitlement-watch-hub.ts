/**
 * WatchEntitlements on one replica. Every change anywhere (webhook, grant,
 * reconciliation, on any replica) arrives as an `entitlements` message on
 * the Redis pub/sub invalidation bus; watchers of that customer recompute
 * and send the new set. Time-based changes (a grant or trial ending) need no
 * message: each watcher wakes up at its set's `valid_until`.
 *
 * A watcher holds no queue, only a raised flag (./wake-signal.ts): while its
 * consumer is slow (the stream is back-pressured), changes just raise it, and when the
 * consumer is ready it gets the newest set. Memory per stream stays
 * constant however fast changes come. After a pub/sub gap (Redis
 * reconnected) every watcher is sent a fresh snapshot.
 *
 * Usage-only changes (a balance) wake the watchers of a customer at most
 * once per window, the last one always (ChangeCoalescer): a thousand tracks
 * a second do not become a thousand recomputations and messages per stream.
 * Any other change wakes them at once and carries the usage with it.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { EntitlementSet } from '../domain/entitlements.js';
import { ChangeCoalescer, type CoalescerClock, systemClock } from './change-coalescer.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import { WakeSignal } from './wake-signal.js';

export interface EntitlementWatchHubOptions {
  readonly heartbeatMs: number;
  /** At most one usage-only wake-up per customer per this window. */
  readonly usageCoalesceMs: number;
  readonly clock?: CoalescerClock;
  /** Business time, which valid_until is in (src/domain/business-clock.ts); default `clock`. */
  readonly now?: () => Date;
}

export type WatchUpdate =
  | { readonly kind: 'snapshot' | 'change'; readonly set: EntitlementSet }
  /** `version`: of the set last sent (0: not known). */
  | { readonly kind: 'heartbeat'; readonly version: number };

/** Raised by every change of its customer; `resync` after a pub/sub gap. */
class Watcher extends WakeSignal {
  resync = false;

  notify(resync: boolean): void {
    this.resync ||= resync;
    this.raise();
  }
}

/** Past a valid_until, wait this much more so the recomputation sees it passed. */
const expirySlackMs = 5;

export class EntitlementWatchHub {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly usageWakeUps: ChangeCoalescer<string>;
  private readonly heartbeatMs: number;
  private readonly nowMs: () => number;

  constructor(
    bus: Pick<InvalidationBus, 'onMessage' | 'onReconnect'>,
    private readonly entitlements: Pick<EntitlementLookupService, 'list'>,
    options: EntitlementWatchHubOptions,
  ) {
    const clock = options.clock ?? systemClock;
    const now = options.now;
    this.heartbeatMs = options.heartbeatMs;
    this.nowMs = now ? () => now().getTime() : () => clock.nowMs();
    this.usageWakeUps = new ChangeCoalescer(
      options.usageCoalesceMs,
      (watchKey) => this.notify(watchKey, false),
      clock,
    );
    bus.onMessage((message) => {
      if (message.kind === 'entitlements') {
        this.customerChanged(key(message.projectId, message.customerId), message.usageOnly);
      }
      if (message.kind === 'project') this.notifyAll(false);
    });
    bus.onReconnect(() => this.notifyAll(true));
  }

  /**
   * Business time jumped forward (a test clock was advanced): every
   * watcher looks at its set again now, instead of at the wall-clock
   * moment its valid_until would have come.
   */
  timeMoved(): void {
    this.notifyAll(false);
  }

  /**
   * The current set first (a snapshot), then every change. A caller that
   * holds `resumeFromVersion` and it is still current gets a heartbeat
   * first instead: it missed nothing.
   */
  async *watch(
    projectId: string,
    customerId: string,
    signal: AbortSignal,
    resumeFromVersion = 0,
  ): AsyncGenerator<WatchUpdate> {
    const watcher = new Watcher();
    const watchKey = key(projectId, customerId);
    this.register(watchKey, watcher);
    try {
      let set = await this.entitlements.list(projectId, customerId);
      const current = resumeFromVersion > 0 && set.version === resumeFromVersion;
      yield current ? { kind: 'heartbeat', version: resumeFromVersion } : { kind: 'snapshot', set };
      while (!signal.aborted) {
        const untilExpiry = set.validUntil
          ? set.validUntil.getTime() - this.nowMs() + expirySlackMs
          : Infinity;
        await watcher.sleep(Math.min(this.heartbeatMs, untilExpiry), signal);
        if (signal.aborted) return;
        const expired = set.validUntil !== null && set.validUntil.getTime() <= this.nowMs();
        if (!watcher.raised && !expired) {
          yield { kind: 'heartbeat', version: set.version ?? 0 };
          continue;
        }
        const resync = watcher.resync;
        watcher.raised = false;
        watcher.resync = false;
        const next = await this.entitlements.list(projectId, customerId);
        if (resync) yield { kind: 'snapshot', set: next };
        else if (!sameSet(set, next)) yield { kind: 'change', set: next };
        set = next;
      }
    } finally {
      this.unregister(watchKey, watcher);
    }
  }

  private register(watchKey: string, watcher: Watcher): void {
    const set = this.watchers.get(watchKey);
    if (set) set.add(watcher);
    else this.watchers.set(watchKey, new Set([watcher]));
  }

  private unregister(watchKey: string, watcher: Watcher): void {
    const set = this.watchers.get(watchKey);
    set?.delete(watcher);
    if (set?.size === 0) this.watchers.delete(watchKey);
  }

  private customerChanged(watchKey: string, usageOnly: true | undefined): void {
    if (!this.watchers.has(watchKey)) return;
    if (usageOnly) {
      void this.usageWakeUps.usageChanged(watchKey, watchKey);
      return;
    }
    this.notify(watchKey, false);
    this.usageWakeUps.immediateChangeSent(watchKey);
  }

  private notify(watchKey: string, resync: boolean): void {
    for (const watcher of this.watchers.get(watchKey) ?? []) watcher.notify(resync);
  }

  private notifyAll(resync: boolean): void {
    for (const watchKey of this.watchers.keys()) this.notify(watchKey, resync);
  }
}

const key = (projectId: string, customerId: string) => `${projectId}\u0000${customerId}`;

/** Same entitlements; a new version alone (a change that changed nothing here) is not sent. */
function sameSet(a: EntitlementSet, b: EntitlementSet): boolean {
  return JSON.stringify({ ...a, version: 0 }) === JSON.stringify({ ...b, version: 0 });
}
