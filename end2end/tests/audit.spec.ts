import type { Page } from '@playwright/test';
import { test, expect, signedIn, shot, seeded, expectEvery, ADMIN_USER } from './fixtures';

const rows = (page: Page) => page.locator('table.audit-table tbody tr');

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('the audit log lists events, newest first, filtered by registration, actor and action', async ({ page }) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await expect(page.getByRole('heading', { name: 'Audit log', level: 1 })).toBeVisible();
  await expect(rows(page)).toHaveCount(50);
  await expect(page.getByText(/^Showing 1–50 of /)).toBeVisible();
  // The sign-in just made is the newest event.
  await expect(rows(page).first()).toContainText('admin.sign_in');
  await expect(rows(page).first()).toContainText(`admin:${ADMIN_USER}`);
  await shot(page, 'audit');

  await page.getByLabel('Action').fill('admin.sign_in');
  await page.getByLabel('Actor').fill(`admin:${ADMIN_USER}`);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=admin\.sign_in/);
  await expect(page).toHaveURL(/actor=admin%3A/);
  await expectEvery(rows(page).locator('td[data-label="Action"]'), a => a === 'admin.sign_in', 'action is admin.sign_in');

  const reg = seeded(3);
  await page.goto('/audit');
  await page.getByLabel('Registration (client ID)').fill(reg.clientId);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(rows(page)).toHaveCount(1);
  await expect(rows(page).first()).toContainText('registration.create');
  await expect(rows(page).first()).toContainText(`recipient:${reg.softwareId}`);
  // The registration link leads to its page.
  await rows(page).first().getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/registrations/${reg.clientId}$`));

  await page.goto('/audit?action=no.such.action');
  await expect(page.getByRole('heading', { name: 'No events' })).toBeVisible();
});

test('the audit log pages with the query in the URL', async ({ page }) => {
  await page.goto('/audit?action=registration.create');
  await expect(rows(page)).toHaveCount(50);
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(page).toHaveURL(/action=registration\.create&page=2/);
  await expect(page.getByText(/^Showing 51–100 of /)).toBeVisible();
  await page.goBack();
  await expect(page.getByText(/^Showing 1–50 of /)).toBeVisible();
});

test('a page past the end of the audit log says so and links to the last page', async ({ page }) => {
  await page.goto('/audit?action=registration.create&page=999999');
  await expect(page.getByRole('heading', { name: 'This page is past the end' })).toBeVisible();
  await expect(page.getByText(/^There are [\d,]+ matching events, on \d+ pages\.$/)).toBeVisible();
  await expect(page.getByText('No events recorded.')).toHaveCount(0);
  await page.getByRole('link', { name: 'Go to the last page' }).click();
  await expect(page).toHaveURL(/action=registration\.create&page=\d+$/);
  await expect(rows(page)).not.toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Next ›' })).toHaveCount(0);
});

test('filters match in any case and take a range of days', async ({ page }) => {
  await page.goto('/audit');
  await page.getByLabel('Action').fill('ADMIN.SIGN_IN');
  const today = new Date().toISOString().slice(0, 10);
  await page.getByLabel('From (UTC)').fill(today);
  await page.getByLabel('To (UTC)').fill(today);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(new RegExp(`from=${today}&to=${today}`));
  await expect(rows(page).first()).toContainText(`admin:${ADMIN_USER}`);
  await expectEvery(rows(page).locator('td[data-label="Action"]'), a => a === 'admin.sign_in', 'action is admin.sign_in');

  // Days without events: the dates are kept in the form and the list says so.
  await page.goto('/audit?from=2001-01-01&to=2001-01-31');
  await expect(page.getByLabel('From (UTC)')).toHaveValue('2001-01-01');
  await expect(rows(page)).toHaveCount(0);
});
