import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Teardown } from './net.js';

/** The system's Chromium (Debian package `chromium`, installed by .ci/run): never a downloaded browser. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** A page and what it said on its console (errors, uncaught exceptions) while the test ran. */
export interface BrowserPage { context: BrowserContext; page: Page; errors: string[] }

/**
 * Headless Chromium with a fresh profile in a temporary directory, removed at teardown with the
 * browser. `errors` collects console errors and uncaught page exceptions, so a test can say the
 * page ran clean.
 */
export async function openBrowser(t: Teardown, viewport = { width: 1000, height: 700 }): Promise<BrowserPage> {
  const profile = mkdtempSync(join(tmpdir(), 'relay-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
  t.teardown(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}
