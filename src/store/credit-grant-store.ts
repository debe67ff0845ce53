/**
 * Credit grants (GrantCredits) as insert-only facts in `credit_grants`: the
 * grant (`_id` = its crd_ id) and at most one revocation (`_id` = the
 * grant's id + `:revoked`). No document is ever updated, so two concurrent
 * revocations cannot both win on FerretDB, whose updates are not atomic
 * (docs/ferretdb.md): the first insert is the revocation, the second gets
 * 'exists' and reads it.
 */
import type { Collection, Db } from 'mongodb';
import type { CreditGrantRecord } from '../domain/records.js';
import { insertOnce } from './insert-once.js';

type CreditGrantFactDoc = Omit<CreditGrantRecord, 'revoked_at' | 'revoked_by' | 'revoke_reason'> & {
  fact: 'grant';
};

interface CreditRevocationFactDoc {
  _id: string;
  fact: 'revocation';
  credit_id: string;
  project_id: string;
  customer_id: string;
  revoked_at: Date;
  revoked_by: string;
  revoke_reason: string;
}

type CreditFactDoc = CreditGrantFactDoc | CreditRevocationFactDoc;

export interface CreditRevocation {
  readonly by: string;
  readonly reason: string;
  readonly at: Date;
}

const revocationIdOf = (creditId: string) => `${creditId}:revoked`;

export class CreditGrantStore {
  private readonly facts: Collection<CreditFactDoc>;

  constructor(db: Db) {
    this.facts = db.collection<CreditFactDoc>('credit_grants');
  }

  async create(grant: CreditGrantRecord): Promise<CreditGrantRecord> {
    const { revoked_at, revoked_by, revoke_reason, ...fields } = grant;
    await this.facts.insertOne({ ...fields, fact: 'grant' });
    return grant;
  }

  /** Null when the project has no such grant. Two lookups by `_id`: the fast path on FerretDB. */
  async get(projectId: string, creditId: string): Promise<CreditGrantRecord | null> {
    const [grant, revocation] = await Promise.all([
      this.facts.findOne({ _id: creditId, project_id: projectId }),
      this.facts.findOne({ _id: revocationIdOf(creditId), project_id: projectId }),
    ]);
    if (grant?.fact !== 'grant') return null;
    return recordOf(grant, revocation?.fact === 'revocation' ? revocation : undefined);
  }

  /** 'exists': it was revoked before (by this call's twin or another replica). */
  async revoke(
    grant: CreditGrantRecord,
    revocation: CreditRevocation,
  ): Promise<'inserted' | 'exists'> {
    return insertOnce<CreditFactDoc>(this.facts, {
      _id: revocationIdOf(grant._id),
      fact: 'revocation',
      credit_id: grant._id,
      project_id: grant.project_id,
      customer_id: grant.customer_id,
      revoked_at: revocation.at,
      revoked_by: revocation.by,
      revoke_reason: revocation.reason,
    });
  }

  /** Every grant of a customer, revoked and expired ones too, sorted by id (by creation). */
  async listForCustomer(projectId: string, customerId: string): Promise<CreditGrantRecord[]> {
    const facts = await this.facts
      .find({ project_id: projectId, customer_id: customerId })
      .toArray();
    const revocations = new Map<string, CreditRevocationFactDoc>();
    for (const fact of facts) if (fact.fact === 'revocation') revocations.set(fact.credit_id, fact);
    return facts
      .flatMap((fact) => (fact.fact === 'grant' ? [recordOf(fact, revocations.get(fact._id))] : []))
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
  }
}

function recordOf(
  grant: CreditGrantFactDoc,
  revocation: CreditRevocationFactDoc | undefined,
): CreditGrantRecord {
  const { fact, ...fields } = grant;
  return {
    ...fields,
    revoked_at: revocation?.revoked_at ?? null,
    revoked_by: revocation?.revoked_by ?? null,
    revoke_reason: revocation?.revoke_reason ?? null,
  };
}
