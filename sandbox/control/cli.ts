/**
 * `npm run sandbox -- <command>`: drives a running sandbox over its control
 * API (`/_sandbox/...`, see control-routes.ts). SANDBOX_URL, else
 * http://127.0.0.1:$SANDBOX_PORT (default 8081).
 */
export const USAGE = `usage: npm run sandbox -- <command>
  status                                   the clock, counts, webhook endpoints, switches
  advance <duration>                       move the test clock (31d, 12h, 90m, 45s, 2w)
  trigger payment_failed --customer <id>   fail the customer's next payment now (past_due)
  trigger subscription_deleted --customer <id>
  events [--limit n]                       newest first
  customers                                with their subscriptions
  deliveries [--limit n]                   webhook attempts, newest first
  switches [--duplicates on|off] [--reorder on|off]
  pay <checkout session id> [--card 4242424242424242]
<id> of a customer: cus_..., the service's customer id (u1) or an email`;

export interface CliIo {
  readonly baseUrl: string;
  out(line: string): void;
}

export class CliUsageError extends Error {}

function flag(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  if (at === -1) return undefined;
  const value = args[at + 1];
  if (value === undefined || value.startsWith('--'))
    throw new CliUsageError(`--${name} needs a value`);
  return value;
}

function onOff(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  throw new CliUsageError(`--${name} is on or off`);
}

async function call(
  io: CliIo,
  method: 'GET' | 'POST',
  path: string,
  body?: object,
): Promise<unknown> {
  const response = await fetch(`${io.baseUrl}/_sandbox/${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer: unknown = await response.json();
  if (!response.ok) {
    const error = (answer as { error?: { message?: string } }).error;
    throw new Error(error?.message ?? `the sandbox answered ${response.status}`);
  }
  return answer;
}

const time = (seconds: unknown): string =>
  typeof seconds === 'number' ? new Date(seconds * 1000).toISOString().replace('.000', '') : '-';

type Row = Record<string, unknown>;

function rows(value: unknown): Row[] {
  return Array.isArray(value) ? (value as Row[]) : [];
}

/** Runs one command; returns the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  const limit = flag(rest, 'limit') ?? '20';
  switch (command) {
    case 'status': {
      const status = (await call(io, 'GET', 'status')) as Row;
      io.out(`sandbox ${String(status.url)}, clock ${time(status.now)}`);
      io.out(
        `  ${status.customers} customers, ${status.subscriptions} subscriptions, ${status.events} events, ${status.pendingDeliveries} deliveries pending`,
      );
      for (const url of rows(status.webhookEndpoints)) io.out(`  webhook endpoint ${String(url)}`);
      io.out(`  switches ${JSON.stringify(status.switches)}`);
      return 0;
    }
    case 'advance': {
      const duration = rest[0];
      if (duration === undefined) throw new CliUsageError('advance needs a duration, e.g. 31d');
      const answer = (await call(io, 'POST', 'advance', { duration })) as Row;
      io.out(`clock now ${time(answer.now)}`);
      return 0;
    }
    case 'trigger': {
      const type = rest[0];
      const customer = flag(rest, 'customer');
      if (type === undefined || customer === undefined) {
        throw new CliUsageError('trigger needs a type and --customer <id>');
      }
      const answer = (await call(io, 'POST', 'trigger', { type, customer })) as Row;
      for (const event of rows(answer.events)) io.out(`${String(event.id)} ${String(event.type)}`);
      return 0;
    }
    case 'events':
      for (const event of rows(await call(io, 'GET', `events?limit=${limit}`))) {
        io.out(`${time(event.created)}  ${String(event.type).padEnd(40)} ${String(event.object)}`);
      }
      return 0;
    case 'customers':
      for (const customer of rows(await call(io, 'GET', 'customers'))) {
        io.out(`${customer.id}  ${customer.billing_customer_id ?? '-'}  ${customer.email ?? '-'}`);
        for (const sub of rows(customer.subscriptions)) {
          const cancel = sub.cancel_at_period_end === true ? ' (cancels at period end)' : '';
          io.out(
            `  ${sub.id} ${sub.status} ${rows(sub.prices).join(', ')} until ${time(sub.current_period_end)}${cancel}`,
          );
        }
      }
      return 0;
    case 'deliveries':
      for (const attempt of rows(await call(io, 'GET', `deliveries?limit=${limit}`))) {
        const outcome = attempt.status === 0 ? `failed: ${attempt.error}` : attempt.status;
        io.out(
          `${new Date(Number(attempt.at)).toISOString()}  ${String(attempt.eventType).padEnd(40)} attempt ${attempt.attempt} → ${outcome}`,
        );
      }
      return 0;
    case 'switches': {
      const duplicates = onOff(flag(rest, 'duplicates'), 'duplicates');
      const reorder = onOff(flag(rest, 'reorder'), 'reorder');
      io.out(JSON.stringify(await call(io, 'POST', 'switches', { duplicates, reorder })));
      return 0;
    }
    case 'pay': {
      const session = rest[0];
      if (session === undefined) throw new CliUsageError('pay needs a checkout session id');
      const card = flag(rest, 'card');
      await call(
        io,
        'POST',
        `checkout/${encodeURIComponent(session)}/complete`,
        card ? { card } : {},
      );
      io.out(`paid ${session}`);
      return 0;
    }
    default:
      throw new CliUsageError(command === undefined ? 'no command' : `unknown command ${command}`);
  }
}
