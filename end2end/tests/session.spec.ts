import type { Page } from '@playwright/test';
import { test, expect, requireEnv, ADMIN_USER, ADMIN_PASSWORD, IDLE_SECS, ABSOLUTE_SECS, hydrated } from './fixtures';

// These run against a second server on the same store whose sessions time out after
// IDLE_SECS without activity and ABSOLUTE_SECS after sign-in (scripts/e2e.sh starts it).
test.use({ baseURL: async ({}, use) => use(requireEnv('E2E_SHORT_SESSION_URL')) });
test.setTimeout(60_000);

async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(ADMIN_USER);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Registrations', level: 1 })).toBeVisible();
}

test('a session is valid on every instance: sessions live in the store', async ({ page }) => {
  // Sign in on the main server; the session cookie (same host) opens this instance's pages too.
  await page.goto(`${requireEnv('BASE_URL')}/login`);
  await page.getByLabel('Username').fill(ADMIN_USER);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await page.goto('/audit');
  await expect(page.getByRole('heading', { name: 'Audit log', level: 1 })).toBeVisible();
});

test('a session ends after the idle timeout', async ({ page }) => {
  await signIn(page);
  await page.waitForTimeout((IDLE_SECS + 1.5) * 1000);
  await page.goto('/audit');
  await expect(page).toHaveURL(/\/login\?error=expired/);
  await expect(page.getByRole('alert')).toHaveText('Your session has ended. Please sign in again.');
});

test('activity keeps a session alive until the absolute timeout', async ({ page }) => {
  // The session begins between these two instants: the visits stay within its lifetime counted
  // from the first, the last check comes after its end counted from the second (signing in and
  // loading the list can take seconds on a busy machine).
  const before = Date.now();
  await signIn(page);
  const after = Date.now();
  while (Date.now() - before < (ABSOLUTE_SECS - 3) * 1000) {
    await page.waitForTimeout(2000);
    await page.goto('/');
    await expect(page).toHaveURL(/\/$/);
  }
  await page.waitForTimeout((ABSOLUTE_SECS * 1000) - (Date.now() - after) + 1000);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?error=expired/);
});

test('a hydrated page says so when its session has ended', async ({ page, consoleErrors }) => {
  await signIn(page);
  await hydrated(page);
  await page.waitForTimeout((IDLE_SECS + 1.5) * 1000);
  // Client-side navigation: the server function is refused (401, which the browser logs), and
  // the page explains.
  consoleErrors.expect(/status of 401 \(Unauthorized\) \(at http:\/\/[^)]+\/api\/registrations\)$/);
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(page.getByRole('alert')).toContainText('Your session has ended. Sign in again to continue.');
  await page.getByRole('link', { name: 'Sign in again' }).click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByLabel('Username')).toBeVisible();
});
