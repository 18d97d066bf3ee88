import { test, expect, signIn, shot, ADMIN_USER, ADMIN_PASSWORD, LOCK_USER } from './fixtures';

test('an unknown user and a wrong password get the same message', async ({ page }) => {
  await signIn(page, 'nobody-here', 'whatever-password');
  await expect(page).toHaveURL(/\/login\?error=/);
  const unknown = await page.getByRole('alert').textContent();
  await signIn(page, ADMIN_USER, 'wrong-password-entirely');
  await expect(page).toHaveURL(/\/login\?error=/);
  expect(await page.getByRole('alert').textContent()).toBe(unknown);
  await shot(page, 'login-failed');
});

test('an administrator signs in and out', async ({ page, context }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
  await expect(page.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await expect(page.getByRole('banner').getByText(ADMIN_USER)).toBeVisible();
  const cookie = (await context.cookies()).find(c => c.name === 'dcr_session');
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe('Strict');
  await shot(page, 'home');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=1/);
  await expect(page.getByRole('status')).toHaveText('You have signed out.');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  // A page asked for without a session is where signing in leads.
  await page.goto('/audit');
  await expect(page).toHaveURL(/\/login\?next=%2Faudit$/);
});

test('the session id changes at sign-in', async ({ page, context }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
  const before = (await context.cookies()).find(c => c.name === 'dcr_session')?.value;
  expect(before).toBeTruthy();
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
  const after = (await context.cookies()).find(c => c.name === 'dcr_session')?.value;
  expect(after).toBeTruthy();
  expect(after).not.toBe(before);
});

test('a page needs a session', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('repeated failures lock the account, even for the right password', async ({ page }) => {
  for (let i = 0; i < 4; i++) {
    await signIn(page, LOCK_USER, `wrong-${i}`);
    await expect(page.getByRole('alert')).toHaveText('The username or password is not correct.');
  }
  await signIn(page, LOCK_USER, 'wrong-4');
  await expect(page).toHaveURL(/error=throttled/);
  await expect(page.getByRole('alert')).toHaveText('Too many failed attempts. Wait a few minutes and try again.');
  await signIn(page, LOCK_USER, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/error=throttled/);
  await shot(page, 'login-throttled');
  // Other accounts are not affected.
  await signIn(page);
  await expect(page).toHaveURL(/\/overview$/);
});

test('a cross-site sign-in post is refused', async ({ request }) => {
  const res = await request.post('/auth/login', {
    form: { username: 'admin', password: 'x' },
    headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    maxRedirects: 0,
  });
  expect(res.status()).toBe(403);
});

test('a failed sign-in keeps the username and never the password', async ({ page }) => {
  await signIn(page, 'nobody-keeps-this', 'wrong-password-entirely');
  await expect(page).toHaveURL(/\/login\?error=/);
  await expect(page.getByLabel('Username')).toHaveValue('nobody-keeps-this');
  const password = page.getByLabel('Password', { exact: true });
  await expect(password).toHaveValue('');
  await expect(password).toBeFocused();
  expect(await page.content()).not.toContain('wrong-password-entirely');
});
