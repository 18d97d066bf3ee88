import { test, expect, signedIn, shot, seeded, requireEnv, HOSTILE_NAMES, SAME_ORIGIN } from './fixtures';

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('a hostile client name is shown as text and runs nothing', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', d => { dialogs.push(d.message()); void d.dismiss(); });
  await page.getByLabel('Search').fill('onerror');
  await page.getByRole('button', { name: 'Search' }).click();
  const names = page.locator('table.reg-table tbody td[data-label="Software product"] a');
  await expect(names.first()).toHaveText(HOSTILE_NAMES[0]);
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  await shot(page, 'hostile-list');

  for (const n of [7, 13]) {
    await page.goto(`/registrations/${seeded(n).clientId}`);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(HOSTILE_NAMES[n === 7 ? 0 : 1]);
    await expect(page.locator('img[src="x"]')).toHaveCount(0);
    await expect(page.locator('script:not([nonce]):not([src])')).toHaveCount(0);
  }
  await shot(page, 'hostile-inspect');
  // Searching for markup is just text too.
  await page.goto(`/?q=${encodeURIComponent('<script>')}`);
  await expect(page.getByLabel('Search')).toHaveValue('<script>');
  expect(dialogs).toEqual([]);
});

test('state-changing requests from elsewhere are refused, server functions included', async ({ page, consoleErrors }) => {
  const target = seeded(21);
  // A real cross-site form post from a page on another origin: the browser sends
  // Sec-Fetch-Site: cross-site and withholds the SameSite=Strict cookie; the portal refuses.
  await page.route('https://evil.example/**', route => route.fulfill({
    contentType: 'text/html',
    body: `<!DOCTYPE html><title>Win a prize</title>
      <form method="post" action="${requireEnv('BASE_URL')}/registrations/${target.clientId}/revoke">
        <input type="hidden" name="reason" value="csrf attempt"><input type="hidden" name="confirm" value="yes">
        <button>Claim your prize</button>
      </form>`,
  }));
  // The refusal is a 403 page, which the browser logs.
  consoleErrors.expect(new RegExp(`status of 403 \\(Forbidden\\) \\(at http://[^)]+/registrations/${target.clientId}/revoke\\)$`));
  await page.goto('https://evil.example/prize');
  await page.getByRole('button', { name: 'Claim your prize' }).click();
  await expect(page.getByText('This request did not come from the portal and was refused.')).toBeVisible();

  // The same requests made with the session cookie but a foreign origin.
  const api = page.request;
  const form = { q: '', status: '', sort: '', page: '1' };
  const foreign: Record<string, string>[] = [
    { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    { 'sec-fetch-site': 'same-site' },
    { origin: 'https://evil.example' },
  ];
  for (const headers of foreign) {
    expect((await api.post('/api/registrations', { form, headers })).status()).toBe(403);
    expect((await api.post(`/registrations/${target.clientId}/revoke`, {
      form: { reason: 'csrf attempt', confirm: 'yes' }, headers, maxRedirects: 0,
    })).status()).toBe(403);
    expect((await api.post('/account/password', {
      form: { current_password: 'x', new_password: 'y'.repeat(12), confirm_password: 'y'.repeat(12) },
      headers, maxRedirects: 0,
    })).status()).toBe(403);
  }
  // From the portal itself, the server function answers.
  const ok = await api.post('/api/registrations', { form, headers: SAME_ORIGIN });
  expect(ok.status()).toBe(200);
  expect((await ok.json()).total).toBeGreaterThan(100);

  await page.goto(`/registrations/${target.clientId}`);
  await expect(page.locator('.detail-head .badge')).toHaveText('Active');
});

test('pages carry the security headers', async ({ page }) => {
  const res = await page.goto('/');
  const h = res!.headers();
  expect(h['content-security-policy']).toMatch(/script-src 'self' 'wasm-unsafe-eval' 'nonce-[^']+'/);
  expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(h['x-content-type-options']).toBe('nosniff');
  expect(h['referrer-policy']).toBe('no-referrer');
  expect(h['x-frame-options']).toBe('DENY');
  expect(h['cache-control']).toBe('no-store');
});
