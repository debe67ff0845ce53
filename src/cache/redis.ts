/**
 * Redis connections. Commands fail at once while Redis is unreachable (no
 * offline queue): the cache is an optimisation, and a check must fall back
 * to MongoDB instead of waiting on a reconnect. A subscriber needs its own
 * connection; ioredis resubscribes it after every reconnect.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export interface RedisConnections {
  readonly commands: Redis;
  readonly subscriber: Redis;
}

export function connectRedis(url: string, logger: Logger): RedisConnections {
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // A Redis that hangs (not down, just silent) must not hang a check.
    commandTimeout: 500,
    // Keep retrying forever, at most every 2 s: Redis coming back must heal
    // the cache and the streams without a restart.
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  const commands = new Redis(url, { ...options, connectionName: 'billing-commands' });
  // The subscriber queues its SUBSCRIBE until connected.
  const subscriber = new Redis(url, {
    ...options,
    enableOfflineQueue: true,
    connectionName: 'billing-subscriber',
  });
  for (const [role, client] of [
    ['commands', commands],
    ['subscriber', subscriber],
  ] as const) {
    let down = false;
    client.on('error', (err: Error) => {
      if (!down) logger.warn('redis unreachable', { role, error: err });
      down = true;
    });
    client.on('ready', () => {
      if (down) logger.info('redis reachable again', { role });
      down = false;
    });
  }
  return { commands, subscriber };
}

/**
 * Resolves once the connection is ready. The commands connection queues
 * nothing while it connects (enableOfflineQueue: false, so a request never
 * waits on a Redis that is down), so a short-lived process that must publish
 * waits for this first.
 */
export function redisReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return withTimeout(
    new Promise<void>((resolve) => redis.once('ready', () => resolve())),
    timeoutMs,
  );
}

export async function pingRedis(redis: Redis, timeoutMs: number): Promise<boolean> {
  try {
    const answer = await withTimeout(redis.ping(), timeoutMs);
    return answer === 'PONG';
  } catch {
    return false;
  }
}

export async function closeRedis(connections: RedisConnections): Promise<void> {
  connections.subscriber.disconnect();
  try {
    await connections.commands.quit();
  } catch {
    connections.commands.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
