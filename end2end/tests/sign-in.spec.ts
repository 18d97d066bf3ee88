import { test, expect } from '@playwright/test';
import { signIn, shot, ADMIN_USER } from './fixtures';

test('an unknown user and a wrong password get the same message', async ({ page }) => {
  await signIn(page, 'nobody-here', 'whatever-password');
  await expect(page).toHaveURL(/\/login\?error=/);
  const unknown = await page.getByRole('alert').textContent();
  await signIn(page, ADMIN_USER, 'wrong-password-entirely');
  await expect(page).toHaveURL(/\/login\?error=/);
  expect(await page.getByRole('alert').textContent()).toBe(unknown);
  await shot(page, 'login-failed');
});

test('an administrator signs in and out', async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('heading', { name: 'Registrations' })).toBeVisible();
  await expect(page.getByText(ADMIN_USER)).toBeVisible();
  await shot(page, 'home');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('a pages needs a session', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('a cross-site sign-in post is refused', async ({ request }) => {
  const res = await request.post('/auth/login', {
    form: { username: 'admin', password: 'x' },
    headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    maxRedirects: 0,
  });
  expect(res.status()).toBe(403);
});
