import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { calculateJwkThumbprint, createLocalJWKSet, EmbeddedJWK, errors, type JWK, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { Clock } from '../common/clock/clock.js';
import { isUuid } from '../common/ids.js';
import type { Principal } from '../common/principal.js';
import { AppConfig } from '../config/app-config.js';
import { OAuthError } from './oauth.errors.js';
import { ACCESS_TOKEN_ALGORITHM } from './key-store.js';
import { isClientType } from './scopes.js';

/** Algorithms accepted for DPoP proofs: the same as the authorization server's (asymmetric only; never `none` or HMAC). */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA'];
const DPOP_PROOF_MAX_AGE_SECONDS = 60;
const DPOP_REPLAY_CACHE_LIMIT = 100_000;
/** Verified tokens kept in memory, so a client calling again with the same token skips the signature check. */
const VERIFIED_CACHE_LIMIT = 10_000;

/** The audience of every access token creditgate issues: its API. */
export function apiAudience(config: AppConfig): string {
  return `${config.publicUrl}/v1`;
}

export interface TokenRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  readonly authorization: string | undefined;
  readonly dpop: string | undefined;
}

/**
 * Verifies RFC 9068 access tokens locally: ES256 only, `typ: at+jwt`, our issuer and audience, time
 * claims, and the DPoP binding when the token has one. No database round trip: the public keys are
 * loaded once at start-up (and again when a token names a key this instance has not seen).
 */
@Injectable()
export class AccessTokenVerifier {
  private keySet: JWTVerifyGetKey | undefined;
  private knownKids = new Set<string>();
  private reloadKeys: (() => Promise<readonly JWK[]>) | undefined;
  private lastReloadMs = 0;
  /** Token -> its verified claims, in least-recently-used order (a Map iterates in insertion order). */
  private readonly verified = new Map<string, { payload: Record<string, unknown>; expiresAtMs: number }>();
  /** DPoP proof ids seen within their validity window, for replay detection (per instance). */
  private readonly seenProofs = new Map<string, number>();

  constructor(
    private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  useKeys(verifying: readonly JWK[], reload?: () => Promise<readonly JWK[]>): void {
    this.verified.clear();
    this.keySet = createLocalJWKSet({ keys: verifying.map((jwk) => ({ ...jwk })) });
    this.knownKids = new Set(verifying.map((jwk) => jwk.kid ?? ''));
    if (reload) this.reloadKeys = reload;
  }

  async verify(request: TokenRequest): Promise<Principal> {
    const { scheme, token } = parseAuthorization(request.authorization);
    const payload = await this.verifyJwt(token, scheme);
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt === 'string') {
      if (scheme !== 'DPoP')
        throw OAuthError.tokenInvalid('This token is DPoP-bound: send it as `Authorization: DPoP <token>` with a DPoP proof.', 'DPoP');
      await this.verifyDpopProof(request, token, jkt);
    } else if (scheme === 'DPoP') {
      throw OAuthError.tokenInvalid('This token is not DPoP-bound: send it as `Authorization: Bearer <token>`.', 'DPoP');
    }
    return principalFrom(payload);
  }

  private async verifyJwt(token: string, scheme: 'Bearer' | 'DPoP'): Promise<Record<string, unknown>> {
    if (this.keySet === undefined) throw new Error('the access token verifier has no keys yet');
    const cached = this.verified.get(token);
    if (cached !== undefined) {
      this.verified.delete(token);
      // Same token, same keys: the signature and claims checks would give the same answer; only time moves.
      if (this.clock.nowMs() < cached.expiresAtMs) {
        this.verified.set(token, cached);
        return cached.payload;
      }
    }
    const payload = await this.verifySignatureAndClaims(token, scheme);
    if (typeof payload.exp === 'number') {
      if (this.verified.size >= VERIFIED_CACHE_LIMIT) {
        const oldest = this.verified.keys().next();
        if (!oldest.done) this.verified.delete(oldest.value);
      }
      this.verified.set(token, { payload, expiresAtMs: payload.exp * 1000 });
    }
    return payload;
  }

  private async verifySignatureAndClaims(token: string, scheme: 'Bearer' | 'DPoP'): Promise<Record<string, unknown>> {
    if (this.keySet === undefined) throw new Error('the access token verifier has no keys yet');
    await this.reloadIfUnknownKid(token);
    try {
      const { payload } = await jwtVerify(token, this.keySet, {
        algorithms: [ACCESS_TOKEN_ALGORITHM],
        issuer: this.config.publicUrl,
        audience: apiAudience(this.config),
        typ: 'at+jwt',
        requiredClaims: ['exp', 'iat', 'client_id', 'jti'],
        currentDate: this.clock.now(),
        clockTolerance: 5,
      });
      return payload;
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw OAuthError.tokenInvalid('The access token has expired.', scheme);
      if (error instanceof errors.JOSEError) throw OAuthError.tokenInvalid('The access token is not valid for this API.', scheme);
      throw error;
    }
  }

  /** A kid this instance does not know may be a key another instance just added: reload, at most every 10 s. */
  private async reloadIfUnknownKid(token: string): Promise<void> {
    if (this.reloadKeys === undefined) return;
    const headerPart = token.split('.')[0] ?? '';
    let kid: unknown;
    try {
      kid = (JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as { kid?: unknown }).kid;
    } catch {
      return; // jwtVerify reports the malformed token
    }
    if (typeof kid !== 'string' || this.knownKids.has(kid) || this.clock.nowMs() - this.lastReloadMs < 10_000) return;
    this.lastReloadMs = this.clock.nowMs();
    this.useKeys(await this.reloadKeys());
  }

  private async verifyDpopProof(request: TokenRequest, token: string, jkt: string): Promise<void> {
    if (request.dpop === undefined || request.dpop.length > 4096)
      throw OAuthError.dpopProofInvalid('A DPoP proof (the DPoP header) is required with this token.');
    let header: { jwk?: JWK };
    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(request.dpop, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: DPOP_ALGORITHMS,
        currentDate: this.clock.now(),
      });
      header = verified.protectedHeader as { jwk?: JWK };
      payload = verified.payload;
    } catch {
      throw OAuthError.dpopProofInvalid('The DPoP proof is not a valid signed dpop+jwt.');
    }
    if (header.jwk === undefined || (await calculateJwkThumbprint(header.jwk)) !== jkt)
      throw OAuthError.dpopProofInvalid('The DPoP proof was signed with a key other than the one the token is bound to.');
    if (payload.htm !== request.method) throw OAuthError.dpopProofInvalid('The DPoP proof is for another HTTP method.');
    const path = request.url.split('?')[0] ?? '';
    if (typeof payload.htu !== 'string' || stripQuery(payload.htu) !== `${this.config.publicUrl}${path}`)
      throw OAuthError.dpopProofInvalid('The DPoP proof is for another URL.');
    const nowSeconds = Math.floor(this.clock.nowMs() / 1000);
    if (typeof payload.iat !== 'number' || Math.abs(nowSeconds - payload.iat) > DPOP_PROOF_MAX_AGE_SECONDS)
      throw OAuthError.dpopProofInvalid('The DPoP proof is too old or from the future.');
    const ath = createHash('sha256').update(token).digest('base64url');
    if (payload.ath !== ath) throw OAuthError.dpopProofInvalid('The DPoP proof does not carry the hash of this access token (ath).');
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256)
      throw OAuthError.dpopProofInvalid('The DPoP proof has no valid jti.');
    this.rememberProof(`${jkt}:${payload.jti}`, payload.iat + DPOP_PROOF_MAX_AGE_SECONDS);
  }

  private rememberProof(id: string, expiresAtSeconds: number): void {
    const nowSeconds = Math.floor(this.clock.nowMs() / 1000);
    const seenUntil = this.seenProofs.get(id);
    if (seenUntil !== undefined && seenUntil >= nowSeconds) throw OAuthError.dpopProofInvalid('This DPoP proof was already used.');
    if (this.seenProofs.size >= DPOP_REPLAY_CACHE_LIMIT) {
      for (const [key, until] of this.seenProofs) if (until < nowSeconds) this.seenProofs.delete(key);
      // Still full of live proofs: refuse rather than forget one (bounded memory, fail closed).
      if (this.seenProofs.size >= DPOP_REPLAY_CACHE_LIMIT)
        throw OAuthError.dpopProofInvalid('Too many DPoP proofs in flight; retry shortly.');
    }
    this.seenProofs.set(id, expiresAtSeconds);
  }
}

function stripQuery(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function parseAuthorization(header: string | undefined): { scheme: 'Bearer' | 'DPoP'; token: string } {
  if (header === undefined || header.trim() === '') throw OAuthError.tokenMissing();
  const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header.trim());
  if (match === null || match[2] === undefined || match[2].length > 8192)
    throw OAuthError.tokenInvalid('The Authorization header is not `Bearer <token>` or `DPoP <token>`.');
  const scheme = match[1]?.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  return { scheme, token: match[2] };
}

/** Reads the caller from verified claims; refuses any token whose claims are not exactly as we issue them. */
export function principalFrom(payload: Record<string, unknown>): Principal {
  const clientId = payload.client_id;
  const clientType = payload.client_type;
  const scope = payload.scope ?? '';
  const sub = payload.sub;
  if (typeof clientId !== 'string' || typeof clientType !== 'string' || !isClientType(clientType) || typeof scope !== 'string') {
    throw OAuthError.tokenInvalid('The access token lacks the claims this API needs.');
  }
  const merchantId = typeof payload.merchant_id === 'string' ? payload.merchant_id : null;
  // A user token's subject is the user's id (a UUID); a client-credentials token's subject is the
  // client itself. Client ids are never UUID-shaped, so the two cannot be confused.
  const userId = typeof sub === 'string' && sub !== clientId && isUuid(sub) ? sub.toLowerCase() : null;
  return { clientId, clientType, merchantId, userId, scopes: scope.split(' ').filter((item) => item.length > 0) };
}
