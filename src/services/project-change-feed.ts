/**
 * WatchProjectChanges on one replica: every change of a project's
 * customers, read from the project's feed in Redis (src/cache/change-feed.ts)
 * and sent with the customer's new set, for backend SDKs that answer checks
 * from their own memory.
 *
 * A reader wakes when the invalidation bus carries a change of its project
 * (or the bus reconnected) and reads the feed from its position; it also
 * reads at every heartbeat, so a lost pub/sub message delays a change by at
 * most one heartbeat and loses nothing. Changes of one customer read
 * together are sent once, with the newest set: the feed is a log of who
 * changed, the set is read when sent.
 */
import type { FeedEntry, FeedStart } from '../cache/change-feed.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { EntitlementSet } from '../domain/entitlements.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import { WakeSignal } from './wake-signal.js';

/** The feed in Redis (RedisChangeFeed); tests pass an in-memory one. */
export interface ChangeFeedReader {
  start(projectId: string, resumeAfter: string): Promise<FeedStart>;
  after(projectId: string, position: string, count: number): Promise<FeedEntry[]>;
}

export type ProjectFeedUpdate =
  | { readonly kind: 'ready' | 'resync' | 'project' | 'heartbeat'; readonly position: string }
  | {
      readonly kind: 'customer';
      readonly position: string;
      readonly customerId: string;
      readonly set: EntitlementSet;
    };

export interface ProjectChangeFeedOptions {
  readonly heartbeatMs: number;
  /** Feed entries read at once (changes of one customer among them are sent once). */
  readonly batchSize?: number;
}

const defaultBatchSize = 500;

export class ProjectChangeFeedService {
  private readonly readers = new Map<string, Set<WakeSignal>>();
  private readonly heartbeatMs: number;
  private readonly batchSize: number;

  constructor(
    bus: Pick<InvalidationBus, 'onMessage' | 'onReconnect'>,
    private readonly feed: ChangeFeedReader,
    private readonly entitlements: Pick<EntitlementLookupService, 'listAtLeast'>,
    options: ProjectChangeFeedOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs;
    this.batchSize = options.batchSize ?? defaultBatchSize;
    bus.onMessage((message) => {
      if (message.kind === 'entitlements' || message.kind === 'project') {
        for (const reader of this.readers.get(message.projectId) ?? []) reader.raise();
      }
    });
    bus.onReconnect(() => {
      for (const readers of this.readers.values()) for (const reader of readers) reader.raise();
    });
  }

  /** Ready (or resync) first, then every change after `resumeAfter` ('' : from now). */
  async *watch(
    projectId: string,
    resumeAfter: string,
    signal: AbortSignal,
  ): AsyncGenerator<ProjectFeedUpdate> {
    const reader = new WakeSignal();
    this.register(projectId, reader);
    try {
      const start = await this.feed.start(projectId, resumeAfter);
      yield start;
      let position = start.position;
      while (!signal.aborted) {
        reader.raised = false;
        const entries = await this.feed.after(projectId, position, this.batchSize);
        yield* this.updatesOf(projectId, entries);
        position = entries.at(-1)?.position ?? position;
        if (entries.length === this.batchSize) continue; // more to read at once
        if (entries.length === 0 && !reader.raised) {
          await reader.sleep(this.heartbeatMs, signal);
          if (!reader.raised && !signal.aborted) yield { kind: 'heartbeat', position };
        }
      }
    } finally {
      this.unregister(projectId, reader);
    }
  }

  /**
   * One message per customer per run of entries between project changes, at
   * the customer's last position, in the order of those positions: a client
   * that resumes after any message sent misses no change (a customer not
   * sent yet has a later entry, which it reads again).
   */
  private async *updatesOf(
    projectId: string,
    entries: readonly FeedEntry[],
  ): AsyncGenerator<ProjectFeedUpdate> {
    let run = new Map<string, { position: string; version: number }>();
    for (const entry of entries) {
      const change = entry.change;
      if (change.kind === 'customer') {
        const newest = Math.max(change.version, run.get(change.customerId)?.version ?? 0);
        run.delete(change.customerId); // set again: the map keeps last positions in order
        run.set(change.customerId, { position: entry.position, version: newest });
        continue;
      }
      yield* this.customerUpdates(projectId, run);
      run = new Map();
      yield { kind: 'project', position: entry.position };
    }
    yield* this.customerUpdates(projectId, run);
  }

  private async *customerUpdates(
    projectId: string,
    run: ReadonlyMap<string, { readonly position: string; readonly version: number }>,
  ): AsyncGenerator<ProjectFeedUpdate> {
    for (const [customerId, { position, version }] of run) {
      const set = await this.entitlements.listAtLeast(projectId, customerId, version);
      yield { kind: 'customer', position, customerId, set };
    }
  }

  private register(projectId: string, reader: WakeSignal): void {
    const readers = this.readers.get(projectId);
    if (readers) readers.add(reader);
    else this.readers.set(projectId, new Set([reader]));
  }

  private unregister(projectId: string, reader: WakeSignal): void {
    const readers = this.readers.get(projectId);
    readers?.delete(reader);
    if (readers?.size === 0) this.readers.delete(projectId);
  }
}
