/**
 * The project's operations pages: API keys (a new key's secret is shown
 * once; revoke with a reason), the audit log with filters, and
 * reconciliation runs with their drift (a dry run at a click, the real run
 * behind a confirmation).
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type ReconciliationRun,
  ReconciliationState,
  Scope,
} from '../../../gen/billing/v1/admin_pb.js';
import { admin, describeError } from './api.js';
import { el, field, input, onSubmit, reasonForm, table, time } from './dom.js';

const scopeChoices: ReadonlyArray<[Scope, string]> = [
  [Scope.ENTITLEMENTS_READ, 'entitlements:read'],
  [Scope.CHECKOUT_WRITE, 'checkout:write'],
  [Scope.USAGE_WRITE, 'usage:write'],
  [Scope.ADMIN, 'admin'],
];
const scopeName = new Map(scopeChoices);

export async function apiKeysPage(): Promise<HTMLElement> {
  const page = el('section', { 'aria-labelledby': 'keys-title' });
  const reload = async (created?: string) => {
    page.replaceChildren(
      el('h2', { id: 'keys-title' }, 'API keys'),
      created === undefined
        ? ''
        : el(
            'p',
            { class: 'secret', role: 'alert', id: 'new-secret' },
            'The new key (shown this once; it cannot be read again): ',
            el('code', {}, created),
          ),
      createKeyForm(reload),
      await keysTable(reload),
    );
  };
  await reload();
  return page;
}

function createKeyForm(reload: (created?: string) => Promise<void>): HTMLElement {
  const name = input({ name: 'name', required: '', maxlength: '100' });
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const boxes = scopeChoices.map(([scope, label]) => {
    const box = input({ type: 'checkbox', name: 'scope', value: String(scope) });
    return { scope, element: el('label', { class: 'check' }, box, ` ${label}`), box };
  });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Create an API key' },
    field('Name', name),
    el('fieldset', {}, el('legend', {}, 'Scopes'), ...boxes.map((b) => b.element)),
    field('Reason', reason),
    el('button', { type: 'submit' }, 'Create key'),
  );
  onSubmit(form, async () => {
    const created = await admin.createApiKey({
      name: name.value.trim(),
      scopes: boxes.filter((b) => b.box.checked).map((b) => b.scope),
      reason: reason.value.trim(),
    });
    await reload(created.secret);
    return `Created key ${created.key?.id ?? ''}.`;
  });
  return form;
}

async function keysTable(reload: () => Promise<void>): Promise<HTMLElement> {
  try {
    const { keys } = await admin.listApiKeys({ includeRevoked: true });
    return table(
      ['Id', 'Name', 'Scopes', 'Created', 'Revoked', ''],
      keys.map((key) => [
        key.id,
        key.name,
        key.scopes.map((s) => scopeName.get(s) ?? String(s)).join(', '),
        time(key.createdAt),
        time(key.revokedAt),
        key.revokedAt ? '' : revokeKeyForm(key.id, key.name, reload),
      ]),
    );
  } catch (error) {
    return el('p', { class: 'error' }, describeError(error));
  }
}

function revokeKeyForm(keyId: string, name: string, reload: () => Promise<void>): HTMLElement {
  return reasonForm(`Revoke key ${name}`, `Reason to revoke ${name}`, async (reason) => {
    await admin.revokeApiKey({ keyId, reason });
    await reload();
    return `Revoked key ${name}.`;
  });
}

export function auditPage(): HTMLElement {
  const actor = input({ name: 'actor', maxlength: '64' });
  const action = input({ name: 'action', maxlength: '64', placeholder: 'grant.create' });
  const target = input({ name: 'target', maxlength: '256' });
  const since = input({ name: 'since', type: 'datetime-local' });
  const results = el('div', { id: 'audit-entries', 'aria-live': 'polite' });
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Filter the audit log' },
    field('Actor (key id)', actor),
    field('Action', action),
    field('Target', target),
    field('Since', since),
    el('button', { type: 'submit' }, 'Show'),
  );
  // The page loads once on opening and again per Show: only the latest answer is shown,
  // so a slower earlier one never overwrites the filtered list.
  let latest = 0;
  const load = async () => {
    const call = ++latest;
    try {
      const { entries } = await admin.listAuditLog({
        actor: actor.value.trim(),
        action: action.value.trim(),
        target: target.value.trim(),
        startTime: since.value ? timestampFromDate(new Date(since.value)) : undefined,
        pageSize: 100,
      });
      if (call !== latest) return;
      const filters = [
        ['actor', actor.value.trim()],
        ['action', action.value.trim()],
        ['target', target.value.trim()],
        ['since', since.value],
      ].filter(([, value]) => value !== '');
      const shown = filters.map(([name, value]) => `${name} ${value}`).join(', ');
      results.replaceChildren(
        el(
          'p',
          { class: 'hint' },
          `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}${shown ? ` with ${shown}` : ''}.`,
        ),
        table(
          ['When', 'Action', 'Target', 'By', 'Reason'],
          entries.map((entry) => [
            time(entry.time),
            entry.action,
            entry.target,
            entry.actor,
            entry.reason,
          ]),
        ),
      );
    } catch (error) {
      if (call === latest)
        results.replaceChildren(el('p', { class: 'error' }, describeError(error)));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  void load();
  return el(
    'section',
    { 'aria-labelledby': 'audit-title' },
    el('h2', { id: 'audit-title' }, 'Audit log (newest first)'),
    form,
    results,
  );
}

/** The form stays as typed; Refresh and a started run reload the runs only. */
export async function reconciliationPage(): Promise<HTMLElement> {
  const runs = el('div', { id: 'runs' });
  const reload = async () => {
    runs.replaceChildren(await runsTable());
  };
  const refresh = el('button', { type: 'button', class: 'secondary' }, 'Refresh');
  refresh.addEventListener('click', () => void reload());
  await reload();
  return el(
    'section',
    { 'aria-labelledby': 'reconcile-title' },
    el('h2', { id: 'reconcile-title' }, 'Reconciliation with Stripe'),
    reconcileForm(reload),
    el('p', {}, refresh),
    runs,
  );
}

function reconcileForm(reload: () => Promise<void>): HTMLElement {
  const reason = input({ name: 'reason', required: '', maxlength: '500' });
  const dryRun = el('button', { type: 'submit', value: 'dry' }, 'Dry run (report drift only)');
  const realRun = el('button', { type: 'submit', value: 'real', class: 'danger' }, 'Repair drift');
  const form = el(
    'form',
    { class: 'inline', 'aria-label': 'Start a reconciliation' },
    field('Reason', reason),
    dryRun,
    realRun,
  );
  onSubmit(form, async (event) => {
    const real = event.submitter === realRun;
    // The real run changes stored subscriptions: it asks first.
    if (real && !confirm('Repair every drift found in Stripe? Stored subscriptions will change.')) {
      return 'Nothing started.';
    }
    const { run } = await admin.triggerReconciliation({
      dryRun: !real,
      reason: reason.value.trim(),
    });
    await reload();
    return `${real ? 'Reconciliation' : 'Dry run'} ${run?.id ?? ''} started.`;
  });
  return form;
}

async function runsTable(): Promise<HTMLElement> {
  try {
    const { runs } = await admin.listReconciliationRuns({ pageSize: 50 });
    return table(
      [
        'Started',
        'Kind',
        'State',
        'Checked',
        'Missing here',
        'Stale',
        'Missing in Stripe',
        'Repaired',
        'Errors',
        'Drifted subscriptions',
      ],
      runs.map(runRow),
    );
  } catch (error) {
    return el('p', { class: 'error' }, describeError(error));
  }
}

function runRow(run: ReconciliationRun): string[] {
  const counts = run.counts;
  const count = (value: bigint | undefined) => String(value ?? 0n);
  return [
    time(run.startedAt),
    run.dryRun ? 'dry run' : 'repair',
    (ReconciliationState[run.state] ?? 'unknown').toLowerCase() +
      (run.error ? `: ${run.error}` : ''),
    count(counts?.checked),
    count(counts?.missingLocally),
    count(counts?.stale),
    count(counts?.missingInStripe),
    count(counts?.repaired),
    count(counts?.errors),
    driftText(run),
  ];
}

/** Which subscriptions drifted, by class: a few ids each (the run keeps up to 100). */
function driftText(run: ReconciliationRun): string {
  const shown = 5;
  const classes: ReadonlyArray<[string, readonly string[]]> = [
    ['missing here', run.drift?.missingLocally ?? []],
    ['stale', run.drift?.stale ?? []],
    ['missing in Stripe', run.drift?.missingInStripe ?? []],
  ];
  return classes
    .filter(([, ids]) => ids.length > 0)
    .map(([name, ids]) => {
      const more = ids.length > shown ? ` and ${ids.length - shown} more` : '';
      return `${name}: ${ids.slice(0, shown).join(', ')}${more}`;
    })
    .join('; ');
}
