/**
 * Config: every setting from the environment, validated at start; a bad or
 * missing value stops the service with a message naming the variable.
 */
import test from 'ava';
import { isConfigError, loadConfig } from '../src/config.js';
import { runServiceToExit } from './helpers/process.js';
import { testMasterKeys } from './helpers/services.js';

const valid = {
  MONGODB_URL: 'mongodb://127.0.0.1:27017/',
  REDIS_URL: 'redis://127.0.0.1:6379',
  MASTER_KEYS: testMasterKeys(),
};

test('defaults apply when only the required variables are set', (t) => {
  const config = loadConfig(valid);
  t.is(config.port, 8080);
  t.is(config.mongodbDatabase, 'billing');
  t.is(config.logLevel, 'info');
  t.is(config.tls, undefined);
});

const badValues: ReadonlyArray<[string, Record<string, string>]> = [
  ['MONGODB_URL', { REDIS_URL: valid.REDIS_URL }],
  ['MONGODB_URL', { ...valid, MONGODB_URL: 'postgres://x' }],
  ['REDIS_URL', { MONGODB_URL: valid.MONGODB_URL }],
  ['REDIS_URL', { ...valid, REDIS_URL: 'not a url' }],
  ['PORT', { ...valid, PORT: 'eighty' }],
  ['PORT', { ...valid, PORT: '70000' }],
  ['LOG_LEVEL', { ...valid, LOG_LEVEL: 'loud' }],
  ['TLS_KEY_FILE', { ...valid, TLS_CERT_FILE: '/tmp/cert.pem' }],
  ['MAX_REQUEST_BYTES', { ...valid, MAX_REQUEST_BYTES: '-5' }],
  ['MASTER_KEYS', { MONGODB_URL: valid.MONGODB_URL, REDIS_URL: valid.REDIS_URL }],
  ['MASTER_KEYS', { ...valid, MASTER_KEYS: `k1:${Buffer.alloc(16).toString('base64')}` }],
  ['MASTER_KEYS', { ...valid, MASTER_KEYS: Buffer.alloc(32).toString('base64') }],
  ['MASTER_KEYS', { ...valid, MASTER_KEYS: `${valid.MASTER_KEYS},${valid.MASTER_KEYS}` }],
];

for (const [variable, env] of badValues) {
  test(`${variable}: ${JSON.stringify(env[variable] ?? 'missing')} is refused by name`, (t) => {
    const err = t.throws(() => loadConfig(env));
    t.true(isConfigError(err));
    t.true(err?.message.includes(variable));
  });
}

test('a URL with a password is never echoed back in the error', (t) => {
  const err = t.throws(() => loadConfig({ ...valid, REDIS_URL: 'redis://:s3cret@' }));
  t.false(err?.message.includes('s3cret'));
});

test('a master key is never echoed back in the error', (t) => {
  const short = `k1:${Buffer.from('sixteen-byte-key').toString('base64')}`;
  const err = t.throws(() => loadConfig({ ...valid, MASTER_KEYS: short }));
  t.false(err?.message.includes(short.slice(3)));
});

test('the service exits non-zero naming the variable', async (t) => {
  const missing = await runServiceToExit({ REDIS_URL: valid.REDIS_URL });
  t.is(missing.code, 2);
  t.regex(missing.stderr, /MONGODB_URL is required/);

  const badPort = await runServiceToExit({ ...valid, PORT: 'abc' });
  t.is(badPort.code, 2);
  t.regex(badPort.stderr, /PORT must be a whole number/);
});

test('the metrics listener binds to loopback on 9464 by default, and can be turned off', (t) => {
  const config = loadConfig(valid);
  t.is(config.metricsHost, '127.0.0.1');
  t.is(config.metricsPort, 9464);
  t.is(loadConfig({ ...valid, METRICS_PORT: 'off' }).metricsPort, undefined);
  t.is(loadConfig({ ...valid, METRICS_PORT: '0' }).metricsPort, 0);
  t.throws(() => loadConfig({ ...valid, METRICS_PORT: 'on' }), { message: /METRICS_PORT/ });
});

test('HTTP timeouts: defaults, and combinations that cannot work are refused by name', (t) => {
  t.deepEqual(loadConfig(valid).httpTimeouts, {
    headersMs: 10_000,
    requestMs: 30_000,
    idleMs: 60_000,
  });
  t.throws(
    () =>
      loadConfig({ ...valid, HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' }),
    { message: /HTTP_REQUEST_TIMEOUT_MS/ },
  );
  // Quiet streams would be cut between two heartbeats.
  t.throws(
    () => loadConfig({ ...valid, HTTP_IDLE_TIMEOUT_MS: '15000', WATCH_HEARTBEAT_MS: '15000' }),
    { message: /HTTP_IDLE_TIMEOUT_MS/ },
  );
  t.throws(() => loadConfig({ ...valid, HTTP_IDLE_TIMEOUT_MS: 'soon' }), {
    message: /HTTP_IDLE_TIMEOUT_MS/,
  });
});

test('USAGE_CHANGE_COALESCE_MS: 250 by default, 0 turns coalescing off, a negative value is refused by name', (t) => {
  t.is(loadConfig(valid).usageChangeCoalesceMs, 250);
  t.is(loadConfig({ ...valid, USAGE_CHANGE_COALESCE_MS: '0' }).usageChangeCoalesceMs, 0);
  t.throws(() => loadConfig({ ...valid, USAGE_CHANGE_COALESCE_MS: '-1' }), {
    message: /USAGE_CHANGE_COALESCE_MS/,
  });
});

test('meter reports: every 10 s in rounds of 100 by default; off, bounds and a bad cron are refused', (t) => {
  const defaults = loadConfig(valid);
  t.is(defaults.meterReportCron, '*/10 * * * * *');
  t.is(defaults.meterReportBatchSize, 100);
  t.is(defaults.meterReportFailingAfter, 10);
  t.is(loadConfig({ ...valid, METER_REPORT_CRON: 'off' }).meterReportCron, undefined);
  t.is(loadConfig({ ...valid, METER_REPORT_BATCH_SIZE: '1000' }).meterReportBatchSize, 1000);
  for (const [variable, value] of [
    ['METER_REPORT_CRON', 'every ten seconds'],
    ['METER_REPORT_BATCH_SIZE', '0'],
    ['METER_REPORT_BATCH_SIZE', '1001'],
    ['METER_REPORT_FAILING_AFTER', '0'],
    ['USAGE_CLAIM_RETENTION_DAYS', '7'],
  ] as const) {
    const err = t.throws(() => loadConfig({ ...valid, [variable]: value }));
    t.true(isConfigError(err), variable);
    t.true(err?.message.includes(variable), variable);
  }
});
