/**
 * Customers: find one by the product's customer id or its Stripe customer
 * id (FindCustomers); see its entitlements now (sources, limits, balances,
 * valid_until), its manual grants, its timeline, and what a check answered
 * at any past instant (explain); grant and revoke, each with a required
 * reason (audited).
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { CustomerLink } from '../../../gen/billing/v1/admin_pb.js';
import {
  type Entitlement,
  EntitlementSourceKind,
  TimelineEntryKind,
} from '../../../gen/billing/v1/entitlements_pb.js';
import { admin, describeError, entitlements } from './api.js';
import { el, field, input, onSubmit, reasonForm, table, time } from './dom.js';

export function customerSearch(go: (hash: string) => void): HTMLElement {
  const query = input({ name: 'customer', required: '', autocomplete: 'off', maxlength: '256' });
  const form = el(
    'form',
    { class: 'search', 'aria-label': 'Find a customer' },
    field('Customer id or Stripe customer id', query),
    el('button', { type: 'submit' }, 'Find'),
  );
  const results = el('div', { id: 'search-results' });
  onSubmit(form, async () => {
    const text = query.value.trim();
    const { customers } = await admin.findCustomers({ query: text });
    const [only] = customers;
    if (customers.length === 1 && only) {
      go(customerHash(only.customerId));
      return `Found ${only.customerId} (Stripe customer ${only.stripeCustomerId}).`;
    }
    // A customer known only from grants or credits has no link: its id still opens it.
    if (customers.length === 0 && !text.startsWith('cus_')) {
      go(customerHash(text));
      return `${text} has no Stripe customer linked yet.`;
    }
    results.replaceChildren(searchResults(text, customers));
    return customers.length === 0
      ? `No customer is linked to the Stripe customer ${text}.`
      : `${customers.length} customers match ${text}.`;
  });
  return el(
    'section',
    {},
    el('h2', {}, 'Customers'),
    form,
    el(
      'p',
      { class: 'hint' },
      'The id your product gives its customer (as in CheckEntitlement), or its Stripe customer id (cus_...).',
    ),
    results,
  );
}

const customerHash = (customerId: string) => `#/customers/${encodeURIComponent(customerId)}`;

/** Two matches (one by each id), or a Stripe customer id nothing is linked to. */
function searchResults(text: string, customers: readonly CustomerLink[]): HTMLElement {
  if (customers.length === 0)
    return el('p', {}, `No checkout of this project linked ${text} to a customer id.`);
  return table(
    ['Customer id', 'Stripe customer id', 'Linked'],
    customers.map((c) => [
      el('a', { href: customerHash(c.customerId) }, c.customerId),
      c.stripeCustomerId,
      time(c.linkedAt),
    ]),
  );
}

/** The customer's page; its sections load in parallel and reload after a grant or revoke. */
export async function customerPage(customerId: string): Promise<HTMLElement> {
  const page = el('section', { 'aria-labelledby': 'customer-title' });
  const reload = async () => {
    page.replaceChildren(
      el('h2', { id: 'customer-title' }, `Customer ${customerId}`),
      ...(await Promise.all([
        entitlementsSection(customerId),
        grantsSection(customerId, reload),
        explainSection(customerId),
        timelineSection(customerId),
      ])),
    );
  };
  await reload();
  return page;
}

async function entitlementsSection(customerId: string): Promise<HTMLElement> {
  const section = el('section', { 'aria-labelledby': 'now-title', id: 'entitlements' });
  section.append(el('h3', { id: 'now-title' }, 'Entitlements now'));
  try {
    const answer = await entitlements.listEntitlements({ customerId });
    section.append(
      table(
        ['Feature', 'Limit', 'Usage', 'Balance', 'Valid until', 'Sources'],
        answer.entitlements.map((e) => [
          e.feature,
          limitText(e.limit),
          e.usage === undefined ? '' : String(e.usage),
          e.balance === undefined ? '' : String(e.balance),
          time(e.validUntil),
          sourcesText(e),
        ]),
      ),
      el('p', { class: 'hint' }, `Version ${answer.version}.`),
    );
  } catch (error) {
    section.append(el('p', { class: 'error' }, describeError(error)));
  }
  return section;
}

async function grantsSection(
  customerId: string,
  reload: () => Promise<void>,
): Promise<HTMLElement> {
  const section = el('section', { 'aria-labelledby': 'grants-title', id: 'grants' });
  section.append(el('h3', { id: 'grants-title' }, 'Manual grants'), grantForm(customerId, reload));
  try {
    const { grants } = await admin.listGrants({ customerId, pageSize: 100 });
    section.append(
      table(
        ['Feature', 'Limit', 'Expires', 'Reason', 'By', ''],
        grants.map((grant) => [
          grant.feature,
          limitText(grant.limit),
          time(grant.expiresAt),
          grant.reason,
          grant.actor,
          revokeForm(grant.id, grant.feature, reload),
        ]),
      ),
    );
  } catch (error) {
    section.append(el('p', { class: 'error' }, describeError(error)));
  }
  return section;
}

function grantForm(customerId: string, reload: () => Promise<void>): HTMLElement {
  const feature = input({ name: 'feature', required: '', maxlength: '128' });
  const limit = input({ name: 'limit', type: 'number', min: '0', step: '1' });
  const expires = input({ name: 'expires', type: 'datetime-local' });
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Grant a feature' },
    field('Feature', feature),
    field('Limit (empty: unlimited)', limit),
    field('Expires (empty: never)', expires),
    field('Reason', reason),
    el('button', { type: 'submit' }, 'Grant'),
  );
  onSubmit(form, async () => {
    await admin.grantEntitlement({
      customerId,
      feature: feature.value.trim(),
      limit: limit.value === '' ? undefined : BigInt(limit.value),
      expiresAt: expires.value ? timestampFromDate(new Date(expires.value)) : undefined,
      reason: reason.value.trim(),
    });
    await reload();
    return `Granted ${feature.value.trim()} to ${customerId}.`;
  });
  return form;
}

function revokeForm(grantId: string, feature: string, reload: () => Promise<void>): HTMLElement {
  return reasonForm(`Revoke ${feature}`, `Reason to revoke ${feature}`, async (reason) => {
    await admin.revokeGrant({ grantId, reason });
    await reload();
    return `Revoked ${feature}.`;
  });
}

function explainSection(customerId: string): HTMLElement {
  const feature = input({ name: 'feature', required: '', maxlength: '128' });
  const at = input({ name: 'at', type: 'datetime-local', step: '1', required: '' });
  const answer = el('div', { 'aria-live': 'polite', id: 'explanation' });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Explain a decision' },
    field('Feature', feature),
    field('At (your time zone)', at),
    el('button', { type: 'submit' }, 'Explain'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const explained = await entitlements.explainEntitlement({
        customerId,
        feature: feature.value.trim(),
        at: timestampFromDate(new Date(at.value)),
      });
      const e = explained.entitlement;
      answer.replaceChildren(
        el(
          'p',
          { class: e?.allowed ? 'allowed' : 'denied' },
          e?.allowed
            ? `Allowed at ${time(explained.at)}, limit ${limitText(e.limit)}, from ${sourcesText(e)}.`
            : `Not allowed at ${time(explained.at)}.`,
        ),
        table(
          ['When', 'What', 'Cause'],
          explained.entries.map((entry) => [
            time(entry.at),
            kindText(entry.kind),
            causeText(entry),
          ]),
        ),
      );
    } catch (error) {
      answer.replaceChildren(el('p', { class: 'error' }, describeError(error)));
    }
  });
  return el(
    'section',
    { 'aria-labelledby': 'explain-title' },
    el('h3', { id: 'explain-title' }, 'Explain a decision'),
    form,
    answer,
  );
}

async function timelineSection(customerId: string): Promise<HTMLElement> {
  const section = el('section', { 'aria-labelledby': 'timeline-title', id: 'timeline' });
  section.append(el('h3', { id: 'timeline-title' }, 'Timeline (newest first)'));
  try {
    const { entries } = await entitlements.listCustomerTimeline({ customerId, pageSize: 50 });
    section.append(
      table(
        ['When', 'What', 'Features', 'Cause'],
        entries.map((entry) => [
          time(entry.at),
          kindText(entry.kind),
          entry.changedFeatures.join(', '),
          causeText(entry),
        ]),
      ),
    );
  } catch (error) {
    section.append(el('p', { class: 'error' }, describeError(error)));
  }
  return section;
}

function limitText(limit: bigint | undefined): string {
  return limit === undefined ? 'unlimited' : String(limit);
}

function sourcesText(entitlement: Entitlement): string {
  return entitlement.sources
    .map((source) => `${EntitlementSourceKind[source.kind]?.toLowerCase() ?? '?'} ${source.id}`)
    .join(', ');
}

function kindText(kind: TimelineEntryKind): string {
  return (TimelineEntryKind[kind] ?? 'unknown').toLowerCase().replaceAll('_', ' ');
}

function causeText(entry: {
  actor: string;
  reason: string;
  stripeEventId: string;
  subjectId: string;
}): string {
  if (entry.stripeEventId) return `Stripe event ${entry.stripeEventId}`;
  const parts = [entry.subjectId, entry.actor && `by ${entry.actor}`, entry.reason];
  return parts.filter(Boolean).join(' · ');
}
