import { test, expect, signedIn, shot, seeded, requireEnv } from './fixtures';

test.beforeEach(async ({ page }) => {
  await signedIn(page);
});

test('inspect shows metadata, the decoded SSA, redirect URIs, the Register view and history', async ({ page, consoleErrors }) => {
  const reg = seeded(0);
  await page.getByLabel('Search').fill(reg.clientId);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: reg.name }).click();
  await expect(page).toHaveURL(new RegExp(`/registrations/${reg.clientId}$`));
  await expect(page.getByRole('heading', { name: reg.name, level: 1 })).toBeVisible();
  await expect(page).toHaveTitle(`${reg.name} · DCR Admin`);

  const summary = page.getByRole('region', { name: 'Registration', exact: true });
  await expect(summary).toContainText(reg.clientId);
  await expect(summary).toContainText(reg.softwareId);
  const register = page.getByRole('region', { name: 'CDR Register' });
  await expect(register).toContainText('Software product status');
  await expect(register).toContainText('ACTIVE');
  await expect(register.getByRole('listitem')).toHaveText(['https://adr0.example/callback', 'https://adr0.example/cb2']);

  // The actions come before the ids, the Register and the SSA; the metadata and the SSA are
  // folded until opened.
  const order = await page.locator('main h2').allTextContents();
  expect(order.indexOf('Revoke')).toBeLessThan(order.indexOf('Registration'));
  expect(order.indexOf('Release')).toBeLessThan(order.indexOf('Software statement (SSA)'));
  const metadata = page.getByRole('region', { name: 'Registered metadata' });
  await expect(metadata.getByText('software_statement')).toBeHidden();
  await metadata.getByText('Registered metadata').click();
  await expect(metadata).toContainText('token_endpoint_auth_method');
  await expect(metadata).toContainText('private_key_jwt');
  await expect(metadata.getByText('software_statement')).toBeVisible();
  const ssa = page.getByRole('region', { name: 'Software statement (SSA)' });
  await ssa.getByText('Software statement (SSA)').click();
  await expect(ssa).toContainText('software_roles');
  await expect(ssa).toContainText('data-recipient-software-product');
  await expect(ssa).toContainText('seed-register-key');
  await expect(ssa.locator('time').first()).toBeVisible();

  const history = page.getByRole('region', { name: 'History' });
  await expect(history).toContainText('registration.create');
  await expect(history).toContainText(`recipient:${reg.softwareId}`);
  await shot(page, 'inspect');

  // The key ids are fetched on request; this recipient's server does not exist. The server
  // function answers that it cannot do as asked with HTTP 400, which the browser logs.
  consoleErrors.expect(/status of 400 \(Bad Request\) \(at http:\/\/[^)]+\/api\/registration-keys\)$/);
  await page.getByRole('link', { name: 'Fetch key ids now' }).click();
  const keys = page.getByRole('region', { name: 'Keys', exact: true });
  await expect(keys.getByRole('alert')).toContainText("jwks_uri could not be reached", { timeout: 15_000 });
  await expect(keys.getByRole('alert')).not.toContainText('error');
});

test('the key ids at a real recipient jwks_uri are listed', async ({ page }) => {
  const clientId = requireEnv('E2E_ADR_CLIENT_ID');
  await page.goto(`/registrations/${clientId}`);
  await page.getByRole('link', { name: 'Fetch key ids now' }).click();
  const keys = page.getByRole('region', { name: 'Keys', exact: true });
  await expect(keys.getByRole('columnheader', { name: 'Key id (kid)' })).toBeVisible();
  await expect(keys.locator('tbody tr')).not.toHaveCount(0);
  await expect(keys.locator('tbody td').nth(1)).toHaveText('RSA');
  await shot(page, 'inspect-keys');
});

test('an unknown client id or path says so with 404, in the signed-in frame', async ({ page, consoleErrors }) => {
  // Both pages are answered with 404, which the browser logs.
  consoleErrors.expect(/status of 404 \(Not Found\) \(at http:\/\/[^)]+\/registrations\/no-such-client\)$/);
  consoleErrors.expect(/status of 404 \(Not Found\) \(at http:\/\/[^)]+\/nowhere\/at\/all\)$/);
  for (const [path, heading] of [['/registrations/no-such-client', 'No such registration'], ['/nowhere/at/all', 'Page not found']]) {
    const res = await page.goto(path);
    expect(res?.status(), path).toBe(404);
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
    await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  }
  await shot(page, 'not-found');
  await page.getByRole('link', { name: 'Back to registrations' }).click();
  await expect(page.getByRole('heading', { name: 'Registrations', level: 1 })).toBeVisible();
});

test('ids are copied with their buttons, and the history shows what changed', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const reg = seeded(75); // active, and no other test changes it
  await page.goto(`/registrations/${reg.clientId}`);
  const summary = page.getByRole('region', { name: 'Registration', exact: true });
  await summary.getByRole('button', { name: 'Copy the client ID' }).click();
  await expect(summary.getByRole('button', { name: 'Copy the client ID' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(reg.clientId);
  await summary.getByRole('button', { name: 'Copy the software product ID' }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(reg.softwareId);

  // A revocation's change is shown as the field before and after, not as raw JSON.
  await page.getByRole('button', { name: 'Revoke…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason').fill('Diff display check');
  await dialog.getByRole('checkbox').check();
  await dialog.getByRole('button', { name: 'Revoke registration' }).click();
  const history = page.getByRole('region', { name: 'History' });
  const row = history.locator('tbody tr').filter({ hasText: 'registration.revoke' });
  await expect(row.locator('dl.diff del').first()).toHaveText('active');
  await expect(row.locator('dl.diff ins').first()).toHaveText('revoked');
  await expect(row).not.toContainText('{"');
});
