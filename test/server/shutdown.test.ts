// needs: mongodb redis
/**
 * SIGTERM: the service ends open streams, drains, closes its pools and exits
 * 0; a request after that finds the port closed.
 */
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { Health } from '../../gen/health/v1/health_pb.js';
import { spawnService } from '../helpers/process.js';
import { testMongoUrl, testRedisUrl, uniqueDbName } from '../helpers/services.js';
import { hasSettled, waitFor } from '../helpers/wait.js';

test('SIGTERM ends open streams and exits 0', async (t) => {
  const service = await spawnService({
    MONGODB_URL: testMongoUrl(),
    MONGODB_DATABASE: uniqueDbName('shutdown'),
    REDIS_URL: testRedisUrl(),
  });
  const health = createClient(
    Health,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.port}` }),
  );
  const stream = health.watch({ service: '' })[Symbol.asyncIterator]();
  const first = await stream.next();
  t.false(first.done);

  service.child.kill('SIGTERM');
  // The stream ends (cleanly or with an error) instead of hanging.
  const ended = (async () => {
    try {
      while (!(await stream.next()).done) {
        // Status updates while shutting down are fine; wait for the end.
      }
    } catch {
      // Ended by the server: what shutdown must do.
    }
    return true;
  })();
  await waitFor(() => hasSettled(ended), { what: 'the stream to end' });
  t.true(await ended, 'the stream ended');
  t.is(await service.exited, 0);
  t.true(service.logs.some((line) => line.includes('"msg":"stopped"')));
  await t.throwsAsync(fetch(`http://127.0.0.1:${service.port}/healthz`));
});
