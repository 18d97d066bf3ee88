import { test, expect, signIn, shot, hydrated, SEEDED_COUNT } from './fixtures';

test('the overview is the landing page: statuses, charts with their numbers, the Register sync and recent actions', async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await hydrated(page);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Overview' })).toHaveAttribute('aria-current', 'page');

  // Registrations by status: the seeded ones and those the suite registered, each status a link
  // to the list filtered so.
  const statuses = page.getByRole('region', { name: 'Registrations' });
  const all = Number((await statuses.locator('dt:text-is("In all") + dd').innerText()).replace(/,/g, ''));
  expect(all).toBeGreaterThanOrEqual(SEEDED_COUNT);

  // Three charts over the default 90 days, each an SVG image named by its sum, with the numbers
  // by day in a table.
  for (const name of ['Registrations created', 'Registration requests refused, by error code', 'Token requests']) {
    await expect(page.getByRole('heading', { name, exact: true, level: 2 })).toBeVisible();
  }
  const created = page.getByRole('region', { name: 'Registrations created', exact: true });
  const image = created.getByRole('img');
  await expect(image).toHaveAttribute('aria-label', /^Registrations created over the last 90 days: [\d,]+ in all$/);
  const sum = Number((await image.getAttribute('aria-label'))!.match(/: ([\d,]+) in all/)![1].replace(/,/g, ''));
  expect(sum).toBeGreaterThanOrEqual(SEEDED_COUNT);
  await expect(page.getByRole('region', { name: 'CDR Register sync' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Recent administrator actions' })).toBeVisible();
  await shot(page, 'overview');
  await created.getByText('The numbers by day').click();
  const rows = created.locator('table.chart-table tbody tr');
  await expect(rows).toHaveCount(90);
  const byDay = (await rows.locator('td').allInnerTexts()).map(t => Number(t.replace(/,/g, '')));
  expect(byDay.reduce((a, b) => a + b, 0)).toBe(sum);

  // Another range: the charts follow, in the URL too.
  await page.getByRole('navigation', { name: 'Range of the charts' }).getByRole('link', { name: '7 days' }).click();
  await expect(page).toHaveURL(/\/overview\?days=7$/);
  await expect(image).toHaveAttribute('aria-label', /over the last 7 days/);
  await expect(page.getByRole('link', { name: '7 days' })).toHaveAttribute('aria-current', 'page');

  // A status leads to the list filtered by it.
  await statuses.getByRole('link', { name: 'Active', exact: true }).click();
  await expect(page).toHaveURL(/\/\?status=active$/);
  await expect(page.getByRole('heading', { name: 'Registrations', level: 1 })).toBeVisible();
});

test('the overview on a phone', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  // Nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await shot(page, 'overview-phone');
});

test('the webhooks page says when no webhook is configured', async ({ page }) => {
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
  await expect(page).toHaveURL(/\/webhooks$/);
  await expect(page.getByRole('heading', { name: 'Webhooks', level: 1 })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'No webhook is configured' })).toBeVisible();
});
