/**
 * Business: the project's figures over time as charts (Chart.js), from
 * ListDailyMetrics: MRR per currency and subscriptions by status at each
 * day's snapshot, and subscriptions created and ended per day. Each chart
 * has its numbers in a table below it too (a canvas says nothing to a
 * screen reader), and says on its canvas what it drew (`data-drawn`), which
 * is how a test knows the chart is there.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { DailyMetrics } from '../../../gen/billing/v1/metrics_pb.js';
import { describeError, metrics } from './api.js';
import { el, field, table } from './dom.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

/** One line or bar series: a value per day, null where the day has no snapshot. */
interface Series {
  readonly label: string;
  readonly values: readonly (number | null)[];
}

interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly type: 'line' | 'bar';
  readonly stacked: boolean;
  readonly days: readonly string[];
  readonly series: readonly Series[];
}

const ranges: ReadonlyArray<readonly [number, string]> = [
  [30, 'Last 30 days'],
  [90, 'Last 90 days'],
  [365, 'Last 365 days'],
];

const palette = ['#2456c9', '#1a7f37', '#b3261e', '#bf8700', '#8250df', '#57606a', '#0a7ea4'];

export async function businessPage(): Promise<HTMLElement> {
  const page = el('section', { 'aria-labelledby': 'business-title' });
  const charts: Chart[] = [];
  const range = el(
    'select',
    { name: 'range' },
    ...ranges.map(([days, label]) => el('option', { value: String(days) }, label)),
  );
  const body = el('div', {});
  page.append(el('h2', { id: 'business-title' }, 'Business'), field('Range', range), body);
  // Today is the service's (business time, which the sandbox's clock moves), learnt from
  // the first answer: the default range ends on it.
  let today: string | undefined;
  const destroyAll = () => {
    for (const chart of charts.splice(0)) chart.destroy();
  };
  // Only the answer to the latest choice of range is shown (answers may come out of order).
  let asked = 0;
  const show = async () => {
    const ask = ++asked;
    try {
      const request = today
        ? { firstDay: daysBefore(today, Number(range.value) - 1), lastDay: today }
        : {};
      const { days } = await metrics.listDailyMetrics(request);
      if (ask !== asked) return;
      today ??= days.at(-1)?.day;
      // Charts of an earlier range stop listening to resizes before they go.
      destroyAll();
      const sections = chartSpecs(days).map(chartSection);
      body.replaceChildren(hint(), ...sections.map((s) => s.element));
      // Drawn once in the page, where their box has a size.
      for (const section of sections) {
        const chart = section.draw();
        if (chart) charts.push(chart);
      }
    } catch (error) {
      if (ask === asked) body.replaceChildren(el('p', { class: 'error' }, describeError(error)));
    }
  };
  range.addEventListener('change', () => void show());
  window.addEventListener('hashchange', destroyAll, { once: true });
  await show();
  return page;
}

const hint = () =>
  el(
    'p',
    { class: 'hint' },
    'Days are UTC. MRR and statuses are those of each day\u2019s last snapshot (taken every few minutes); new and churned count the whole day.',
  );

function daysBefore(day: string, count: number): string {
  const start = new Date(`${day}T00:00:00Z`);
  return new Date(start.getTime() - count * 86_400_000).toISOString().slice(0, 10);
}

function chartSpecs(days: readonly DailyMetrics[]): ChartSpec[] {
  const labels = days.map((day) => day.day);
  return [
    {
      id: 'mrr',
      title: 'MRR per currency',
      type: 'line',
      stacked: false,
      days: labels,
      series: mrrSeries(days),
    },
    {
      id: 'statuses',
      title: 'Subscriptions by status',
      type: 'bar',
      stacked: true,
      days: labels,
      series: statusSeries(days),
    },
    {
      id: 'movements',
      title: 'New and churned subscriptions per day',
      type: 'bar',
      stacked: false,
      days: labels,
      series: [
        { label: 'New', values: days.map((day) => Number(day.newSubscriptions)) },
        { label: 'Churned', values: days.map((day) => Number(day.churnedSubscriptions)) },
      ],
    },
  ];
}

/** One series per currency seen, in the currency's major unit (dollars, not cents). */
function mrrSeries(days: readonly DailyMetrics[]): Series[] {
  const currencies = [
    ...new Set(days.flatMap((d) => d.snapshot?.mrr.map((m) => m.currency) ?? [])),
  ];
  return currencies.sort().map((currency) => ({
    label: `MRR ${currency.toUpperCase()}`,
    values: days.map((day) => {
      if (!day.snapshot) return null;
      const amount = day.snapshot.mrr.find((m) => m.currency === currency)?.amountMinor ?? 0n;
      return Number(amount) / 10 ** minorDigits(currency);
    }),
  }));
}

/** How many digits the minor unit has (2 for usd, 0 for jpy), as the browser knows it. */
function minorDigits(currency: string): number {
  try {
    return (
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2
    );
  } catch {
    return 2;
  }
}

function statusSeries(days: readonly DailyMetrics[]): Series[] {
  const statuses = [
    ...new Set(days.flatMap((d) => d.snapshot?.subscriptionsByStatus.map((s) => s.status) ?? [])),
  ];
  return statuses.sort().map((status) => ({
    label: status,
    values: days.map((day) => {
      if (!day.snapshot) return null;
      return Number(
        day.snapshot.subscriptionsByStatus.find((s) => s.status === status)?.count ?? 0n,
      );
    }),
  }));
}

function chartSection(spec: ChartSpec): { element: HTMLElement; draw(): Chart | undefined } {
  const canvas = el('canvas', {
    id: `chart-${spec.id}`,
    role: 'img',
    'aria-label': `${spec.title}: chart; the numbers are in the table below it`,
  });
  const element = el(
    'section',
    { 'aria-labelledby': `${spec.id}-title`, class: 'chart' },
    el('h3', { id: `${spec.id}-title` }, spec.title),
    spec.series.length === 0
      ? el('p', { class: 'empty' }, 'No snapshot in this range yet.')
      : el('div', { class: 'chart-box' }, canvas),
    dataTable(spec),
  );
  return {
    element,
    draw: () => (spec.series.length > 0 ? new Chart(canvas, chartConfig(spec)) : undefined),
  };
}

function dataTable(spec: ChartSpec): HTMLElement {
  const rows = spec.days.map((day, i) => [
    day,
    ...spec.series.map((series) => {
      const value = series.values[i];
      return value === null || value === undefined ? '' : String(value);
    }),
  ]);
  return el(
    'details',
    { id: `${spec.id}-data` },
    el('summary', {}, 'The numbers'),
    table(['Day', ...spec.series.map((series) => series.label)], rows),
  );
}

function chartConfig(
  spec: ChartSpec,
): ChartConfiguration<'line' | 'bar', (number | null)[], string> {
  return {
    type: spec.type,
    data: {
      labels: [...spec.days],
      datasets: spec.series.map((series, i) => ({
        label: series.label,
        data: [...series.values],
        borderColor: palette[i % palette.length],
        backgroundColor: palette[i % palette.length],
      })),
    },
    options: {
      // No animation: the chart is drawn once, at once, also for people who turned motion off.
      animation: false,
      maintainAspectRatio: false,
      spanGaps: false,
      scales: {
        x: { stacked: spec.stacked },
        y: { stacked: spec.stacked, beginAtZero: true },
      },
    },
    plugins: [drawnMarker],
  };
}

/** After each draw, the canvas says how many points of each series the chart drew. */
const drawnMarker = {
  id: 'drawnMarker',
  afterRender(chart: Chart) {
    const drawn = chart.data.datasets.map((dataset, i) => ({
      label: dataset.label ?? '',
      points: chart.getDatasetMeta(i).data.length,
    }));
    chart.canvas.dataset.drawn = JSON.stringify(drawn);
  },
};
