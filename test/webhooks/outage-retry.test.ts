/**
 * The last mark of an applied webhook event is tried again while MongoDB is
 * down (src/stripe/outage-retry.ts): a restart that loses a write's reply
 * must not turn an applied event into a 5xx. Only dependency outages are
 * retried, and only for the given time.
 */
import test from 'ava';
import { MongoNetworkError } from 'mongodb';
import { retryThroughOutage } from '../../src/stripe/outage-retry.js';

/** A clock that the waits move forward, so the budget is counted without real time. */
function fakeTime() {
  let nowMs = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => nowMs,
    wait: async (ms: number) => {
      waits.push(ms);
      nowMs += ms;
    },
  };
}

/** A write that fails with `errors` in turn, then answers 'marked'. */
function failingWrite(errors: Error[]) {
  let tries = 0;
  return {
    tries: () => tries,
    write: async () => {
      tries += 1;
      const error = errors[tries - 1];
      if (error) throw error;
      return 'marked';
    },
  };
}

test('a write that meets MongoDB restarting is tried again until it lands', async (t) => {
  const time = fakeTime();
  const down = new MongoNetworkError('read ECONNRESET');
  const write = failingWrite([down, down, down]);
  const result = await retryThroughOutage(write.write, { budgetMs: 10_000, ...time });
  t.is(result, 'marked');
  t.is(write.tries(), 4);
  t.deepEqual(time.waits, [50, 100, 200]);
});

test('a failure that is not an outage is thrown at once', async (t) => {
  const time = fakeTime();
  const write = failingWrite([new Error('E11000 duplicate key')]);
  await t.throwsAsync(retryThroughOutage(write.write, { budgetMs: 10_000, ...time }), {
    message: 'E11000 duplicate key',
  });
  t.is(write.tries(), 1);
});

test('an outage longer than the budget is thrown, with no try after it', async (t) => {
  const time = fakeTime();
  const down = new MongoNetworkError('connect ECONNREFUSED');
  const write = failingWrite(Array.from({ length: 100 }, () => down));
  await t.throwsAsync(retryThroughOutage(write.write, { budgetMs: 1000, ...time }), {
    instanceOf: MongoNetworkError,
  });
  t.true(time.now() <= 1000, `no wait past the budget (${time.now()} ms)`);
  t.deepEqual(time.waits, [50, 100, 200, 400]);
});
