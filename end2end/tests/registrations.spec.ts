import type { Page } from '@playwright/test';
import { test, expect, signedIn, hydrated, shot, seeded, expectEvery } from './fixtures';

const rows = (page: Page) => page.locator('table.reg-table tbody tr');
const statusCells = (page: Page) => page.locator('table.reg-table tbody td[data-label="Status"]');
const nameCells = (page: Page) => page.locator('table.reg-table tbody td[data-label="Software product"] a');

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('the list shows registrations with their status, brand, legal entity and times', async ({ page }) => {
  await expect(rows(page)).toHaveCount(25);
  for (const h of ['Software product', 'Software product ID', 'Brand', 'Legal entity', 'Status', 'Registered', 'Updated']) {
    await expect(page.getByRole('columnheader', { name: h, exact: true })).toBeVisible();
  }
  await expect(page.getByText(/^Showing 1–25 of 1\d\d$/)).toBeVisible();
  // (the newest seeded registration; the recipient tool's real one may be newer still)
  const newest = seeded(119);
  const first = rows(page).filter({ hasText: newest.name });
  await expect(first).toContainText(newest.name);
  await expect(first).toContainText(newest.clientId);
  await expect(first).toContainText(newest.softwareId);
  await expect(first).toContainText('Dingo Data');
  await expect(first).toContainText('Pty Ltd');
  await expect(first.locator('time').first()).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  for (const badge of ['Active', 'Inactive at Register', 'Deleted by recipient', 'Revoked']) {
    await expect(statusCells(page).getByText(badge, { exact: true }).first()).toBeVisible();
  }
  await shot(page, 'registrations');
});

test('search matches names and every id, and says when nothing matches', async ({ page }) => {
  await page.getByLabel('Search').fill('budget tracker');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/[?&]q=budget(\+|%20)tracker/);
  await expect(rows(page)).not.toHaveCount(0);
  await expectEvery(nameCells(page), n => n.toLowerCase().includes('budget tracker'), 'name matches');

  const target = seeded(42);
  for (const id of [target.clientId, target.softwareId.toUpperCase()]) {
    await page.getByLabel('Search').fill(id);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(rows(page)).toHaveCount(1);
    await expect(rows(page).first()).toContainText(target.name);
  }
  // part of a brand id (org_id) and a legal entity name
  await page.getByLabel('Search').fill('00000005-00b4');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(rows(page).first()).toContainText('Flinders Analytics');
  await page.getByLabel('Search').fill('tasman digital');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(rows(page).first()).toContainText('Tasman Digital Pty Ltd');

  await page.getByLabel('Search').fill('nothing at all like this');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByRole('heading', { name: 'No registrations match' })).toBeVisible();
  await shot(page, 'registrations-empty');
  await page.getByRole('link', { name: 'Show all registrations' }).click();
  await expect(rows(page)).toHaveCount(25);
});

test('filter by status and sort by name', async ({ page }) => {
  await page.getByLabel('Status').selectOption('inactive');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/status=inactive/);
  await expect(rows(page)).not.toHaveCount(0);
  await expectEvery(statusCells(page), s => s === 'Inactive at Register', 'status is inactive');

  await page.getByLabel('Status').selectOption('deleted');
  await page.getByLabel('Sort by').selectOption('name_asc');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/status=deleted/);
  await expect(page).toHaveURL(/sort=name_asc/);
  await expectEvery(statusCells(page), s => s === 'Deleted by recipient', 'status is deleted');
  const names = await nameCells(page).allTextContents();
  expect(names.length).toBeGreaterThan(1);
  expect([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(names);
  await expect(page.getByLabel('Status')).toHaveValue('deleted');
  await expect(page.getByLabel('Sort by')).toHaveValue('name_asc');
  await shot(page, 'registrations-filtered');
});

test('paging keeps the query in the URL, and back and forward work', async ({ page }) => {
  const firstOf = async () => (await nameCells(page).first().textContent()) ?? '';
  const page1 = await firstOf();
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(page.getByText(/^Showing 26–50 of /)).toBeVisible();
  const page2 = await firstOf();
  expect(page2).not.toBe(page1);
  await page.getByRole('link', { name: 'Last »' }).click();
  await expect(page).toHaveURL(/page=5/);
  await expect(page.getByText(/^Page 5 of 5$/)).toBeVisible();
  await page.goBack();
  await expect(page).toHaveURL(/page=2/);
  await expect(nameCells(page).first()).toHaveText(page2);
  await page.goBack();
  await expect(page).not.toHaveURL(/page=/);
  await expect(nameCells(page).first()).toHaveText(page1);
  await page.goForward();
  await expect(nameCells(page).first()).toHaveText(page2);
  // past the end
  await page.goto('/?page=99');
  await expect(page.getByRole('heading', { name: 'This page is past the end' })).toBeVisible();
});

test('a bookmarked query renders as it was', async ({ page }) => {
  await page.goto('/?q=acme&status=active&sort=name_desc&page=1');
  await expect(page.getByLabel('Search')).toHaveValue('acme');
  await expect(page.getByLabel('Status')).toHaveValue('active');
  await expect(page.getByLabel('Sort by')).toHaveValue('name_desc');
  await expectEvery(statusCells(page), s => s === 'Active', 'status is active');
  await expectEvery(nameCells(page), n => n.includes('Acme'), 'name is an Acme product');
  // Nonsense in the URL falls back to defaults rather than failing.
  const res = await page.goto('/?status=bogus&sort=%27;drop&page=-3');
  expect(res?.status()).toBe(200);
  await expect(rows(page)).toHaveCount(25);
});

test('once hydrated, searching and paging do not reload the page', async ({ page }) => {
  await hydrated(page);
  await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42; });
  await page.getByLabel('Search').fill('energy saver');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/q=energy/);
  await expectEvery(nameCells(page), n => n.toLowerCase().includes('energy saver'), 'name matches');
  await page.getByRole('link', { name: 'Clear' }).click();
  await expect(rows(page)).toHaveCount(25);
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(page.getByText(/^Showing 26–50 of /)).toBeVisible();
  await page.goBack();
  await expect(page.getByText(/^Showing 1–25 of /)).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
});

test('the keyboard reaches everything: skip link, search, rows', async ({ page }) => {
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#main$/);
  await page.getByLabel('Search').focus();
  await page.keyboard.type('loan compare');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/q=loan/);
  await expect(rows(page).first()).toContainText('Loan Compare');
});

test('on a phone the list is readable without sideways scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  await expect(rows(page).first()).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);
  await shot(page, 'registrations-phone');
});

test('while the next results load, the previous stay and the list is marked busy', async ({ page }) => {
  await hydrated(page);
  const results = page.locator('.results');
  await expect(results).toHaveAttribute('aria-busy', 'false');
  let release: () => void = () => {};
  const held = new Promise<void>(resolve => { release = resolve; });
  await page.route('**/api/registrations*', async route => { await held; await route.continue(); });
  await page.getByRole('link', { name: 'Next ›' }).click();
  await expect(results).toHaveAttribute('aria-busy', 'true');
  await expect(page.getByText(/^Showing 1–25 of /)).toBeVisible();
  release();
  await expect(page.getByText(/^Showing 26–50 of /)).toBeVisible();
  await expect(results).toHaveAttribute('aria-busy', 'false');
});

test("after following a link to another page, the focus is on the new page's content", async ({ page }) => {
  await hydrated(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { name: 'Audit log', level: 1 })).toBeVisible();
  await expect(page.locator('#main')).toBeFocused();
  const first = nameCells(page);
  await page.goBack();
  await expect(first.first()).toBeVisible();
  await first.first().click();
  await expect(page.getByRole('heading', { level: 1 })).not.toHaveText('Registrations');
  await expect(page.locator('#main')).toBeFocused();
});

test('a search of several words finds the registrations matching every word, in any field', async ({ page }) => {
  await hydrated(page);
  await page.getByLabel('Search').fill('ironbark  TAX');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(nameCells(page).filter({ hasText: seeded(61).name })).toHaveCount(1);
  await expectEvery(nameCells(page), n => n.toLowerCase().includes('ironbark advisory tax helper'), 'every word matches');
  // a word from the brand and one from the legal entity
  await page.getByLabel('Search').fill('dingo pty');
  await page.getByRole('button', { name: 'Search' }).click();
  await expectEvery(nameCells(page), n => n.includes('Dingo Data'), 'brand matches');
});

test('the filter forms put only their own non-empty fields in the URL', async ({ page }) => {
  await hydrated(page);
  const params = () => [...new URL(page.url()).searchParams.entries()];
  await page.getByLabel('Search').fill('ironbark tax');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/\/\?q=ironbark(%20|\+)tax$/);
  await page.getByLabel('Status').selectOption('active');
  await page.getByLabel('Sort by').selectOption('name_asc');
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page).toHaveURL(/sort=name_asc/);
  expect(params()).toEqual([['q', 'ironbark tax'], ['status', 'active'], ['sort', 'name_asc']]);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await expect(page).toHaveURL(/\/audit$/);
  await page.getByLabel('Action').fill('admin.sign_in');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/\/audit\?action=admin\.sign_in$/);
  expect(params()).toEqual([['action', 'admin.sign_in']]);
});

test('column headers sort the list and say how it is sorted', async ({ page }) => {
  await page.goto('/');
  const header = (name: string) => page.getByRole('columnheader', { name, exact: true });
  await expect(header('Registered')).toHaveAttribute('aria-sort', 'descending');
  await header('Software product').getByRole('link').click();
  await expect(page).toHaveURL(/sort=name_asc/);
  await expect(header('Software product')).toHaveAttribute('aria-sort', 'ascending');
  await expect(header('Registered')).not.toHaveAttribute('aria-sort');
  const names = await page.locator('table.reg-table tbody tr td[data-label="Software product"] a').allTextContents();
  expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  await header('Software product').getByRole('link').click();
  await expect(page).toHaveURL(/sort=name_desc/);
  await expect(header('Software product')).toHaveAttribute('aria-sort', 'descending');
  await header('Registered').getByRole('link').click();
  await expect(page).not.toHaveURL(/sort=/);
  await header('Registered').getByRole('link').click();
  await expect(page).toHaveURL(/sort=created_asc/);
  await expect(header('Registered')).toHaveAttribute('aria-sort', 'ascending');
});
