import { test, expect, signIn, shot, ADMIN_PASSWORD, PASSWORD_USER } from './fixtures';

test('an administrator changes their own password; other sessions end', async ({ page, browser }) => {
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signIn(otherPage, PASSWORD_USER, ADMIN_PASSWORD);
  await expect(otherPage).toHaveURL(/\/overview$/);

  await signIn(page, PASSWORD_USER, ADMIN_PASSWORD);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible();
  await expect(page.getByText(`Signed in as ${PASSWORD_USER}`)).toBeVisible();
  await shot(page, 'account');

  const change = async (current: string, next: string, confirm: string) => {
    await page.getByLabel('Current password').fill(current);
    await page.getByLabel('New password', { exact: true }).fill(next);
    await page.getByLabel('Confirm new password').fill(confirm);
    await page.getByRole('button', { name: 'Change password' }).click();
  };
  const fresh = `a new passphrase ${Date.now()}`;
  await change('not the password', fresh, fresh);
  await expect(page.getByRole('alert')).toHaveText('The current password is not correct.');
  await change(ADMIN_PASSWORD, fresh, `${fresh}!`);
  await expect(page.getByRole('alert')).toHaveText('The new password and its confirmation differ.');
  await change(ADMIN_PASSWORD, fresh, fresh);
  await expect(page.getByRole('status')).toContainText('Your password is changed.');

  // This session goes on; the other one has ended.
  await page.goto('/');
  await expect(page).toHaveURL(/\/$/);
  await otherPage.goto('/');
  await expect(otherPage).toHaveURL(/\/login\?error=expired/);
  await other.close();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, PASSWORD_USER, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/error=/);
  await signIn(page, PASSWORD_USER, fresh);
  await expect(page).toHaveURL(/\/overview$/);
  await page.goto(`/audit?action=admin.password_change&actor=admin:${PASSWORD_USER}`);
  await expect(page.locator('table.audit-table tbody tr')).toHaveCount(1);
});
