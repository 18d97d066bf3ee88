import { test, expect, hydrated, shot } from './fixtures';

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the sign-in page is rendered on the server', async ({ page }) => {
    const res = await page.goto('/login');
    expect(res?.status()).toBe(200);
    await expect(page.getByRole('heading', { name: 'Data Holder DCR' })).toBeVisible();
    await expect(page.getByLabel('Username')).toBeVisible();
    await expect(page.getByLabel('Password', { exact: true })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
    await shot(page, 'login-no-js');
  });

  test('the show-password control does nothing before hydration', async ({ page }) => {
    await page.goto('/login');
    await page.getByLabel('Password', { exact: true }).fill('secret-value');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page.getByLabel('Password', { exact: true })).toHaveAttribute('type', 'password');
  });
});

test('the page hydrates, keeping what was typed, and the show-password control then works', async ({ page }) => {
  const failed: string[] = [];
  page.on('response', r => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  // The WASM is held back until the form is filled in, as by someone typing before it arrives.
  let release = () => {};
  const held = new Promise<void>(resolve => { release = resolve; });
  await page.route('**/*.wasm', async route => { await held; await route.continue(); });
  await page.goto('/login');
  const url = page.url();
  const user = page.getByLabel('Username');
  const pw = page.getByLabel('Password', { exact: true });
  await user.fill('someone');
  await pw.fill('secret-value');
  await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  release();
  await hydrated(page);
  // Hydration took over the page in place: no navigation, the typed values kept.
  await expect(page).toHaveURL(url);
  await expect(user).toHaveValue('someone');
  await expect(pw).toHaveValue('secret-value');

  await page.getByRole('button', { name: 'Show' }).click();
  await expect(pw).toHaveAttribute('type', 'text');
  await expect(page.getByRole('button', { name: 'Hide' })).toHaveAttribute('aria-pressed', 'true');
  await page.getByRole('button', { name: 'Hide' }).click();
  await expect(pw).toHaveAttribute('type', 'password');
  await expect(pw).toHaveValue('secret-value');
  await expect(page).toHaveURL(url);
  expect(failed).toEqual([]);
  await shot(page, 'login');
});

test('built assets are served with the right types and long-lived caching', async ({ page, request }) => {
  await page.goto('/login');
  const preload = await page.locator('link[rel="modulepreload"]').getAttribute('href');
  expect(preload).toMatch(/^\/pkg\/[0-9a-f]{16}\/dcr-portal\.js$/);
  const js = await request.get(preload!);
  expect(js.headers()['content-type']).toContain('javascript');
  expect(js.headers()['cache-control']).toContain('immutable');
  const wasm = await request.get(preload!.replace('.js', '.wasm'));
  expect(wasm.headers()['content-type']).toBe('application/wasm');
  const css = await request.get(preload!.replace('.js', '.css'));
  expect(css.headers()['content-type']).toContain('text/css');
  const html = await request.get('/login');
  expect(html.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(html.headers()['x-content-type-options']).toBe('nosniff');
});

test('the WASM, scripts and styles arrive compressed, and the page too', async ({ page }) => {
  // Every response by path: each script, the styles, the WASM and the page itself.
  const responses = new Map<string, { kind: string, encoding: string, size: number }>();
  page.on('response', async r => {
    const path = new URL(r.url()).pathname;
    const kind = path.endsWith('.wasm') ? 'wasm' : path.endsWith('.js') ? 'js'
      : path.endsWith('.css') ? 'css' : path === '/login' ? 'page' : '';
    if (!kind) return;
    const sizes = await r.request().sizes();
    responses.set(path, { kind, encoding: (await r.allHeaders())['content-encoding'] ?? 'none', size: sizes.responseBodySize });
  });
  await page.goto('/login');
  await hydrated(page);
  await expect.poll(() => [...new Set([...responses.values()].map(r => r.kind))].sort().join(' '))
    .toBe('css js page wasm');
  // The portal's own passkey script as well as the front end's.
  await expect.poll(() => responses.has('/passkey.js')).toBe(true);
  for (const [path, { encoding }] of responses) expect(['br', 'gzip'], path).toContain(encoding);
  // The WASM as sent is well under its 1.3 MB.
  const wasm = [...responses.values()].find(r => r.kind === 'wasm')!;
  expect(wasm.size).toBeLessThan(600_000);
});
