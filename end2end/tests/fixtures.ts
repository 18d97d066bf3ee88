import { test as base, expect, BrowserContext, Locator, Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';

export { expect };

/**
 * An environment variable scripts/e2e.sh sets. Without it the test fails: a test that skipped
 * itself would let the suite pass without having run.
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests with scripts/e2e.sh (arguments go to Playwright)`);
  return value;
}

export const ADMIN_USER = process.env.E2E_ADMIN_USER ?? 'admin';
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? '';
/** An administrator the throttling test locks out (scripts/e2e.sh creates it). */
export const LOCK_USER = process.env.E2E_LOCK_USER ?? 'e2e-locked';
/** An administrator whose password the account test changes. */
export const PASSWORD_USER = process.env.E2E_PASSWORD_USER ?? 'e2e-password';
export const IDLE_SECS = Number(process.env.E2E_IDLE_SECS ?? '5');
export const ABSOLUTE_SECS = Number(process.env.E2E_ABSOLUTE_SECS ?? '12');

/** The headers a browser sends on a same-origin form post (for requests made outside a page). */
export const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin' };

/** Console errors and warnings and uncaught exceptions per page, to explain a failed hydration. */
const consoles = new WeakMap<Page, string[]>();
const consoleOf = (page: Page) => {
  let lines = consoles.get(page);
  if (!lines) consoles.set(page, lines = []);
  return lines;
};

/** The browser console errors a test causes on purpose. */
export interface ConsoleErrors {
  /**
   * Declares that this test causes a console error matching `pattern` (keep it narrow): such
   * errors do not fail the test, and the test fails if none comes.
   */
  expect(pattern: RegExp): void;
}

/**
 * Playwright's `test`, failing any test whose pages, in any browser context it opens, log a
 * console error or throw an uncaught exception it did not declare. A hydration mismatch is
 * both: Leptos panics on it (a debug build first logs "A hydration error occurred ..."), the
 * portal's panic hook logs the panic with `console.error`, and the WASM then aborts with an
 * uncaught `RuntimeError`.
 */
export const test = base.extend<{ consoleErrors: ConsoleErrors }>({
  consoleErrors: [async ({ browser, context }, use, testInfo) => {
    const expected: RegExp[] = [];
    const errors: string[] = [];
    const watch = (ctx: BrowserContext) => {
      ctx.on('console', m => {
        if (m.type() !== 'error' && m.type() !== 'warning') return;
        const line = `console.${m.type()}: ${m.text()} (at ${m.location().url})`;
        const page = m.page();
        if (page) consoleOf(page).push(line);
        if (m.type() === 'error') errors.push(line);
      });
      ctx.on('weberror', e => {
        const line = `uncaught exception: ${e.error().stack ?? e.error().message}`;
        const page = e.page();
        if (page) consoleOf(page).push(line);
        errors.push(line);
      });
    };
    watch(context);
    browser.on('context', watch);
    await use({ expect: pattern => { expected.push(pattern); } });
    browser.off('context', watch);
    const unexpected = errors.filter(line => !expected.some(p => p.test(line)));
    if (unexpected.length > 0) {
      throw new Error(`the browser reported ${unexpected.length} error(s):\n${unexpected.join('\n')}`);
    }
    const missing = expected.filter(p => !errors.some(line => p.test(line)));
    if (missing.length > 0 && testInfo.status === testInfo.expectedStatus) {
      throw new Error(`console errors expected but not seen: ${missing.join(', ')}`);
    }
  }, { auto: true }],
});

/** Waits until the WASM has hydrated the page (the app marks <body data-hydrated>). */
export async function hydrated(page: Page) {
  try {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  } catch (e) {
    throw new Error(`the page did not hydrate; browser console:\n${consoleOf(page).join('\n')}\n${e}`);
  }
}

/**
 * Waits until every element `locator` finds satisfies `ok` (and there is at least one). Once the
 * page is hydrated, the URL changes before the new results arrive, so a one-off read could see
 * the previous results.
 */
export async function expectEvery(locator: Locator, ok: (text: string) => boolean, what: string) {
  await expect.poll(async () => {
    const texts = (await locator.allTextContents()).map(t => t.trim());
    return texts.length > 0 && texts.every(ok) ? 'yes' : texts.join(' | ');
  }, { message: `every ${what}` }).toBe('yes');
}

/** Signs in through the form, as a person would. */
export async function signIn(page: Page, user = ADMIN_USER, password = ADMIN_PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in (landing on the overview) and opens the registration list. */
export async function signedIn(page: Page) {
  await signIn(page);
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Registrations', level: 1 })).toBeVisible();
}

export async function shot(page: Page, name: string) {
  mkdirSync('test-results/screenshots', { recursive: true });
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}

/**
 * The synthetic registration number `n` written by `dcr-dev seed` (see crates/dcr-devtools/src/seed.rs):
 * its client id and name. scripts/e2e.sh seeds 0 to 119.
 */
export function seeded(n: number) {
  const hex = (v: number, w: number) => v.toString(16).padStart(w, '0');
  const brands = ['Acme Money', 'Billabong Budget', 'Coral Finance', 'Dingo Data', 'Eucalypt Energy',
    'Flinders Analytics', 'Gumtree Insights', 'Harbour Lending', 'Ironbark Advisory', 'Jacaranda Wealth',
    'Kookaburra Compare', 'Lorikeet Loans'];
  const products = ['Budget Tracker', 'Spend Insights', 'Loan Compare', 'Energy Saver', 'Mortgage Check',
    'Tax Helper', 'Savings Coach', 'Bill Splitter'];
  const hostile = n % 50 === 7 ? HOSTILE_NAMES[0] : n % 50 === 13 ? HOSTILE_NAMES[1] : null;
  return {
    clientId: `${hex(n, 8)}-00c1-4000-8000-${hex(n, 12)}`,
    softwareId: `${hex(n, 8)}-50f7-4000-8000-${hex(n, 12)}`,
    name: hostile ?? `${brands[Math.floor(n / 3) % brands.length]} ${products[n % products.length]} #${n}`,
  };
}
export const SEEDED_COUNT = 120;
/** The hostile client names dev-seed gives registrations 7 and 13 (mod 50). */
export const HOSTILE_NAMES = ['<img src=x onerror=alert(1)>', `"><script>alert('xss')</script>`];
/** Seeded numbers by status (dev-seed's rule), for n in 0..120. */
export function seededStatus(n: number): string {
  if (n % 25 === 9) return 'removed';
  switch (n % 10) {
    case 3: return 'revoked';
    case 6: return 'deleted';
    case 8: return 'inactive';
    default: return 'active';
  }
}

/** Runs the recipient tool (`dcr-dev adr ...`) against the Data Holder, as the recipient would. */
export function adr(...args: string[]) {
  const r = spawnSync(requireEnv('E2E_DEV_BIN'), ['adr', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}` };
}

/** The JSON object the recipient tool printed. */
export function adrJson(out: string) {
  return JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));
}

/**
 * The recipient tool's state (scripts/e2e.sh registers a real software product with it): its
 * software product and its current client id, which changes when it registers again.
 */
export function adrState(): { clientId: string; softwareProductId: string } {
  const state = JSON.parse(readFileSync(`${requireEnv('DCR_ADR_DIR')}/state.json`, 'utf8'));
  if (!state.client_id || !state.software_product_id) {
    throw new Error(`the recipient tool holds no registration: ${JSON.stringify(state)}`);
  }
  return { clientId: state.client_id, softwareProductId: state.software_product_id };
}

/** GET /register/{client_id} over mTLS with the recipient's certificate and a bearer token. */
export function readRegistration(clientId: string, token: string): Promise<number> {
  const dir = requireEnv('DCR_ADR_DIR');
  const api = requireEnv('E2E_API_URL');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${api}/register/${clientId}`, {
      cert: readFileSync(`${dir}/client.pem`),
      key: readFileSync(`${dir}/client.key`),
      ca: readFileSync(`${dir}/ca.pem`),
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    }, res => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.end();
  });
}
