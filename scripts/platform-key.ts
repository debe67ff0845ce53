/**
 * `npm run platform-key -- create "<reason>"` prints a new platform key
 * (scope `platform:admin`: it creates projects and does nothing else);
 * `npm run platform-key -- revoke <key id> "<reason>"` revokes one on every
 * replica. Reads the service's own configuration (MONGODB_URL, REDIS_URL, ...).
 */
import { InvalidationBus } from '../src/cache/invalidation-bus.js';
import { closeRedis, connectRedis, redisReady } from '../src/cache/redis.js';
import { isConfigError, loadConfig } from '../src/config.js';
import { platformProjectId } from '../src/domain/api-keys.js';
import { createLogger } from '../src/logger.js';
import { ApiKeyService } from '../src/services/api-key-service.js';
import { ApiKeyStore } from '../src/store/api-key-store.js';
import { AuditLogStore } from '../src/store/audit-log-store.js';
import { connectMongo } from '../src/store/mongo.js';

const redisTimeoutMs = 10_000;
const usage = 'usage: platform-key create "<reason>" | platform-key revoke <key id> "<reason>"';

async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  const config = loadConfig(process.env);
  const logger = createLogger({ level: 'warn' });
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDatabase, {});
  const redis = connectRedis(config.redisUrl, logger);
  try {
    // A revocation is published to every replica: Redis must be there first.
    await redisReady(redis.commands, redisTimeoutMs);
    const bus = new InvalidationBus(redis.commands, redis.subscriber, logger);
    const keys = new ApiKeyService(new ApiKeyStore(mongo.db), new AuditLogStore(mongo.db), bus);
    if (command === 'create' && rest[0]) {
      const created = await keys.createPlatformKey('platform key', 'platform-key command', rest[0]);
      process.stdout.write(`key id ${created.key._id}\n${created.secret}\n`);
      return 0;
    }
    if (command === 'revoke' && rest[0] && rest[1]) {
      const revoked = await keys.revoke(
        platformProjectId,
        rest[0],
        'platform-key command',
        rest[1],
      );
      process.stdout.write(revoked ? `revoked ${rest[0]}\n` : `no platform key ${rest[0]}\n`);
      return revoked ? 0 : 1;
    }
    process.stderr.write(`${usage}\n`);
    return 64;
  } finally {
    await closeRedis(redis);
    await mongo.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      isConfigError(err) ? `${err.message}\n` : `platform-key failed: ${String(err)}\n`,
    );
    process.exit(isConfigError(err) ? 2 : 1);
  },
);
