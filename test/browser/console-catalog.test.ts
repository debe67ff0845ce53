// needs: mongodb redis chromium
/**
 * The console's catalog editor (#/catalog) in a real browser: an entry
 * with a limit feature and a metered one is saved (stored as typed, shown
 * again after a reload); an invalid catalog is refused at the field the
 * service names (a Stripe id given twice, an allowance of 0), with the
 * problem next to it, and nothing is stored.
 *
 * Screenshots go to test/browser/artifacts/console-catalog-*.png
 * (git-ignored; docs/console-catalog-1280.png is the committed copy).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { sourceRoot } from '../helpers/process.js';

const artifacts = path.join(sourceRoot, 'test', 'browser', 'artifacts');

let server: TestApp;
const browsers: TestBrowser[] = [];

test.before(async () => {
  server = await startTestApp();
  await mkdir(artifacts, { recursive: true });
});

test.after.always(async () => {
  for (const browser of browsers) await browser.close();
  await server?.app.stop();
});

async function openCatalog(width: number, adminKey: string): Promise<Page> {
  const browser = await launchChromium({ width, height: 900 });
  browsers.push(browser);
  const page = await browser.context.newPage();
  await page.goto(`${server.baseUrl}/console`);
  await page.getByLabel('Admin API key').fill(adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Catalog' }).click();
  await page.getByRole('heading', { name: 'Catalog' }).waitFor();
  return page;
}

const entry = (page: Page, n: number) =>
  page.getByRole('group', { name: `Entry ${n}`, exact: true });
const feature = (scope: Locator, n: number) =>
  scope.getByRole('group', { name: `Feature ${n}`, exact: true });
const label = (scope: Locator, name: string) => scope.getByLabel(name, { exact: true });

test('an entry with a limit and a metered feature is saved, stored and shown again', async (t) => {
  const project = await createTestProject(server.app, 'catalog project');
  const page = await openCatalog(1280, project.adminKey);
  await page.getByText('No entries: no price or product gives a feature.').waitFor();

  await page.getByRole('button', { name: 'Add entry' }).click();
  const pro = entry(page, 1);
  await label(pro, 'Stripe price or product id').fill('price_console_pro');
  const seats = feature(pro, 1);
  await label(seats, 'Feature key').fill('seats');
  await label(seats, 'Kind').selectOption({ label: 'Limit' });
  await label(seats, 'Limit (empty: unlimited)').fill('5');
  await label(seats, 'Limit per unit').check();
  t.false(await label(seats, 'Allowance').isVisible(), 'a limit asks for no allowance');

  await pro.getByRole('button', { name: 'Add feature' }).click();
  const calls = feature(pro, 2);
  await label(calls, 'Feature key').fill('api_calls');
  await label(calls, 'Kind').selectOption({ label: 'Metered' });
  t.false(await label(calls, 'Limit (empty: unlimited)').isVisible(), 'metered has no limit');
  await label(calls, 'Allowance').fill('1000');
  await label(calls, 'Reset').selectOption({ label: 'Month' });
  await label(calls, 'Overage').selectOption({ label: 'Block: refuse beyond the balance' });
  await label(page.getByRole('form', { name: 'Catalog' }), 'Reason').fill('pro plan launch');
  await page.getByRole('button', { name: 'Save catalog' }).click();
  await page.getByRole('status').getByText('Catalog saved (1 entry).').waitFor();

  const stored = await server.app.projects.get(project.projectId);
  t.deepEqual(stored?.catalog, [
    {
      stripe_id: 'price_console_pro',
      features: [
        { feature: 'seats', limit: 5, limit_per_unit: true, kind: 'limit', metered: null },
        {
          feature: 'api_calls',
          limit: null,
          limit_per_unit: false,
          kind: 'metered',
          metered: {
            allowance: 1000,
            allowance_per_unit: false,
            reset: 'month',
            overage: 'block',
            stripe_meter_event_name: null,
          },
        },
      ],
    },
  ]);

  await page.reload();
  const again = entry(page, 1);
  await again.waitFor();
  t.is(await label(again, 'Stripe price or product id').inputValue(), 'price_console_pro');
  t.is(await label(feature(again, 1), 'Feature key').inputValue(), 'seats');
  t.is(await label(feature(again, 1), 'Limit (empty: unlimited)').inputValue(), '5');
  t.true(await label(feature(again, 1), 'Limit per unit').isChecked());
  const meteredAgain = feature(again, 2);
  t.is(await label(meteredAgain, 'Feature key').inputValue(), 'api_calls');
  t.is(await label(meteredAgain, 'Allowance').inputValue(), '1000');
  t.is(await selectedText(label(meteredAgain, 'Kind')), 'Metered');
  t.is(await selectedText(label(meteredAgain, 'Reset')), 'Month');

  const screenshot = path.join(artifacts, 'console-catalog-1280.png');
  await page.screenshot({ path: screenshot, fullPage: true });
});

async function selectedText(select: Locator): Promise<string> {
  return (await select.locator('option:checked').textContent()) ?? '';
}

test('an invalid catalog is refused at the field the service names, and nothing changes', async (t) => {
  const project = await createTestProject(server.app, 'invalid catalog project');
  const catalog = [
    {
      stripe_id: 'price_console_basic',
      features: [
        { feature: 'reports', limit: null, limit_per_unit: false, kind: 'boolean' as const },
      ],
    },
  ];
  await server.app.projects.setCatalog(project.projectId, catalog, 'test', 'test setup');
  const page = await openCatalog(390, project.adminKey);
  await label(entry(page, 1), 'Stripe price or product id').waitFor();

  await page.getByRole('button', { name: 'Add entry' }).click();
  const second = entry(page, 2);
  const stripeId = label(second, 'Stripe price or product id');
  await stripeId.fill('price_console_basic');
  const usage = feature(second, 1);
  await label(usage, 'Feature key').fill('exports');
  await label(usage, 'Kind').selectOption({ label: 'Metered' });
  await label(usage, 'Allowance').fill('0');
  await label(page.getByRole('form', { name: 'Catalog' }), 'Reason').fill('try a bad one');

  await page.getByRole('button', { name: 'Save catalog' }).click();
  const twice = page.getByRole('alert').filter({ hasText: 'price_console_basic appears twice' });
  await twice.waitFor();
  t.is(await stripeId.getAttribute('aria-invalid'), 'true');
  t.is(await stripeId.getAttribute('aria-describedby'), await twice.getAttribute('id'));
  t.is(await stripeId.getAttribute('data-field'), 'entries[1].stripe_id');
  t.is(
    await page.evaluate("document.activeElement?.getAttribute('data-field')"),
    'entries[1].stripe_id',
    'the refused input has the focus',
  );
  await page.screenshot({
    path: path.join(artifacts, 'console-catalog-390.png'),
    fullPage: true,
  });

  // Fixed, the next save names the allowance; the first mark is gone.
  await stripeId.fill('price_console_usage');
  await page.getByRole('button', { name: 'Save catalog' }).click();
  const allowance = label(usage, 'Allowance');
  const atLeastOne = page.getByRole('alert').filter({ hasText: 'must be between 1 and' });
  await atLeastOne.waitFor();
  t.is(await allowance.getAttribute('aria-invalid'), 'true');
  t.is(await allowance.getAttribute('aria-describedby'), await atLeastOne.getAttribute('id'));
  t.is(await allowance.getAttribute('data-field'), 'entries[1].features[0].metered.allowance');
  t.is(await stripeId.getAttribute('aria-invalid'), null);
  t.is(await twice.count(), 0);
  t.is(await stripeId.inputValue(), 'price_console_usage', 'what was typed stays');

  const stored = await server.app.projects.get(project.projectId);
  t.deepEqual(stored?.catalog, catalog);
});
