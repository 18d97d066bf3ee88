import { test, expect, signIn, signedIn, shot, hydrated, seeded } from './fixtures';
import type { Page } from '@playwright/test';

/** Adds an account through the People page, as an administrator would; returns its name. */
async function addPerson(page: Page, prefix: string, role: string, password: string): Promise<string> {
  const name = `${prefix}-${Date.now() % 1_000_000}`;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'People' }).click();
  await expect(page.getByRole('heading', { name: 'People', level: 1 })).toBeVisible();
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Role', { exact: true }).selectOption(role);
  await page.getByLabel('First password').fill(password);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('status')).toContainText(`${name} is added`);
  return name;
}

/** Replaces a first password on the Account page it is sent to. */
async function chooseOwnPassword(page: Page, first: string, own: string) {
  await expect(page).toHaveURL(/\/account\?must_change=1/);
  await expect(page.getByText('Your password was set by an administrator')).toBeVisible();
  await page.getByLabel('Current password').fill(first);
  await page.getByLabel('New password', { exact: true }).fill(own);
  await page.getByLabel('Confirm new password').fill(own);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status')).toContainText('Your password is changed.');
}

test('an administrator adds a viewer, who chooses a password, can only read, and is promoted then disabled', async ({ page, browser, consoleErrors }) => {
  // The People page refused to the viewer is answered 403, which the browser logs.
  consoleErrors.expect(/status of 403 \(Forbidden\) \(at .*\/admins\)/);
  await signedIn(page);
  const first = `first password ${Date.now()}`;
  const name = await addPerson(page, 'e2e-viewer', 'viewer', first);
  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('Must change the first password');
  await shot(page, 'people');

  const other = await browser.newContext();
  const viewer = await other.newPage();
  await signIn(viewer, name, first);
  // Nothing else opens before the first password is replaced.
  await viewer.goto('/audit');
  await expect(viewer).toHaveURL(/\/account\?must_change=1/);
  const own = `my own passphrase ${Date.now()}`;
  await chooseOwnPassword(viewer, first, own);

  // A viewer reads, and is offered nothing it may not do.
  const nav = viewer.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Registrations' }).click();
  await expect(viewer.getByRole('heading', { name: 'Registrations', level: 1 })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'People' })).toHaveCount(0);
  const reg = seeded(51); // active, and no other test changes it
  await viewer.goto(`/registrations/${reg.clientId}`);
  await hydrated(viewer);
  await expect(viewer.getByText('Your role lets you read this registration')).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Revoke…' })).toHaveCount(0);
  await viewer.goto('/admins');
  await expect(viewer.getByRole('alert')).toContainText('Your role does not allow this.');

  // Promoted to operator: the next page offers revocation.
  await page.reload();
  await row.getByRole('combobox').selectOption('operator');
  await row.getByRole('button', { name: 'Change' }).click();
  await expect(page.getByRole('status')).toContainText(`${name}'s role is changed`);
  await viewer.goto(`/registrations/${reg.clientId}`);
  await expect(viewer.getByRole('button', { name: 'Revoke…' }).or(viewer.getByText('Revoke…'))).toBeVisible();

  // Disabled: the session ends at its next request, and signing in says why.
  await page.getByRole('row').filter({ hasText: name }).getByRole('button', { name: 'Disable' }).click();
  await expect(page.getByRole('status')).toContainText(`${name} is disabled`);
  await viewer.goto('/');
  await expect(viewer).toHaveURL(/\/login\?error=expired/);
  await signIn(viewer, name, own);
  await expect(viewer.getByRole('alert')).toHaveText('This account is disabled. Ask an administrator to enable it.');
  await other.close();
});

test('a person sees their sessions and ends the others', async ({ page, browser }) => {
  await signedIn(page);
  const first = `first password ${Date.now()}`;
  const name = await addPerson(page, 'e2e-sessions', 'viewer', first);
  const own = `my own passphrase ${Date.now()}`;

  const ctxA = await browser.newContext();
  const a = await ctxA.newPage();
  await signIn(a, name, first);
  await chooseOwnPassword(a, first, own);
  const ctxB = await browser.newContext();
  const b = await ctxB.newPage();
  await signIn(b, name, own);
  await expect(b.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();

  await a.goto('/account');
  const sessions = a.getByRole('table', { name: /Your sessions/ });
  await expect(sessions.getByRole('row')).toHaveCount(3); // the header and two sessions
  await expect(sessions).toContainText('This browser');
  await shot(a, 'sessions');
  await a.getByRole('button', { name: 'End all other sessions' }).click();
  await expect(a.getByRole('status')).toContainText('Your other sessions have ended (1).');
  await expect(a.getByRole('table', { name: /Your sessions/ }).getByRole('row')).toHaveCount(2);
  await b.goto('/audit');
  await expect(b).toHaveURL(/\/login\?error=expired&next=%2Faudit/);

  // Signing in again from there comes back to the page asked for.
  await b.getByLabel('Username').fill(name);
  await b.getByLabel('Password', { exact: true }).fill(own);
  await b.getByRole('button', { name: 'Sign in' }).click();
  await expect(b).toHaveURL(/\/audit$/);
  await expect(b.getByRole('heading', { name: 'Audit log', level: 1 })).toBeVisible();
  await ctxA.close();
  await ctxB.close();
});

test('the provisioning page says when provisioning is off', async ({ page }) => {
  await signedIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Provisioning' }).click();
  await expect(page.getByRole('heading', { name: 'Provisioning', level: 1 })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Provisioning is off' })).toBeVisible();
});
