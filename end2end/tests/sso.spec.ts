import { test, expect, requireEnv } from './fixtures';

// Single sign-on in a real browser: the portal instance scripts/e2e.sh starts with an OpenID
// Connect provider (node-oidc-provider). Chromium enforces what the API tests cannot: the
// session cookie is SameSite=Strict, so the sign-on must carry its flow in its own cookie and
// reach the portal's pages with the new session after the provider's cross-site redirect.

const SSO_URL = requireEnv('E2E_SSO_URL');
const SSO_ADMIN = requireEnv('E2E_SSO_ADMIN');
const SSO_NOBODY = requireEnv('E2E_SSO_NOBODY');

// The provider's certificate is from the test CA, which Chromium does not know.
test.use({ ignoreHTTPSErrors: true });

test('a person signs in through the sign-in provider and lands on the page they asked for', async ({ page }) => {
  await page.goto(`${SSO_URL}/audit`);
  await expect(page).toHaveURL(/\/login\?next=%2Faudit/);
  await page.getByRole('link', { name: 'Sign in with Bank SSO' }).click();
  await expect(page.getByRole('heading', { name: 'Bank sign-in' })).toBeVisible();
  await page.getByLabel('Username').fill(SSO_ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(`${SSO_URL}/audit`);
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();
  await expect(page.getByText(SSO_ADMIN).first()).toBeVisible();
  // The session holds: another page opens signed in.
  await page.goto(`${SSO_URL}/admins`);
  await expect(page.getByRole('cell', { name: SSO_ADMIN })).toBeVisible();
  await expect(page.getByText('single sign-on').first()).toBeVisible();
});

test('someone whose groups give no role is told so and not signed in', async ({ page }) => {
  await page.goto(`${SSO_URL}/login`);
  await page.getByRole('link', { name: 'Sign in with Bank SSO' }).click();
  await page.getByLabel('Username').fill(SSO_NOBODY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText(/has no role in this portal/);
  await page.goto(`${SSO_URL}/`);
  await expect(page).toHaveURL(/\/login/);
});
