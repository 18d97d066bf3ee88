import type { Page } from '@playwright/test';
import { test, expect, signedIn, hydrated, shot, seeded, adr, adrJson, adrState, readRegistration, ADMIN_USER } from './fixtures';

// The runbook docs/runbook-lost-client-id.md, in a browser: a recipient lost its client ID
// (CDS standards-maintenance#581), the administrator finds the registration by its software
// product ID, releases it with a reason, and the recipient registers again.

const statusCells = (page: Page) => page.locator('table.reg-table tbody td[data-label="Status"]');

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('a recipient that lost its client ID is found by software product ID, released, and registers again', async ({ page }) => {
  const { clientId: oldId, softwareProductId } = adrState();
  // The recipient's token works; registering again is refused while the registration holds the
  // software product ID.
  const before = adr('token');
  expect(before.ok, before.out).toBe(true);
  const oldToken = adrJson(before.out).access_token;
  expect(await readRegistration(oldId, oldToken)).toBe(200);
  const refused = adr('register');
  expect(refused.ok, refused.out).toBe(false);
  expect(refused.out).toContain('HTTP 400');

  // Find it by pasting the software product ID as the recipient wrote it (upper case, spaces).
  await page.getByLabel('Search').fill(`  ${softwareProductId.toUpperCase()} `);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=/);
  const rows = page.locator('table.reg-table tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(oldId);
  await expect(statusCells(page)).toHaveText(['Active']);
  await rows.first().getByRole('link').first().click();
  await expect(page).toHaveURL(new RegExp(`/registrations/${oldId}$`));

  // Release it: a reason and the confirmation are needed.
  await hydrated(page);
  await page.getByRole('button', { name: 'Release…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Release this registration?' });
  await expect(dialog).toBeVisible();
  await dialog.getByRole('button', { name: 'Release registration' }).click();
  await expect(dialog).toBeVisible();
  const reason = 'Recipient lost its client ID; identity confirmed against the Register (ticket 5150)';
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByRole('button', { name: 'Release registration' }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('I have checked who is asking').check();
  await shot(page, 'release-dialog');
  await dialog.getByRole('button', { name: 'Release registration' }).click();

  await expect(page).toHaveURL(/done=released/);
  await expect(page.getByRole('status').filter({ hasText: 'The registration is released' })).toBeVisible();
  await expect(page.locator('.detail-head .badge')).toHaveText('Released');
  await expect(page.locator('.status-meaning')).toContainText(reason);
  await expect(page.getByRole('button', { name: 'Release…' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Revoke…' })).toHaveCount(0);
  const history = page.getByRole('region', { name: 'History' });
  await expect(history).toContainText('registration.release');
  await expect(history).toContainText(`admin:${ADMIN_USER}`);
  await shot(page, 'released');

  // The old client ID stops working at once; the recipient registers again and gets a new one.
  expect(await readRegistration(oldId, oldToken)).toBe(401);
  const again = adr('register');
  expect(again.ok, again.out).toBe(true);
  const newId = adrState().clientId;
  expect(newId).not.toBe(oldId);
  const token = adr('token');
  expect(token.ok, token.out).toBe(true);
  expect(await readRegistration(newId, adrJson(token.out).access_token)).toBe(200);

  // Both registrations of the product, from the page's link.
  await page.reload();
  await page.getByRole('link', { name: 'Every registration of this software product' }).click();
  await expect(rows).toHaveCount(2);
  await expect(statusCells(page)).toHaveText(['Active', 'Released']);
  await page.goto('/?status=released');
  await expect(page.getByLabel('Status')).toHaveValue('released');
  await expect(rows.filter({ hasText: oldId })).toHaveCount(1);

  // The audit log records who, why and when, and the chain still verifies.
  await page.goto(`/audit?client_id=${oldId}&action=registration.release`);
  const events = page.locator('table.audit-table tbody tr');
  await expect(events).toHaveCount(1);
  await expect(events.first()).toContainText(reason);
  await expect(events.first()).toContainText(`admin:${ADMIN_USER}`);
  await expect(events.first().locator('dl.diff del')).toHaveText('active');
  await expect(events.first().locator('dl.diff ins')).toHaveText('released');
});

test('the audit page verifies the hash chain when asked and shows the result', async ({ page }) => {
  await page.goto('/audit');
  const chain = page.getByRole('region', { name: 'Tamper check' });
  await expect(chain).toBeVisible();
  const verify = chain.getByRole('link', { name: /Verify (now|again)/ });
  await verify.click();
  await expect(page).toHaveURL(/verify=1/);
  await expect(chain.locator('.chain-status')).toHaveText(/^Audit chain verified: [\d,]+ events?$/);
  await expect(chain).toContainText('Checked');
  await shot(page, 'audit-chain');
  // The result stays, with its time, when the filters change.
  await page.goto('/audit?action=registration.create');
  await expect(chain.locator('.chain-status')).toHaveText(/^Audit chain verified: [\d,]+ events?$/);
  await expect(chain.getByRole('link', { name: 'Verify again' })).toHaveAttribute('href', '/audit?action=registration.create&verify=1');
});

test('a revoked registration can be released, without JavaScript too', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signedIn(page);
  const reg = seeded(23); // revoked by dev-seed
  await page.goto(`/registrations/${reg.clientId}`);
  await expect(page.locator('.detail-head .badge')).toHaveText('Revoked');
  await page.getByText('Release…').click();
  const release = page.getByRole('region', { name: 'Release', exact: true });
  await release.getByLabel('Reason').fill('Revoked in error; the recipient may register again');
  await release.getByLabel('I have checked who is asking').check();
  await release.getByRole('button', { name: 'Release registration' }).click();
  await expect(page).toHaveURL(/done=released/);
  await expect(page.locator('.detail-head .badge')).toHaveText('Released');
  await page.goto(`/audit?client_id=${reg.clientId}&action=registration.release`);
  await expect(page.locator('table.audit-table tbody tr dl.diff del')).toHaveText('revoked');
  await context.close();
});
