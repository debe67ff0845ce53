// needs: mongodb redis chromium
/**
 * The console's business charts and the search by Stripe customer id, in a
 * real browser. Three business days of subscriptions (helpers/daily-figures.ts)
 * are charted: the test reads what Chart.js drew on each canvas (points per
 * series) and the numbers each chart shows, day by day; a longer range
 * redraws them. A customer linked by a checkout is found by the Stripe
 * customer id support pastes, and a dry reconciliation names the
 * subscriptions that drifted. Screenshots at 1,280 and 390 px go to
 * test/browser/artifacts/ (docs/console-business-1280.png and
 * docs/console-reconciliation-1280.png are copies).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Locator, Page } from 'playwright-core';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { seedThreeDays, type ThreeDays } from '../helpers/daily-figures.js';
import { sourceRoot } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const artifacts = path.join(sourceRoot, 'test', 'browser', 'artifacts');

let h: BillingHarness;
let seeded: ThreeDays;
let stripeCustomerId: string;
const browsers: TestBrowser[] = [];

test.before(async () => {
  h = await startBillingHarness();
  stripeCustomerId = await h.linkCustomer('support-ticket-user');
  seeded = await seedThreeDays(h);
  await mkdir(artifacts, { recursive: true });
});

test.after.always(async () => {
  for (const browser of browsers) await browser.close();
  await h?.close();
});

async function signedIn(width: number): Promise<Page> {
  const browser = await launchChromium({ width, height: 900 });
  browsers.push(browser);
  const page = await browser.context.newPage();
  await page.goto(`${h.server.baseUrl}/console`);
  await page.getByLabel('Admin API key').fill(h.project.adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Business' }).waitFor();
  return page;
}

interface Drawn {
  readonly label: string;
  readonly points: number;
}

/** What Chart.js drew on the chart's canvas, once it has drawn. */
async function drawn(page: Page, chart: string): Promise<Drawn[]> {
  const canvas = page.locator(`#chart-${chart}[data-drawn]`);
  await canvas.waitFor();
  return JSON.parse((await canvas.getAttribute('data-drawn')) ?? '[]') as Drawn[];
}

/** The chart's numbers: per day, the cells after the day. */
async function numbers(table: Locator): Promise<Map<string, string[]>> {
  const rows = await table.locator('tbody tr').all();
  const byDay = new Map<string, string[]>();
  for (const row of rows) {
    const [day = '', ...cells] = await row.locator('td').allTextContents();
    byDay.set(day, cells);
  }
  return byDay;
}

const dayAfter = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

test('the business charts draw MRR, statuses and new and churned per day', async (t) => {
  const page = await signedIn(1280);
  await page.getByRole('link', { name: 'Business' }).click();
  const [day1, day2, day3] = [0, 1, 2].map((n) => dayAfter(seeded.firstDay, n));

  t.deepEqual(await drawn(page, 'mrr'), [
    { label: 'MRR EUR', points: 30 },
    { label: 'MRR USD', points: 30 },
  ]);
  const mrr = await numbers(page.locator('#mrr-data'));
  t.deepEqual(mrr.get(day1), ['0', '20']);
  t.deepEqual(mrr.get(day2), ['10', '20']);
  t.deepEqual(mrr.get(day3), ['', ''], 'no snapshot on day 3: a gap, not a zero');

  t.deepEqual(await drawn(page, 'statuses'), [{ label: 'active', points: 30 }]);
  const statuses = await numbers(page.locator('#statuses-data'));
  t.deepEqual([statuses.get(day1), statuses.get(day2)], [['1'], ['2']]);

  t.deepEqual(await drawn(page, 'movements'), [
    { label: 'New', points: 30 },
    { label: 'Churned', points: 30 },
  ]);
  const movements = await numbers(page.locator('#movements-data'));
  t.deepEqual(
    [movements.get(day1), movements.get(day2), movements.get(day3)],
    [
      ['1', '0'],
      ['1', '0'],
      ['0', '1'],
    ],
  );
  const screenshot = path.join(artifacts, 'console-business-1280.png');
  await page.screenshot({ path: screenshot, fullPage: true });

  // A longer range redraws every chart over it, ending on the same day.
  await page.getByLabel('Range').selectOption({ label: 'Last 90 days' });
  await page.locator('#chart-mrr[data-drawn*="\\"points\\":90"]').waitFor();
  t.deepEqual((await numbers(page.locator('#mrr-data'))).get(day2), ['10', '20']);
});

test('a dry reconciliation names the subscriptions that drifted', async (t) => {
  const page = await signedIn(1280);
  await page.getByRole('link', { name: 'Reconciliation' }).click();
  const start = page.getByRole('form', { name: 'Start a reconciliation' });
  await start.getByLabel('Reason').fill('what drifted?');
  await start.getByRole('button', { name: /Dry run/ }).click();
  // The seeded subscriptions came as webhooks only: the sandbox's Stripe has none of them (the
  // run then ends failed, by the rule that an empty Stripe list never cancels what is live).
  const runs = await waitFor(
    async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      return (await page.locator('#runs').textContent()) ?? '';
    },
    { what: 'the dry run to end', until: (text) => /dry run\s*(failed|succeeded)/.test(text) },
  );
  t.regex(runs, /missing in Stripe: [^;]*sub_day2/);
  await page.screenshot({
    path: path.join(artifacts, 'console-reconciliation-drift-1280.png'),
    fullPage: true,
  });
});

test('at 390 px: a customer is found by its Stripe customer id, and the charts fit', async (t) => {
  const page = await signedIn(390);
  await page.getByLabel('Customer id or Stripe customer id').fill(stripeCustomerId);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByRole('heading', { name: 'Customer support-ticket-user' }).waitFor();
  t.regex(page.url(), /#\/customers\/support-ticket-user$/);
  await page
    .getByRole('status')
    .getByText(`Found support-ticket-user (Stripe customer ${stripeCustomerId}).`)
    .waitFor();

  // A Stripe customer id nothing is linked to says so, and opens nothing.
  await page.getByRole('link', { name: 'Customers' }).click();
  await page.getByLabel('Customer id or Stripe customer id').fill('cus_unknown_to_us');
  await page.getByRole('button', { name: 'Find' }).click();
  await page
    .getByRole('status')
    .getByText('No customer is linked to the Stripe customer cus_unknown_to_us.')
    .waitFor();
  t.regex(page.url(), /#\/customers$/);

  await page.getByRole('link', { name: 'Business' }).click();
  await drawn(page, 'movements');
  const width = await page.evaluate('document.documentElement.scrollWidth');
  t.true(Number(width) <= 390, `the page is ${width} px wide`);
  await page.screenshot({
    path: path.join(artifacts, 'console-business-390.png'),
    fullPage: true,
  });
});
