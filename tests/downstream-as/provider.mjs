// The downstream authorization server of the provisioning tests: node-oidc-provider (in memory)
// with RFC 7591 registration behind one static initial access token, RFC 7592 read, update and
// delete, client_credentials with private_key_jwt (PS256, ES256) and access tokens bound to the
// client certificate (RFC 8705), over HTTPS with the client certificate taken from the TLS
// session. Test-only: it trusts any client certificate and fetches jwks_uri on loopback.
//
// Environment:
//   OP_IAT          the initial access token (required)
//   OP_TLS_CERT, OP_TLS_KEY   the server's certificate chain and key, PEM (required)
//   OP_PORT         the port on 127.0.0.1 (default 0: any free port)
//   OP_SCOPES       the scopes clients may register, space separated
//   OP_CLIENT_ID    `accept` (default): a client_id in the registration request is kept;
//                   `assign`: the server always assigns its own
//   OP_PROVISIONER_ID, OP_PROVISIONER_SECRET   when both are set: a confidential client
//                   (client_credentials, client_secret_basic, scope OP_PROVISIONER_SCOPE, default
//                   `dcr:provision`) whose access tokens with that scope the registration
//                   endpoint accepts as well as the initial access token
//   NODE_EXTRA_CA_CERTS       the CA of the recipients' jwks_uri (read by Node at start)
// Once listening it prints one line of JSON on stdout: {"ready": "<issuer>"}.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { Provider, errors } from 'oidc-provider';

const env = process.env;
if (!env.OP_IAT || !env.OP_TLS_CERT || !env.OP_TLS_KEY) {
  throw new Error('OP_IAT, OP_TLS_CERT and OP_TLS_KEY are required');
}
const scopes = (env.OP_SCOPES ?? 'openid profile bank:accounts.basic:read').split(' ').filter(Boolean);
const acceptClientId = (env.OP_CLIENT_ID ?? 'accept') === 'accept';
const provisioner = env.OP_PROVISIONER_ID && env.OP_PROVISIONER_SECRET
  ? { id: env.OP_PROVISIONER_ID, secret: env.OP_PROVISIONER_SECRET, scope: env.OP_PROVISIONER_SCOPE ?? 'dcr:provision' }
  : undefined;
if (provisioner) scopes.push(provisioner.scope);

// The certificate is requested but not checked here: the token endpoint binds tokens to
// whatever certificate the client presented, which is all these tests need.
const server = https.createServer({
  cert: readFileSync(env.OP_TLS_CERT),
  key: readFileSync(env.OP_TLS_KEY),
  requestCert: true,
  rejectUnauthorized: false,
});

function clientCertificate(ctx) {
  const peer = ctx.socket.getPeerCertificate?.();
  return peer?.raw ? new crypto.X509Certificate(peer.raw) : undefined;
}

server.listen(Number(env.OP_PORT ?? 0), '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  // A PS256 signing key of its own (the built-in development key is RS256, which a client
  // registering id_token_signed_response_alg PS256 could not be given).
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'downstream-ps256', alg: 'PS256', use: 'sig' };

  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    scopes,
    clientAuthMethods: provisioner ? ['private_key_jwt', 'client_secret_basic'] : ['private_key_jwt'],
    clients: provisioner ? [{
      client_id: provisioner.id,
      client_secret: provisioner.secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: provisioner.scope,
    }] : [],
    enabledJWA: {
      clientAuthSigningAlgValues: ['PS256', 'ES256'],
      idTokenSigningAlgValues: ['PS256', 'ES256'],
      requestObjectSigningAlgValues: ['PS256', 'ES256'],
    },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'private_key_jwt',
      // Not a default beside the provisioner: client_secret_basic takes no signing algorithm.
      ...(provisioner ? {} : { token_endpoint_auth_signing_alg: 'PS256' }),
      id_token_signed_response_alg: 'PS256',
    },
    // Metadata not listed is dropped silently; these are stored and echoed back.
    extraClientMetadata: {
      properties: ['software_id'],
      validator(ctx, key, value) {
        if (value !== undefined && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata(`${key} must be a string`);
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      requestObjects: { enabled: true },
      registration: {
        enabled: true,
        initialAccessToken: env.OP_IAT,
        // Called synchronously with the parsed body: keep the caller's client_id when accepted.
        idFactory: (ctx) => {
          const wanted = ctx.oidc.body?.client_id;
          return acceptClientId && typeof wanted === 'string' && /^[A-Za-z0-9._~-]{1,128}$/.test(wanted)
            ? wanted
            : crypto.randomUUID();
        },
      },
      // A new registration access token at each update, as Keycloak does: the old one stops
      // working, so the server must keep the one each update answers with.
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      mTLS: { enabled: true, certificateBoundAccessTokens: true, getCertificate: clientCertificate },
    },
    ttl: { ClientCredentials: 600, AccessToken: 600 },
    // CDR clients register refresh_token; a policy of its own (rather than the default, tied to
    // offline_access) is what makes oidc-provider accept that grant type.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // The built-in fetch refuses loopback and private addresses; the tests' jwks_uri is on
    // loopback.
    fetch: (url, { dispatcher, ...options }) => fetch(url, options),
  });

  // The registration feature takes initial access tokens only. A valid access token of the
  // client credentials grant with the provisioner's scope stands in for the initial access token
  // here; any other bearer is left to the route, which refuses it (401).
  if (provisioner) {
    provider.use(async (ctx, next) => {
      const [scheme, value] = (ctx.get('authorization') || '').split(' ');
      if (ctx.method === 'POST' && ctx.path === '/reg' && scheme?.toLowerCase() === 'bearer' && value !== env.OP_IAT) {
        const token = await provider.ClientCredentials.find(value);
        if (token && !token.isExpired && (token.scope ?? '').split(' ').includes(provisioner.scope)) {
          ctx.req.headers.authorization = `Bearer ${env.OP_IAT}`;
          console.error('registration_bearer.accepted', token.clientId);
        } else {
          console.error('registration_bearer.refused', token ? 'expired or without the scope' : 'unknown token');
        }
      }
      await next();
    });
  }

  // A chosen client_id that exists already would replace that client (the in-memory adapter
  // upserts) and idFactory cannot wait for a lookup, so such a request is refused here. Reading
  // the body first makes oidc-provider use ctx.request.body.
  provider.use(async (ctx, next) => {
    if (acceptClientId && ctx.method === 'POST' && ctx.path === '/reg' && ctx.is('application/json')) {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      ctx.request.body = Buffer.concat(chunks);
      let wanted;
      try { wanted = JSON.parse(ctx.request.body).client_id; } catch { /* the route answers */ }
      if (typeof wanted === 'string' && await provider.Client.find(wanted)) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_client_metadata', error_description: 'client_id already registered' };
        return;
      }
    }
    await next();
  });

  // One line per registration change and per failure, with the cause the responses omit.
  for (const event of ['registration_create.success', 'registration_update.success',
    'registration_delete.success', 'registration_create.error', 'registration_read.error',
    'registration_update.error', 'registration_delete.error', 'grant.error', 'server_error']) {
    provider.on(event, (ctx, arg) => {
      const causes = [];
      for (let e = arg; e instanceof Error; e = e.cause) causes.push(e.error_detail ?? e.message);
      console.error(event, arg?.clientId ?? causes.join(' <- '));
    });
  }

  // One line per token issued, naming the client (the tests count the provisioner's).
  provider.on('grant.success', (ctx) => console.error('grant.success', ctx.oidc.client?.clientId));

  server.on('request', provider.callback());
  console.log(JSON.stringify({ ready: issuer }));
});
