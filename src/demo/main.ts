/**
 * Browser code of the /demo page (bundled by ./serve.ts with esbuild): a
 * customer's entitlements, live. The customer token comes in the URL
 * fragment (`/demo#token=ct_...&customer=user-1`), which browsers never
 * send to a server; it goes out only as `Authorization: Bearer` on the
 * WatchEntitlements call (Connect protocol, same origin). Every SNAPSHOT or
 * CHANGE replaces the table; when the stream ends or fails, the page
 * reconnects with exponential backoff and receives a fresh snapshot. A
 * refused token (expired, tampered, another customer) stops it.
 *
 * Type-checked by the repository's `tsc --noEmit` with the Node typings:
 * the few DOM members it uses are declared below, because loading the DOM
 * library into that one program changes Node's global types (fetch bodies).
 */
import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import {
  type Entitlement,
  type EntitlementSource,
  EntitlementSourceKind,
  EntitlementsService,
  type WatchEntitlementsResponse,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';

interface PageElement {
  textContent: string | null;
  className: string;
  readonly dataset: Record<string, string | undefined>;
  append(...children: PageElement[]): void;
  replaceChildren(...children: PageElement[]): void;
  setAttribute(name: string, value: string): void;
}
declare const document: {
  getElementById(id: string): PageElement | null;
  createElement(tag: 'td' | 'tr' | 'ul' | 'li'): PageElement;
};
declare const location: { readonly hash: string; readonly origin: string };

/** The server sends a heartbeat every WATCH_HEARTBEAT_MS (15 s by default); silence this long means a dead connection. */
const silenceLimitMs = 45_000;
const firstRetryMs = 500;
const maxRetryMs = 30_000;
/** Codes that a retry cannot fix: stop and say why. */
const finalCodes = new Set([
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.InvalidArgument,
  Code.Unimplemented,
]);

type State = 'connecting' | 'connected' | 'reconnecting' | 'stopped';

function element(id: string): PageElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

function setStatus(state: State, detail = ''): void {
  const status = element('status');
  status.dataset.state = state;
  status.textContent = state;
  element('detail').textContent = detail;
}

function fragmentParams(): { token: string; customer: string } | undefined {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  const customer = params.get('customer');
  return token && customer ? { token, customer } : undefined;
}

function formatTime(timestamp: Timestamp | undefined): string {
  return timestamp ? timestampDate(timestamp).toISOString().replace('.000Z', 'Z') : '—';
}

const sourceKinds: Record<EntitlementSourceKind, string> = {
  [EntitlementSourceKind.UNSPECIFIED]: 'unknown',
  [EntitlementSourceKind.SUBSCRIPTION]: 'subscription',
  [EntitlementSourceKind.PURCHASE]: 'purchase',
  [EntitlementSourceKind.GRANT]: 'grant',
  [EntitlementSourceKind.CREDITS]: 'credits',
};

function describeSource(source: EntitlementSource): string {
  const parts = [`${sourceKinds[source.kind]} ${source.id}`];
  if (source.status) parts.push(source.status);
  if (source.catalogId) parts.push(source.catalogId);
  parts.push(source.limit === undefined ? 'unlimited' : `limit ${source.limit}`);
  if (source.validUntil) parts.push(`until ${formatTime(source.validUntil)}`);
  return parts.join(' · ');
}

function cell(text: string, className?: string): PageElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(entitlement: Entitlement): PageElement {
  const tr = document.createElement('tr');
  tr.dataset.feature = entitlement.feature;
  const sources = document.createElement('ul');
  for (const source of entitlement.sources) {
    const li = document.createElement('li');
    li.textContent = describeSource(source);
    sources.append(li);
  }
  const sourcesCell = document.createElement('td');
  sourcesCell.append(sources);
  tr.append(
    cell(entitlement.feature, 'feature'),
    cell(entitlement.limit === undefined ? 'unlimited' : String(entitlement.limit)),
    sourcesCell,
    cell(formatTime(entitlement.validUntil), 'time'),
  );
  return tr;
}

let updates = 0;

function render(message: WatchEntitlementsResponse): void {
  const body = element('entitlements');
  const rows = message.entitlements.filter((e) => e.allowed).map(row);
  if (rows.length === 0) {
    const empty = cell('No entitlements', 'empty');
    empty.setAttribute('colspan', '4');
    const tr = document.createElement('tr');
    tr.append(empty);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  body.dataset.loaded = 'true';
  updates += 1;
  const kind = message.kind === WatchEventKind.SNAPSHOT ? 'snapshot' : 'change';
  element('updated').textContent =
    `Last update: ${kind} sent ${formatTime(message.sentAt)} · updates received: ${updates}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... up to 30 s, each 50-100 %. */
function retryDelay(attempt: number): number {
  const ceiling = Math.min(maxRetryMs, firstRetryMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() / 2));
}

async function watch(token: string, customerId: string): Promise<void> {
  const client = createClient(
    EntitlementsService,
    createConnectTransport({ baseUrl: location.origin }),
  );
  let failures = 0;
  for (;;) {
    setStatus(failures === 0 ? 'connecting' : 'reconnecting');
    const abort = new AbortController();
    let silence = setTimeout(() => abort.abort(), silenceLimitMs);
    let ending = 'the stream ended';
    try {
      const stream = client.watchEntitlements(
        { customerId },
        { headers: { authorization: `Bearer ${token}` }, signal: abort.signal },
      );
      for await (const message of stream) {
        clearTimeout(silence);
        silence = setTimeout(() => abort.abort(), silenceLimitMs);
        failures = 0;
        setStatus('connected');
        if (message.kind !== WatchEventKind.HEARTBEAT) render(message);
      }
    } catch (error) {
      const connectError = ConnectError.from(error);
      if (finalCodes.has(connectError.code)) {
        setStatus('stopped', connectError.rawMessage);
        return;
      }
      ending = abort.signal.aborted ? 'no message for too long' : connectError.rawMessage;
    } finally {
      clearTimeout(silence);
    }
    failures += 1;
    const delay = retryDelay(failures);
    setStatus('reconnecting', `${ending}; retrying in ${(delay / 1000).toFixed(1)} s`);
    await sleep(delay);
  }
}

const params = fragmentParams();
if (params) {
  element('customer').textContent = params.customer;
  void watch(params.token, params.customer);
} else {
  setStatus('stopped', 'open this page as /demo#token=ct_...&customer=<customer id>');
}
