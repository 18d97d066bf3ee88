// The browser's part of the portal's passkeys (server/src/portal/passkey.rs; docs/portal.md,
// "Passkeys"). A form marked `data-passkey="create"` or `data-passkey="get"` is sent only after
// the browser made or used a passkey: the options come from the form's `data-passkey-options`
// endpoint, the result goes in the form's `passkey` field as JSON (binary values base64url),
// and the form is sent as usual. Without this script, or without WebAuthn in the browser, the
// page's `passkey-js` parts stay hidden and its `passkey-nojs` parts say so (the `passkeys`
// class on <html>, set here, decides which).
(() => {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  document.documentElement.classList.add('passkeys');

  const fromB64u = s => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
    return Uint8Array.from(atob(b64), c => c.charCodeAt(0)).buffer;
  };
  const toB64u = buf => {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const idsFromB64u = list => (list || []).map(c => ({ ...c, id: fromB64u(c.id) }));

  // The messages a failure shows beside the form (role="alert").
  const say = (form, text) => {
    const out = form.querySelector('[data-passkey-status]');
    if (out) out.textContent = text;
  };

  async function options(form) {
    const res = await fetch(form.dataset.passkeyOptions, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error || 'options'), { name: body.error || 'ServerError' });
    return body;
  }

  async function create(form) {
    const pk = (await options(form)).publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    pk.excludeCredentials = idsFromB64u(pk.excludeCredentials);
    const cred = await navigator.credentials.create({ publicKey: pk });
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64u(cred.response.attestationObject),
        clientDataJSON: toB64u(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : undefined,
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  async function get(form) {
    const pk = (await options(form)).publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.allowCredentials = idsFromB64u(pk.allowCredentials);
    const cred = await navigator.credentials.get({ publicKey: pk });
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64u(r.authenticatorData),
        clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null,
      },
      extensions: cred.getClientExtensionResults(),
    };
  }

  const explain = e => {
    switch (e && e.name) {
      case 'NotAllowedError': return 'The passkey was not used: the request was cancelled, timed out, or no passkey of this account is on this device.';
      case 'InvalidStateError': return 'This device already holds a passkey of this account.';
      case 'no_passkey': return 'This account has no passkey: use a code instead.';
      case 'expired': return 'This sign-in has expired: sign in again.';
      case 'passkeys_off': return 'This portal does not offer passkeys.';
      default: return 'The passkey could not be used. Try again, or use a code.';
    }
  };

  document.addEventListener('submit', async event => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const kind = form.dataset.passkey;
    if (kind !== 'create' && kind !== 'get') return;
    const field = form.elements.namedItem('passkey');
    if (!field) return;
    // A form that may be confirmed by a code instead goes as it is when a code was typed.
    const code = form.elements.namedItem('code');
    if (kind === 'get' && code && code.value.trim() !== '') return;
    event.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = '1';
    say(form, '');
    try {
      const cred = kind === 'create' ? await create(form) : await get(form);
      field.value = JSON.stringify(cred);
      form.submit();
    } catch (e) {
      field.value = '';
      say(form, explain(e));
    } finally {
      delete form.dataset.busy;
    }
  });
})();
