/**
 * The operator's admin key, for this tab only: kept in session storage
 * (gone when the tab closes; never a cookie, never in the URL), sent as a
 * bearer on every call, cleared by signing out.
 */
const storageKey = 'billing-console-admin-key';

export function currentKey(): string | null {
  return sessionStorage.getItem(storageKey);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(storageKey, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(storageKey);
}
