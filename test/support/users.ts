import type { Scope } from '../../src/oauth/scopes.js';
import { authorizationCodeFlow, createUser, type Fixture } from './oauth.js';
import type { TestApp } from './test-app.js';

export interface SignedInUser {
  readonly userId: string;
  readonly email: string;
  /** The mini-program's access token for this user. */
  readonly token: string;
}

/** A new user, signed in to `app` through the code flow with PKCE, who consented to `scopes`. */
export async function signedInUser(t: TestApp, app: Fixture, email: string, scopes: readonly Scope[]): Promise<SignedInUser> {
  const user = await createUser(t, email);
  const flow = await authorizationCodeFlow(t, {
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    redirectUri: app.redirectUri,
    scope: scopes.join(' '),
    login: email,
    password: user.password,
  });
  return { userId: user.id, email, token: flow.tokens.access_token };
}
