/** Every MongoDB store, built once over one database (the composition root's first layer). */
import type { Db } from 'mongodb';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { isSecretOpenError, type SecretBox } from '../domain/secret-box.js';
import type { Logger } from '../logger.js';
import { ApiKeyStore } from '../store/api-key-store.js';
import { AuditLogStore } from '../store/audit-log-store.js';
import { CreditGrantStore } from '../store/credit-grant-store.js';
import { CustomerStore } from '../store/customer-store.js';
import { DailySnapshotStore } from '../store/daily-snapshot-store.js';
import { EventReceiptStore } from '../store/event-receipt-store.js';
import { GrantStore } from '../store/grant-store.js';
import { IdempotencyStore } from '../store/idempotency-store.js';
import { JobClaimStore } from '../store/job-claim-store.js';
import { LeftoverCollections } from '../store/leftover-collections.js';
import { MeterOutboxStore } from '../store/meter-outbox-store.js';
import { OutboundEventStore } from '../store/outbound-event-store.js';
import { ProjectStore } from '../store/project-store.js';
import { PurchaseStore } from '../store/purchase-store.js';
import { ReconciliationLockStore } from '../store/reconciliation-lock-store.js';
import { ReconciliationRunStore } from '../store/reconciliation-run-store.js';
import { SubscriptionStore } from '../store/subscription-store.js';
import { TimelineStore } from '../store/timeline-store.js';
import { UsageLedgerStore } from '../store/usage-ledger-store.js';
import { WebhookDeliveryStore } from '../store/webhook-delivery-store.js';
import { WebhookEndpointStore } from '../store/webhook-endpoint-store.js';

/** How long a call holds its idempotency key before a retry may take it over (a crash). */
const idempotencyLeaseMs = 60_000;

export interface Stores {
  readonly projects: ProjectStore;
  readonly idempotency: IdempotencyStore;
  readonly auditLog: AuditLogStore;
  readonly apiKeys: ApiKeyStore;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly grants: GrantStore;
  readonly creditGrants: CreditGrantStore;
  readonly receipts: EventReceiptStore;
  readonly reconciliationRuns: ReconciliationRunStore;
  readonly reconciliationLocks: ReconciliationLockStore;
  readonly jobClaims: JobClaimStore;
  readonly usageLedger: UsageLedgerStore;
  readonly meterOutbox: MeterOutboxStore;
  readonly timeline: TimelineStore;
  readonly webhookEndpoints: WebhookEndpointStore;
  readonly outboundEvents: OutboundEventStore;
  readonly webhookDeliveries: WebhookDeliveryStore;
  readonly leftoverCollections: LeftoverCollections;
  readonly dailySnapshots: DailySnapshotStore;
}

/** `now`: business time, which the usage ledger times its entries by. */
export function buildStores(db: Db, secretBox: SecretBox, config: Config, now: () => Date): Stores {
  return {
    projects: new ProjectStore(db, secretBox),
    idempotency: new IdempotencyStore(db, idempotencyLeaseMs, secretBox),
    auditLog: new AuditLogStore(db),
    apiKeys: new ApiKeyStore(db),
    customers: new CustomerStore(db),
    subscriptions: new SubscriptionStore(db),
    purchases: new PurchaseStore(db),
    grants: new GrantStore(db),
    creditGrants: new CreditGrantStore(db),
    receipts: new EventReceiptStore(db, config.webhookLeaseMs),
    reconciliationRuns: new ReconciliationRunStore(db),
    reconciliationLocks: new ReconciliationLockStore(db),
    jobClaims: new JobClaimStore(db),
    usageLedger: new UsageLedgerStore(db, now),
    meterOutbox: new MeterOutboxStore(db),
    timeline: new TimelineStore(db),
    webhookEndpoints: new WebhookEndpointStore(db, secretBox),
    outboundEvents: new OutboundEventStore(db),
    webhookDeliveries: new WebhookDeliveryStore(db),
    leftoverCollections: new LeftoverCollections(db),
    dailySnapshots: new DailySnapshotStore(db),
  };
}

/**
 * Before serving: every stored secret must open with the configured master
 * keys (else stop now with a config error, not at the first webhook), and
 * plain-text or old-key values are sealed under the first key.
 */
export async function sealStoredSecrets(stores: Stores, logger: Logger): Promise<void> {
  try {
    const pass = await stores.projects.sealStoredSecrets();
    const responses = await stores.idempotency.sealStoredResponses();
    if (pass.sealed + pass.resealed + responses > 0) {
      logger.info('stored secrets sealed', { ...pass, idempotent_responses: responses });
    }
  } catch (err) {
    if (!isSecretOpenError(err)) throw err;
    throw new ConfigError(
      'MASTER_KEYS',
      `cannot open the stored secrets: ${err.message}. Configure the master key they were sealed with (it may follow the new first key)`,
    );
  }
}
