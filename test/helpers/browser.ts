/**
 * Debian's Chromium, headless, for the browser tests (playwright-core
 * drives it): a fresh profile each launch, removed on close.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { chromiumBin } from './services.js';

export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(viewport: {
  width: number;
  height: number;
}): Promise<TestBrowser> {
  const executablePath = chromiumBin();
  const profileDir = await mkdtemp(path.join(os.tmpdir(), 'chromium-profile-'));
  // Without the background-networking flags Chromium keeps calling home on a machine with no internet.
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}
