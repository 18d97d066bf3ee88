// The identity provider of the single sign-on tests: node-oidc-provider as the Data Holder's
// OpenID Connect provider, with the portal as one confidential client (authorization code with
// PKCE, client_secret_basic) and people whose `groups` claim the portal maps to roles. Its
// sign-in page asks only for a username (the people are test accounts); consent is implied
// for the portal, a first-party client. Test-only, over HTTPS on loopback.
//
// Environment:
//   OP_TLS_CERT, OP_TLS_KEY   the server's certificate chain and key, PEM (required)
//   OP_PORT            the port on 127.0.0.1 (default 0: any free port)
//   OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URI   the portal as a client (required)
//   OP_ACCOUNTS_FILE   JSON {"<username>": {claims...}}, read at every sign-in, so that a test
//                      can change someone's groups between two sign-ins (required)
//   OP_ID_TOKEN        how the token endpoint's ID token is spoiled, to test that the portal
//                      refuses it: `tampered` (a claim changed after signing), `wrong-nonce` or
//                      `wrong-audience` (re-signed with the provider's own key); unset: as issued
// Once listening it prints one line of JSON on stdout: {"ready": "<issuer>"}.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { Provider } from 'oidc-provider';

const env = process.env;
for (const name of ['OP_TLS_CERT', 'OP_TLS_KEY', 'OP_CLIENT_ID', 'OP_CLIENT_SECRET', 'OP_REDIRECT_URI', 'OP_ACCOUNTS_FILE']) {
  if (!env[name]) throw new Error(`${name} is required`);
}
const accounts = () => JSON.parse(readFileSync(env.OP_ACCOUNTS_FILE, 'utf8'));

const server = https.createServer({ cert: readFileSync(env.OP_TLS_CERT), key: readFileSync(env.OP_TLS_KEY) });

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (res, status, body) => {
  res.statusCode = status;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Bank sign-in</title></head><body>${body}</body></html>`);
};
const loginForm = (uid, error) => `<main><h1>Bank sign-in</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
  <form method="post" action="/interaction/${escape(uid)}/login">
    <label for="login">Username</label> <input id="login" name="login" autocomplete="username" autofocus>
    <button type="submit">Sign in</button>
  </form>
  <form method="post" action="/interaction/${escape(uid)}/cancel"><button type="submit">Cancel</button></form></main>`;

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

server.listen(Number(env.OP_PORT ?? 0), '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-rs256', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    clients: [{
      client_id: env.OP_CLIENT_ID,
      client_secret: env.OP_CLIENT_SECRET,
      redirect_uris: [env.OP_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    // PKCE is required of every client, as the portal uses it.
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
    // The ID token carries the claims of the scopes asked for (not only the userinfo answer).
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      const claims = accounts()[id];
      if (!claims) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, preferred_username: id, ...claims }) };
    },
    // The portal is the bank's own application: consent is implied.
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  });
  provider.proxy = false;

  // The ID token spoiled as OP_ID_TOKEN asks, after the provider issued it.
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  provider.use(async (ctx, next) => {
    await next();
    const mode = env.OP_ID_TOKEN;
    if (!mode || ctx.path !== '/token' || typeof ctx.body?.id_token !== 'string') return;
    const [header, payload, signature] = ctx.body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (mode === 'tampered') {
      claims.groups = ['dcr-administrators'];
      ctx.body = { ...ctx.body, id_token: `${header}.${b64(claims)}.${signature}` };
      return;
    }
    if (mode === 'wrong-nonce') claims.nonce = 'a-nonce-this-browser-never-sent';
    if (mode === 'wrong-audience') claims.aud = 'another-client';
    const input = `${header}.${b64(claims)}`;
    const resigned = crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url');
    ctx.body = { ...ctx.body, id_token: `${input}.${resigned}` };
  });

  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));
  provider.on('grant.success', (ctx) => console.error('grant.success', ctx.oidc.client?.clientId));

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/favicon.ico') {
      res.statusCode = 204;
      return res.end();
    }
    const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|cancel))?$/);
    if (!match) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const [, uid, action] = match;
      if (req.method === 'GET' && !action) {
        return page(res, 200, loginForm(uid));
      }
      if (req.method === 'POST' && action === 'cancel') {
        return await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person cancelled' }, { mergeWithLastSubmission: false });
      }
      if (req.method === 'POST' && action === 'login') {
        const login = ((await readForm(req)).get('login') ?? '').trim();
        if (!accounts()[login]) return page(res, 200, loginForm(uid, 'No such person.'));
        console.error('login', login, details.params.client_id);
        return await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      }
      page(res, 405, '<p>Method not allowed</p>');
    } catch (err) {
      console.error('interaction_error', err.message);
      page(res, 400, `<p>${escape(err.message)}</p>`);
    }
  });
  console.log(JSON.stringify({ ready: issuer }));
});
