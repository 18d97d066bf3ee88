import { test, expect, signIn, shot, seeded, expectEvery, ADMIN_USER } from './fixtures';

// Every page works as plain HTML: server-rendered data, GET forms for search, POST forms for
// changes.
test.use({ javaScriptEnabled: false });

test('sign in, browse, search, page, inspect, audit and sign out without JavaScript', async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  // The overview's charts are drawn by the server.
  await expect(page.locator('svg.bars').first()).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Registrations' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator('table.reg-table tbody tr')).toHaveCount(25);
  await shot(page, 'registrations-no-js');

  await page.getByLabel('Search').fill('savings coach');
  await page.getByLabel('Status').selectOption('active');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=savings\+coach&status=active/);
  await expectEvery(page.locator('table.reg-table tbody td[data-label="Software product"] a'),
    n => n.toLowerCase().includes('savings coach'), 'name matches');

  await page.goto('/');
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(page.getByText(/^Showing 26–50 of /)).toBeVisible();

  const reg = seeded(10);
  await page.goto(`/?q=${reg.clientId}`);
  await page.getByRole('link', { name: reg.name }).click();
  await expect(page.getByRole('heading', { name: reg.name, level: 1 })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Software statement (SSA)' })).toContainText('software_id');
  await shot(page, 'inspect-no-js');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  // (the Register sync may have recorded events since the sign-in)
  await expect(page.locator('table.audit-table tbody tr').filter({ hasText: 'admin.sign_in' }).first()).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Change password' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/signed_out=1/);
});

test('revoke without JavaScript: the form opens in the page', async ({ page }) => {
  await signIn(page);
  const reg = seeded(2);
  await page.goto(`/registrations/${reg.clientId}`);
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await page.getByText('Revoke…').click();
  await page.getByRole('region', { name: 'Revoke', exact: true }).getByLabel('Reason').fill('Recipient asked us to (no JavaScript)');
  await page.getByLabel('I understand the recipient loses access immediately.').check();
  await shot(page, 'revoke-no-js');
  await page.getByRole('button', { name: 'Revoke registration' }).click();
  await expect(page).toHaveURL(/done=revoked/);
  await expect(page.locator('.detail-head .badge')).toHaveText('Revoked');
  await expect(page.getByRole('region', { name: 'History' })).toContainText(`admin:${ADMIN_USER}`);
});

test('without JavaScript a refused reason comes back in the form, with the error beside it', async ({ page }) => {
  await signIn(page);
  const reg = seeded(41);
  await page.goto(`/registrations/${reg.clientId}`);
  await page.locator('details.revoke-details > summary').click();
  const form = page.locator('form.revoke-form');
  await form.getByLabel('Reason').fill('      ');
  await form.getByLabel('I understand the recipient loses access immediately.').check();
  await form.getByRole('button', { name: 'Revoke registration' }).click();
  await expect(page).toHaveURL(/error=reason/);
  const reason = page.locator('form.revoke-form').getByLabel('Reason');
  await expect(reason).toHaveValue('      ');
  await expect(reason).toBeFocused();
  const error = page.locator('form.revoke-form').getByRole('alert');
  await expect(error).toContainText('Give a reason for the revocation');
  await expect(error).toBeInViewport();
  const [e, r] = [await error.boundingBox(), await reason.boundingBox()];
  expect(Math.abs(r!.y - e!.y), 'the error is beside the field').toBeLessThan(150);
  await expect(page.locator('.detail-head .badge')).toHaveText('Active');
  await shot(page, 'revoke-reason-refused-no-js');
});
