import type { Page } from '@playwright/test';
import { test, expect, signedIn, hydrated, shot, seeded, adr, adrJson, adrState, readRegistration, ADMIN_USER } from './fixtures';

async function openRegistration(page: Page, clientId: string) {
  await page.goto(`/registrations/${clientId}`);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('revoking in the dialog takes effect at once: the recipient\'s token is refused', async ({ page }) => {
  // The recipient's current registration (lost-client-id.spec.ts may have made a new one).
  const clientId = adrState().clientId;
  // Before: the recipient gets a token and reads its registration with it.
  const before = adr('token');
  expect(before.ok, before.out).toBe(true);
  const token = adrJson(before.out).access_token;
  expect(await readRegistration(clientId, token)).toBe(200);

  await openRegistration(page, clientId);
  await hydrated(page);
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revoke this registration?' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Reason')).toBeFocused();
  await shot(page, 'revoke-dialog');
  // Nothing happens without a reason and the confirmation.
  await dialog.getByRole('button', { name: 'Revoke registration' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Reason').fill('Key compromise reported by the recipient (ticket 4711)');
  await dialog.getByRole('button', { name: 'Revoke registration' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('I understand the recipient loses access immediately.').check();
  await dialog.getByRole('button', { name: 'Revoke registration' }).click();

  await expect(page).toHaveURL(/done=revoked/);
  await expect(page.getByRole('status').filter({ hasText: 'The registration is revoked' })).toBeVisible();
  await expect(page.locator('.detail-head .badge')).toHaveText('Revoked');
  await expect(page.getByText('Key compromise reported by the recipient (ticket 4711)').first()).toBeVisible();
  await expect(page.getByRole('button', { name: 'Revoke…' })).toHaveCount(0);
  await shot(page, 'revoked');

  // After: the token already issued is refused, and no new token is issued.
  expect(await readRegistration(clientId, token)).toBe(401);
  const again = adr('token');
  expect(again.ok).toBe(false);
  expect(again.out).toContain('invalid_client');

  // The history and the audit log record who, why and when.
  const history = page.getByRole('region', { name: 'History' });
  await expect(history).toContainText('registration.revoke');
  await expect(history).toContainText(`admin:${ADMIN_USER}`);
  await page.goto(`/audit?client_id=${clientId}&action=registration.revoke`);
  await expect(page.locator('table.audit-table tbody tr')).toHaveCount(1);
  await expect(page.locator('table.audit-table tbody tr')).toContainText('Key compromise reported by the recipient (ticket 4711)');
  // And the list shows the new status.
  await page.goto(`/?q=${clientId}`);
  await expect(page.locator('table.reg-table tbody td[data-label="Status"]')).toHaveText('Revoked');
});

test('cancel and Escape close the dialog without revoking', async ({ page }) => {
  const reg = seeded(11);
  await openRegistration(page, reg.clientId);
  await hydrated(page);
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await page.getByRole('button', { name: 'Revoke…' }).click();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await page.reload();
  await expect(page.locator('.detail-head .badge')).toHaveText('Active');
});

test('revoking twice is harmless', async ({ page, context }) => {
  const reg = seeded(4);
  const other = await context.newPage();
  await openRegistration(page, reg.clientId);
  await openRegistration(other, reg.clientId);
  for (const p of [page, other]) {
    await hydrated(p);
    await p.getByRole('button', { name: 'Revoke…' }).click();
    await p.getByRole('dialog').getByLabel('Reason').fill('Duplicate product (first tab)');
    await p.getByLabel('I understand the recipient loses access immediately.').check();
  }
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke registration' }).click();
  await expect(page).toHaveURL(/done=revoked/);
  await other.getByRole('dialog').getByRole('button', { name: 'Revoke registration' }).click();
  await expect(other).toHaveURL(/done=already_revoked/);
  await expect(other.getByRole('status').filter({ hasText: 'already revoked' })).toBeVisible();
  await other.goto(`/audit?client_id=${reg.clientId}&action=registration.revoke`);
  await expect(other.locator('table.audit-table tbody tr')).toHaveCount(1);
});

test('a deleted registration cannot be revoked', async ({ page }) => {
  const reg = seeded(6);
  await openRegistration(page, reg.clientId);
  await expect(page.locator('.detail-head .badge')).toHaveText('Deleted by recipient');
  await expect(page.getByRole('button', { name: 'Revoke…' })).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Revoke', exact: true })).toHaveCount(0);
});

test('a reason of spaces is refused before the form is sent; a refused form opens again with its text', async ({ page }) => {
  const reg = seeded(41);
  await openRegistration(page, reg.clientId);
  await hydrated(page);
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revoke this registration?' });
  const reason = dialog.getByLabel('Reason');
  await reason.fill('      ');
  await dialog.getByLabel('I understand the recipient loses access immediately.').check();
  await dialog.getByRole('button', { name: 'Revoke registration' }).click();
  await page.waitForTimeout(500);
  await expect(dialog).toBeVisible();
  await expect(reason).toHaveValue('      ');
  expect(page.url()).not.toContain('error=');
  expect(await reason.evaluate(el => (el as HTMLTextAreaElement).validationMessage)).toContain('spaces');
  await expect(page.locator('.detail-head .badge')).toHaveText('Active');

  // The server's refusal (of a form sent some other way) opens the dialog again, with the
  // typed reason and the error beside it.
  await page.goto(`/registrations/${reg.clientId}?error=reason&reason=${encodeURIComponent('  ab  ')}`);
  await hydrated(page);
  await expect(dialog).toBeVisible();
  await expect(reason).toHaveValue('  ab  ');
  await expect(dialog.getByRole('alert')).toContainText('Give a reason for the revocation');
  await expect(reason).toBeFocused();
});
