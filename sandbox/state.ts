/**
 * Every account of the sandbox by API key, and saving them to a JSON file
 * (written shortly after each change, and on close) so a restart keeps the
 * customers, subscriptions, events and the clock.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Account, type AccountSnapshot } from './objects/account.js';

interface StateFile {
  readonly version: 1;
  readonly clockOffsetSeconds: number;
  readonly accounts: Record<string, AccountSnapshot>;
}

export interface LoadedState {
  readonly accounts: Map<string, Account>;
  readonly clockOffsetSeconds: number;
}

export function loadState(file: string | undefined): LoadedState {
  if (file === undefined || !existsSync(file))
    return { accounts: new Map(), clockOffsetSeconds: 0 };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
  const accounts = new Map<string, Account>();
  for (const [key, snapshot] of Object.entries(parsed.accounts)) {
    accounts.set(key, Account.restore(snapshot));
  }
  return { accounts, clockOffsetSeconds: parsed.clockOffsetSeconds };
}

/** Coalesces saves: at most one write in flight, the last state always written. */
export class StateSaver {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string | undefined,
    private readonly state: () => {
      accounts: ReadonlyMap<string, Account>;
      clockOffsetSeconds: number;
    },
    private readonly delayMs = 100,
  ) {}

  schedule(): void {
    if (this.file === undefined || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.delayMs);
  }

  async flush(): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const { accounts, clockOffsetSeconds } = this.state();
    const content: StateFile = {
      version: 1,
      clockOffsetSeconds,
      accounts: Object.fromEntries([...accounts].map(([key, a]) => [key, a.snapshot()])),
    };
    const text = `${JSON.stringify(content)}\n`;
    this.writing = this.writing.then(async () => {
      await mkdir(path.dirname(file), { recursive: true });
      // Written aside and renamed, so a crash never leaves half a file.
      await writeFile(`${file}.tmp`, text, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    });
    await this.writing;
  }
}
