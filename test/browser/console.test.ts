// needs: mongodb redis chromium
/**
 * The operator console (/console) in a real browser, at 1,280 and 390
 * pixels: a wrong key is refused with a clear message; an admin key signs
 * in (kept in session storage only: no cookie, not in the URL); a customer
 * is found by id, a grant made with its reason shows in the entitlements
 * and on the timeline at once, a revoke takes it away; explain answers for
 * an instant in the past; signing out forgets the key.
 *
 * Its browser code type-checks with the DOM typings (its own tsconfig).
 *
 * Screenshots go to test/browser/artifacts/console-*.png (git-ignored;
 * docs/console-*.png are committed copies).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { runChild } from '../helpers/client-smoke.js';
import { sourceRoot } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const artifacts = path.join(sourceRoot, 'test', 'browser', 'artifacts');

let server: TestApp;
let project: TestProject;
const browsers: TestBrowser[] = [];

test.before(async () => {
  server = await startTestApp({ env: { JOB_POLL_MS: '100' } });
  project = await createTestProject(server.app, 'console project');
  await mkdir(artifacts, { recursive: true });
});

test.after.always(async () => {
  for (const browser of browsers) await browser.close();
  await server?.app.stop();
});

async function openConsole(width: number): Promise<Page> {
  const browser = await launchChromium({ width, height: 900 });
  browsers.push(browser);
  const page = await browser.context.newPage();
  await page.goto(`${server.baseUrl}/console`);
  return page;
}

const textOf = async (locator: Locator) => (await locator.textContent()) ?? '';

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('Admin API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

for (const width of [1280, 390]) {
  test(`at ${width} px: sign in, find a customer, grant, see it, revoke, sign out`, async (t) => {
    const page = await openConsole(width);
    const customer = `console-user-${width}`;

    await signIn(page, 'bk_not_a_real_key_0000000000000000');
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    t.regex(await textOf(refusal), /That key was refused: Unauthenticated/);
    await page.screenshot({ path: path.join(artifacts, `console-sign-in-${width}.png`) });

    await signIn(page, project.adminKey);
    await page.getByText(`console project (${project.projectId})`).waitFor();
    t.is(await page.evaluate('document.cookie'), '', 'no cookie');
    t.false(page.url().includes(project.adminKey), 'the key is not in the URL');
    t.is(
      await page.evaluate("sessionStorage.getItem('billing-console-admin-key')"),
      project.adminKey,
    );

    await page.getByLabel('Customer id').fill(customer);
    await page.getByRole('button', { name: 'Find' }).click();
    await page.getByRole('heading', { name: `Customer ${customer}` }).waitFor();
    t.regex(page.url(), new RegExp(`#/customers/${customer}$`));

    const grantForm = page.getByRole('form', { name: 'Grant a feature' });
    await grantForm.getByLabel('Feature').fill('reports');
    await grantForm.getByLabel('Limit (empty: unlimited)').fill('25');
    await grantForm.getByLabel('Reason').fill('pilot for ticket 7');
    const before = new Date();
    await grantForm.getByRole('button', { name: 'Grant' }).click();
    await page.getByRole('status').getByText(`Granted reports to ${customer}.`).waitFor();
    const now = page.locator('#entitlements');
    await now.getByRole('cell', { name: 'reports', exact: true }).waitFor();
    t.regex(await textOf(now), /reports\s*25/);
    t.regex(await textOf(now), /grant gr_/);
    t.regex(
      await textOf(page.locator('#timeline')),
      /grant[\s\S]*reports[\s\S]*pilot for ticket 7/,
    );
    await page.screenshot({
      path: path.join(artifacts, `console-customer-${width}.png`),
      fullPage: true,
    });

    // Explain: just before the grant, it was not allowed.
    const explain = page.getByRole('form', { name: 'Explain a decision' });
    await explain.getByLabel('Feature').fill('reports');
    const local = new Date(before.getTime() - 1000 - before.getTimezoneOffset() * 60_000);
    await explain.getByLabel('At (your time zone)').fill(local.toISOString().slice(0, 19));
    await explain.getByRole('button', { name: 'Explain' }).click();
    await page
      .locator('#explanation')
      .getByText(/Not allowed at/)
      .waitFor();

    const revoke = page.getByRole('form', { name: 'Revoke reports' });
    await revoke.getByLabel('Reason to revoke reports').fill('pilot over');
    await revoke.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').getByText('Revoked reports.').waitFor();
    await page.locator('#timeline').getByText('pilot over').waitFor();
    t.notRegex(await textOf(page.locator('#entitlements')), /reports/);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin API key').waitFor();
    t.is(await page.evaluate("sessionStorage.getItem('billing-console-admin-key')"), null);
  });
}

test('API keys (the secret once), the audit log by action, and reconciliation runs', async (t) => {
  const page = await openConsole(1280);
  await signIn(page, project.adminKey);
  await page.getByRole('link', { name: 'API keys' }).click();
  const create = page.getByRole('form', { name: 'Create an API key' });
  await create.getByLabel('Name').fill('reporting backend');
  await create.getByLabel('entitlements:read').check();
  await create.getByLabel('Reason').fill('new reporting service');
  await create.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.locator('#new-secret code').textContent();
  t.regex(secret ?? '', /^bk_/);
  await page.getByRole('cell', { name: 'reporting backend', exact: true }).waitFor();
  await page.screenshot({ path: path.join(artifacts, 'console-keys-1280.png'), fullPage: true });
  // Shown once: the page read again has the key, never its secret.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('cell', { name: 'reporting backend', exact: true }).waitFor();
  t.false((await textOf(page.locator('main'))).includes(secret ?? 'no secret'));
  const revoke = page.getByRole('form', { name: 'Revoke key reporting backend' });
  await revoke.getByLabel('Reason to revoke reporting backend').fill('service retired');
  await revoke.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('status').getByText('Revoked key reporting backend.').waitFor();

  await page.getByRole('link', { name: 'Audit log' }).click();
  const filter = page.getByRole('form', { name: 'Filter the audit log' });
  await filter.getByLabel('Action').fill('api_key.revoke');
  await filter.getByRole('button', { name: 'Show' }).click();
  // The filtered answer (the page also loaded the whole log when it opened).
  await page
    .locator('#audit-entries')
    .getByText(/entr(y|ies) with action api_key\.revoke\./)
    .waitFor();
  await page.locator('#audit-entries').getByText('service retired').waitFor();
  t.notRegex(await textOf(page.locator('#audit-entries')), /new reporting service/);
  await page.screenshot({ path: path.join(artifacts, 'console-audit-1280.png'), fullPage: true });

  await page.getByRole('link', { name: 'Reconciliation' }).click();
  const start = page.getByRole('form', { name: 'Start a reconciliation' });
  await start.getByLabel('Reason').fill('weekly check');
  await start.getByRole('button', { name: /Dry run/ }).click();
  await page
    .getByRole('status')
    .getByText(/Dry run \S+ started\./)
    .waitFor();
  await page.getByRole('cell', { name: 'dry run', exact: true }).waitFor();
  // One run at a time: the dry run ends first (it fails here: this project's Stripe key is fake).
  await waitFor(
    async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      return textOf(page.locator('#runs'));
    },
    { what: 'the dry run to end', until: (text) => /dry run\s*(failed|succeeded)/.test(text) },
  );
  // The real run asks first; declined, nothing starts.
  page.once('dialog', (dialog) => void dialog.dismiss());
  await start.getByRole('button', { name: 'Repair drift' }).click();
  t.is(await page.getByRole('cell', { name: 'repair', exact: true }).count(), 0);
  page.once('dialog', (dialog) => void dialog.accept());
  await start.getByRole('button', { name: 'Repair drift' }).click();
  await page.getByRole('cell', { name: 'repair', exact: true }).waitFor();
  await page.screenshot({
    path: path.join(artifacts, 'console-reconciliation-1280.png'),
    fullPage: true,
  });
});

test('settings: the grace period changes, the webhook secret rotates, a bad value is explained', async (t) => {
  const other = await createTestProject(server.app, 'settings project');
  const page = await openConsole(1280);
  await signIn(page, other.adminKey);
  await page.getByRole('link', { name: 'Settings' }).click();
  const summary = page.locator('#project-summary');
  await summary.getByText('3 days').waitFor();
  const terms = page.getByRole('form', { name: 'Project name and grace period' });
  await terms.getByLabel('Grace period (days)').fill('7');
  await terms.getByLabel('Reason').fill('longer dunning');
  await terms.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').getByText('Settings saved.').waitFor();
  await summary.getByText('7 days').waitFor();
  const stored = await server.app.projects.get(other.projectId);
  t.is(stored?.grace_period_seconds, 7 * 86_400);

  const rotate = page.getByRole('form', { name: 'Rotate the Stripe webhook signing secret' });
  await rotate.getByLabel('New signing secret (whsec_..., from Stripe)').fill('not a secret');
  await rotate.getByLabel('Reason').fill('rolled in Stripe');
  await rotate.getByRole('button', { name: 'Rotate' }).click();
  await page
    .getByRole('status')
    .getByText(/InvalidArgument/)
    .waitFor();
  await rotate
    .getByLabel('New signing secret (whsec_..., from Stripe)')
    .fill('whsec_rolled_in_stripe_0123456789');
  await rotate.getByRole('button', { name: 'Rotate' }).click();
  await page
    .getByRole('status')
    .getByText(/rotated/)
    .waitFor();
  t.false(
    (await textOf(page.locator('main'))).includes('whsec_rolled'),
    'the secret is never shown',
  );
  await page.screenshot({
    path: path.join(artifacts, 'console-settings-1280.png'),
    fullPage: true,
  });
});

test("the console's browser code type-checks with the DOM typings", async (t) => {
  const checked = await runChild(
    path.join(sourceRoot, 'node_modules', '.bin', 'tsc'),
    ['-p', path.join(sourceRoot, 'src', 'console', 'app', 'tsconfig.json')],
    { cwd: sourceRoot },
  );
  t.is(checked.code, 0, checked.output);
});
