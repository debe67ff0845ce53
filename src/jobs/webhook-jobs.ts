/**
 * The outbound webhook jobs:
 *
 * - `webhooks.deliver` on OUTBOUND_WEBHOOK_CRON (every 5 s by default): a
 *   scan of the pending deliveries (WebhookDispatcher). Each replica also
 *   scans when it queues an event and at its retry timers; this is the
 *   backstop that picks up what a stopped replica left and retries that no
 *   live replica has a timer for.
 * - `webhooks.grant_expiring` on GRANT_EXPIRING_CRON (every 10 minutes):
 *   a `grant.expiring` event for every grant that expires within a day.
 *   Its id is derived from the grant, so finding a grant on every
 *   occurrence until it expires sends it once.
 *
 * Agenda may run one occurrence on two replicas on FerretDB
 * (docs/ferretdb.md, finding 4), so each occurrence is claimed first with a
 * unique insert (JobClaimStore), and the claim is deleted when it ends, as
 * the meter report job does.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { OutboundEventService } from '../services/outbound-event-service.js';
import type { WebhookDispatcher } from '../services/webhook-dispatcher.js';
import type { GrantStore } from '../store/grant-store.js';
import type { JobClaimStore } from '../store/job-claim-store.js';
import { type JobRunner, occurrenceOf, registerSchedule } from './job-runner.js';

export const webhookJobNames = {
  deliver: 'webhooks.deliver',
  grantExpiring: 'webhooks.grant_expiring',
} as const;

/** How long before a grant's expiry `grant.expiring` is sent. */
export const grantExpiringNoticeMs = 24 * 3600_000;
const grantPageSize = 500;

export interface WebhookJobsOptions {
  readonly runner: JobRunner;
  readonly claims: Pick<JobClaimStore, 'runClaimed'>;
  readonly dispatcher: Pick<WebhookDispatcher, 'scan'>;
  readonly grants: Pick<GrantStore, 'expiringBetween'>;
  readonly events: Pick<OutboundEventService, 'grantExpiring'>;
  /** Undefined: no scheduled scans. */
  readonly deliverCron: string | undefined;
  /** Undefined: no scheduled grant checks. */
  readonly grantExpiringCron: string | undefined;
  /** Business time: grants expire by it. */
  readonly now: () => Date;
  readonly logger: Logger;
}

export interface WebhookJobs {
  /** Call after the runner started: registers or removes the schedules. */
  start(): Promise<void>;
  /** Queues a grant check now (any replica may run it). */
  triggerGrantExpiring(): Promise<void>;
  /** Claims `occurrence` and looks for expiring grants; how many it found, or 'skipped'. */
  runGrantExpiring(occurrence: string): Promise<number | 'skipped'>;
}

export function defineWebhookJobs(options: WebhookJobsOptions): WebhookJobs {
  const { runner, claims, logger } = options;

  const claimed = <T>(job: string, occurrence: string, work: () => Promise<T>) =>
    claims.runClaimed(job, occurrence, runner.instanceId, work);

  const runGrantExpiring: WebhookJobs['runGrantExpiring'] = (occurrence) =>
    claimed(webhookJobNames.grantExpiring, occurrence, () => announceExpiringGrants(options));

  runner.define(webhookJobNames.deliver, async (context) => {
    const ran = await claimed(webhookJobNames.deliver, occurrenceOf(context), () =>
      options.dispatcher.scan(),
    );
    return ran === 'skipped' ? 'skipped' : 'succeeded';
  });
  runner.define(webhookJobNames.grantExpiring, async (context) => {
    const found = await runGrantExpiring(occurrenceOf(context));
    if (found === 'skipped') return 'skipped';
    if (found > 0) logger.info('expiring grants announced', { grants: found });
    return 'succeeded';
  });

  return {
    async start() {
      await registerSchedule(runner, options.deliverCron, webhookJobNames.deliver, logger);
      await registerSchedule(
        runner,
        options.grantExpiringCron,
        webhookJobNames.grantExpiring,
        logger,
      );
    },
    async triggerGrantExpiring() {
      await runner.now(webhookJobNames.grantExpiring, { occurrence: `now:${randomUUID()}` });
    },
    runGrantExpiring,
  };
}

/** Every grant expiring within the notice, page by page; how many were found. */
async function announceExpiringGrants(options: WebhookJobsOptions): Promise<number> {
  const now = options.now();
  const until = new Date(now.getTime() + grantExpiringNoticeMs);
  let after: Date | { expiresAt: Date; id: string } = now;
  let found = 0;
  for (;;) {
    const page = await options.grants.expiringBetween(after, until, grantPageSize);
    for (const grant of page) await options.events.grantExpiring(grant);
    found += page.length;
    const last = page.at(-1);
    if (page.length < grantPageSize || !last?.expires_at) return found;
    after = { expiresAt: last.expires_at, id: last._id };
  }
}
