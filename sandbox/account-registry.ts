/**
 * The sandbox's accounts, one per API key (Stripe keeps accounts apart by
 * key): created on first use, listed together when no key is given, and
 * searched for a customer by id, by the service's customer id or by email.
 */
import { Account } from './objects/account.js';
import type { FoundCustomer } from './sandbox-handle.js';

export class AccountRegistry {
  private accounts: Map<string, Account>;

  constructor(
    accounts: Map<string, Account>,
    private readonly defaultApiKey: string,
  ) {
    this.accounts = accounts;
  }

  /** Every account by API key (what is saved to disk). */
  get all(): ReadonlyMap<string, Account> {
    return this.accounts;
  }

  accountFor(apiKey: string = this.defaultApiKey): Account {
    let account = this.accounts.get(apiKey);
    if (account === undefined) {
      account = new Account();
      this.accounts.set(apiKey, account);
    }
    return account;
  }

  /** The key's account, or every account when no key is given. */
  accountsFor(apiKey: string | undefined): Account[] {
    return apiKey === undefined ? [...this.accounts.values()] : [this.accountFor(apiKey)];
  }

  findCustomer(reference: string): FoundCustomer | undefined {
    for (const [apiKey, account] of this.accounts) {
      const customer = account.customers
        .values()
        .find(
          (c) =>
            c.id === reference ||
            c.metadata.billing_customer_id === reference ||
            c.email === reference,
        );
      if (customer !== undefined) return { apiKey, customer };
    }
    return undefined;
  }

  /** The API key of the account that holds checkout session `id`. */
  keyOfSession(id: string): string | undefined {
    return [...this.accounts].find(
      ([, account]) => account.checkoutSessions.get(id) !== undefined,
    )?.[0];
  }

  reset(): void {
    this.accounts = new Map();
  }
}
