import { createHmac } from 'node:crypto';
import type { Browser, BrowserContext, CDPSession, Page } from '@playwright/test';
import { test, expect, signIn, signedIn, shot } from './fixtures';

// Passkeys are bound to a host name, and browsers refuse them on an IP address: this journey
// runs on `localhost` (the development relying party, any port) instead of 127.0.0.1.
const BASE = (process.env.BASE_URL ?? 'http://127.0.0.1:7080').replace('127.0.0.1', 'localhost');
test.use({ baseURL: BASE });

/** Adds an account through the People page (as the signed-in administrator); returns its name. */
async function addPerson(page: Page, prefix: string, password: string): Promise<string> {
  const name = `${prefix}-${Date.now() % 1_000_000}`;
  await page.goto('/admins');
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByLabel('First password').fill(password);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('status')).toContainText(`${name} is added`);
  return name;
}

/** A new browser for `name`, signed in with its first password replaced by `own`. */
async function personSignedIn(browser: Browser, name: string, first: string, own: string, javaScriptEnabled = true) {
  const context = await browser.newContext({ baseURL: BASE, javaScriptEnabled });
  const page = await context.newPage();
  await signIn(page, name, first);
  await expect(page).toHaveURL(/\/account\?must_change=1/);
  await page.getByLabel('Current password').fill(first);
  await page.getByLabel('New password', { exact: true }).fill(own);
  await page.getByLabel('Confirm new password').fill(own);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status')).toContainText('Your password is changed.');
  return { context, page };
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/signed_out=1/);
}

/** Chromium's virtual authenticator (a platform authenticator that verifies its user). */
async function virtualAuthenticator(context: BrowserContext, page: Page) {
  const cdp: CDPSession = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  const credentials = async () =>
    (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  const clear = () => cdp.send('WebAuthn.clearCredentials', { authenticatorId });
  type Credential = Awaited<ReturnType<typeof credentials>>[number];
  const restore = (credential: Credential) =>
    cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  return { credentials, clear, restore };
}

/** RFC 4648 base32, as the account page shows the key. */
function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (HMAC-SHA-1, 30-second steps, 6 digits) of `step`, by RFC 4226 §5.3. */
function totp(key: Buffer, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 1000 / 30);

test('a passkey is added on the account page and signs in; an absent or forged one is refused; it is removed with itself', async ({ page, browser }) => {
  await signedIn(page);
  const first = `first password ${Date.now()}`;
  const own = `my own passphrase ${Date.now()}`;
  const name = await addPerson(page, 'e2e-passkey', first);
  const { context, page: person } = await personSignedIn(browser, name, first, own);
  const authenticator = await virtualAuthenticator(context, person);

  // Adding a passkey: a name, the password, then the browser makes it.
  await person.goto('/account#passkeys');
  await expect(person.locator('html')).toHaveClass(/\bpasskeys\b/);
  await expect(person.getByText('Passkeys need JavaScript')).toBeHidden();
  const add = person.locator('form[data-passkey="create"]');
  await add.getByLabel('Name of the new passkey').fill('e2e laptop');
  await add.getByLabel('Confirm with your password').fill('not the password');
  await add.getByRole('button', { name: 'Add a passkey' }).click();
  await expect(person.getByRole('alert')).toHaveText('The current password is not correct.');
  expect(await authenticator.credentials()).toHaveLength(1);
  await authenticator.clear(); // the one the refused form made
  await person.locator('form[data-passkey="create"]').getByLabel('Name of the new passkey').fill('e2e laptop');
  await person.locator('form[data-passkey="create"]').getByLabel('Confirm with your password').fill(own);
  await person.locator('form[data-passkey="create"]').getByRole('button', { name: 'Add a passkey' }).click();
  await expect(person.getByRole('status')).toContainText('Your passkey is added');
  await expect(person.locator('.passkey-list li')).toHaveCount(1);
  await expect(person.locator('.passkey-list li')).toContainText('e2e laptop');
  expect(await authenticator.credentials()).toHaveLength(1);
  await shot(person, 'account-passkey');

  // Signing in: the password, then the passkey.
  await signOut(person);
  await signIn(person, name, own);
  await expect(person).toHaveURL(/\/login\/second-factor$/);
  await shot(person, 'second-factor');
  await person.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();

  // A forged answer (sent without the script's ceremony) is refused by the server.
  await signOut(person);
  await signIn(person, name, own);
  await expect(person).toHaveURL(/\/login\/second-factor$/);
  await person.evaluate(async () => {
    await fetch('/auth/second-factor/passkey', { method: 'POST' });
    const form = document.querySelector<HTMLFormElement>('form[data-passkey="get"]')!;
    (form.elements.namedItem('passkey') as HTMLInputElement).value = JSON.stringify({
      id: 'AAAA', rawId: 'AAAA', type: 'public-key',
      response: { authenticatorData: 'AAAA', clientDataJSON: 'AAAA', signature: 'AAAA', userHandle: null },
    });
    form.submit();
  });
  await expect(person).toHaveURL(/\/login\/second-factor\?error=passkey$/);
  await expect(person.getByRole('alert')).toHaveText('The passkey was not accepted. Try again, or use a code.');

  // Without its passkey on this device, the browser has nothing to answer with.
  const [saved] = await authenticator.credentials();
  await authenticator.clear();
  await person.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(person.locator('[data-passkey-status]')).toContainText('The passkey was not used');
  await person.goto('/');
  await expect(person).toHaveURL(/\/login\/second-factor$/);

  // With it back, sign in, and remove it: the password and the passkey itself (this account
  // has no authenticator app).
  await authenticator.restore(saved);
  await person.getByRole('button', { name: 'Use a passkey' }).click();
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await person.goto('/account#passkeys');
  await person.getByText('Remove e2e laptop').click();
  const remove = person.locator('form[action="/account/second-factor/passkey/remove"]');
  await remove.getByLabel('Confirm with your password').fill(own);
  await remove.getByRole('button', { name: 'Remove this passkey' }).click();
  await expect(person.getByRole('status')).toContainText('The passkey is removed.');
  await expect(person.locator('.passkey-list li')).toHaveCount(0);
  await signOut(person);
  await signIn(person, name, own);
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();

  await page.goto(`/audit?action=admin.second_factor_failed&actor=admin:${name}`);
  await expect(page.locator('table.audit-table tbody tr')).toHaveCount(1);
  await expect(page.locator('table.audit-table tbody tr')).toContainText('passkey');
  await context.close();
});

test('without JavaScript, an authenticator app is enrolled with a computed code and signs in, a recovery code signs in once, and passkeys are said to need JavaScript', async ({ page, browser }) => {
  await signedIn(page);
  const first = `first password ${Date.now()}`;
  const own = `my own passphrase ${Date.now()}`;
  const name = await addPerson(page, 'e2e-totp', first);
  const { context, page: person } = await personSignedIn(browser, name, first, own, false);

  await person.goto('/account#second-factor');
  await expect(person.getByText('Passkeys need JavaScript')).toBeVisible();
  await expect(person.getByRole('button', { name: 'Add a passkey' })).toBeHidden();
  await person.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const key = base32((await person.locator('#totp-secret').textContent()) ?? '');
  expect(key.length).toBe(20);
  await person.locator('#sf_password').fill(own);
  const step = stepNow();
  await person.getByLabel('Code from the app').fill(totp(key, step));
  await person.getByRole('button', { name: 'Enrol' }).click();
  await expect(person.getByRole('status').first()).toContainText('Your authenticator app is enrolled');
  const codes = (await person.locator('.recovery-codes li').allTextContents()).map(c => c.trim());
  expect(codes).toHaveLength(10);

  // The next step's code (the one used to enrol cannot be used again).
  await signOut(person);
  await signIn(person, name, own);
  await expect(person).toHaveURL(/\/login\/second-factor$/);
  await expect(person.getByText('Passkeys need JavaScript')).toBeVisible();
  await expect(person.getByRole('button', { name: 'Use a passkey' })).toBeHidden();
  await person.getByLabel('Code').fill(totp(key, step + 1));
  await person.getByRole('button', { name: 'Continue' }).click();
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();

  // A recovery code signs in once.
  await signOut(person);
  await signIn(person, name, own);
  await person.getByLabel('Code').fill(codes[0]);
  await person.getByRole('button', { name: 'Continue' }).click();
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await signOut(person);
  await signIn(person, name, own);
  await person.getByLabel('Code').fill(codes[0]);
  await person.getByRole('button', { name: 'Continue' }).click();
  await expect(person).toHaveURL(/\/login\/second-factor\?error=code$/);
  await expect(person.getByRole('alert')).toHaveText('That code is not correct, or was used already.');
  await person.getByLabel('Code').fill(codes[1]);
  await person.getByRole('button', { name: 'Continue' }).click();
  await expect(person.getByRole('heading', { name: 'Overview', level: 1 })).toBeVisible();
  await context.close();
});
