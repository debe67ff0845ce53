/**
 * One step of a reservation, run in a child process that dies (SIGKILL)
 * right after the step's ledger insert and before it answers: what a
 * replica that crashes mid-call leaves behind. Used by
 * reservation-crash.test.ts; argv: database, step (`reserve` | `commit` |
 * `release`), a JSON request. The clock is the parent's (`now` in it).
 */
import { MongoClient } from 'mongodb';
import { ReservationService } from '../../src/services/reservation-service.js';
import { UsageLedgerStore } from '../../src/store/usage-ledger-store.js';
import { type CrashStep, crashStepRequest } from './reservation-crash-world.js';

const [database = '', step = '', json = '{}'] = process.argv.slice(2);
const client = await MongoClient.connect(process.env.TEST_MONGODB_URL ?? '');
const ledger = new UsageLedgerStore(client.db(database));
const dying: Pick<UsageLedgerStore, 'append' | 'entryAt' | 'knownHold'> = {
  entryAt: (chain, seq) => ledger.entryAt(chain, seq),
  knownHold: (chain, id) => ledger.knownHold(chain, id),
  append: async (...args) => {
    await ledger.append(...args);
    process.kill(process.pid, 'SIGKILL');
    return new Promise<never>(() => {});
  },
};
await crashStepRequest(new ReservationService({ ledger: dying }), step as CrashStep, json);
// Not reached: the process died inside the step.
process.exit(3);
