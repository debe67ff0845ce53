/**
 * The native gRPC calls' deadlines on one timer (src/server/call-deadlines.ts):
 * each call is told when its own deadline passes, in deadline order, and a
 * call that ended first is never told.
 */
import test from 'ava';
import { CallDeadlines, type DeadlineBound } from '../../src/server/call-deadlines.js';

/**
 * A call that records when, in the order of all calls, it was told. Like a
 * real call's HTTP/2 stream, it keeps the process alive until it ends (the
 * shared timer does not).
 */
function call(name: string, told: string[]) {
  const stream = setInterval(() => {}, 60_000);
  let resolve = () => {};
  const passed = new Promise<void>((done) => {
    resolve = done;
  });
  const bound: DeadlineBound = {
    onDeadline() {
      told.push(name);
      clearInterval(stream);
      resolve();
    },
  };
  return { bound, passed, end: () => clearInterval(stream) };
}

test('calls are told in deadline order, whatever order they came in; an ended call never', async (t) => {
  const deadlines = new CallDeadlines();
  const told: string[] = [];
  const now = Date.now();
  const late = call('late', told);
  const ended = call('ended', told);
  const early = call('early', told);
  deadlines.add(late.bound, now + 60);
  deadlines.add(ended.bound, now + 30);
  deadlines.add(early.bound, now + 5);
  deadlines.remove(ended.bound);
  ended.end();
  await late.passed;
  t.deepEqual(told, ['early', 'late']);
});

test('a call added after the timer was armed for a later deadline is told first', async (t) => {
  const deadlines = new CallDeadlines();
  const told: string[] = [];
  const now = Date.now();
  const far = call('far', told);
  const near = call('near', told);
  deadlines.add(far.bound, now + 80);
  deadlines.add(near.bound, now + 10);
  await near.passed;
  t.deepEqual(told, ['near']);
  await far.passed;
  t.deepEqual(told, ['near', 'far']);
});

test('a deadline already past is told on the next turn of the event loop', async (t) => {
  const deadlines = new CallDeadlines();
  const told: string[] = [];
  const past = call('past', told);
  deadlines.add(past.bound, Date.now() - 1000);
  t.deepEqual(told, [], 'not inside add');
  await past.passed;
  t.deepEqual(told, ['past']);
});
