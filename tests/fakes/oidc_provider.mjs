// A real OpenID Connect provider for the tests (node-oidc-provider), on 127.0.0.1.
//
// Environment: OIDC_FAKE_PORT, OIDC_FAKE_CLIENT_ID, OIDC_FAKE_CLIENT_SECRET and
// OIDC_FAKE_REDIRECT_URIS (comma-separated). Its development login page takes any
// login and password; the login is the account's e-mail address, verified unless it
// starts with "unverified", and absent when it starts with "noemail". Consent is given
// on sign-in (a first-party client), so the login page is the only page a person sees.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_FAKE_PORT);
const issuer = `http://127.0.0.1:${port}`;

function claimsOf(login) {
  const claims = { sub: login, name: `Test ${login.split('@')[0]}` };
  if (!login.toLowerCase().startsWith('noemail')) {
    claims.email = login;
    claims.email_verified = !login.toLowerCase().startsWith('unverified');
  }
  return claims;
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_FAKE_CLIENT_ID,
    client_secret: process.env.OIDC_FAKE_CLIENT_SECRET,
    redirect_uris: process.env.OIDC_FAKE_REDIRECT_URIS.split(','),
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['test-only-cookie-key'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

const server = provider.listen(port, '127.0.0.1', () => console.log(`oidc provider at ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
