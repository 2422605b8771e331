import { isIP } from 'node:net';
import { isUuid } from '../common/ids.js';
import type { Principal } from '../common/principal.js';
import type { RequestContext } from '../common/request-context/request-context.js';

/**
 * The audit event: what every module records when it changes state, reads identity or credit data, or
 * decides about access (sign-ins, consents, tokens, grants). issue 8 reads these back for compliance.
 *
 * Naming an action: `<area>.<thing>.<what happened>` or `<area>.<what happened>`, lower snake case
 * segments joined by dots, the last one in the past tense, so that a prefix selects a family:
 *   user.signed_up            oauth.sign_in.succeeded     oauth.sign_in.failed
 *   oauth.consent.granted     oauth.consent.denied        oauth.token.issued
 *   oauth.grant.revoked       merchant.created            client.created
 *   identity.record.read      credit.score.read           audit.events.read
 * A failed attempt is the same action with `outcome: 'failure'` and the problem code, unless failing is
 * itself the event (`oauth.sign_in.failed`). A read of identity or credit data says why in `purpose`.
 *
 * Never in an event: a raw ID number, a name, a phone number, an e-mail address, a secret, a password, a
 * token. `details` keys that look like one are refused (see FORBIDDEN_DETAILS_KEY_PARTS), and so are
 * string values shaped like a JWT, a resident ID number or an e-mail address. Refer to people and things
 * by id.
 *
 * Every rule here is also a CHECK in the table (migrations/1763712100000-create-audit-events.ts); an
 * event that breaks one is a programming error, so it is refused with a plain Error (a 500 if it reaches
 * a request), whose message names the field and the rule but never the value.
 */
export type AuditAction = `${string}.${string}`;

export type AuditOutcome = 'success' | 'failure';

/**
 * Who acted. A Principal (an authenticated caller) fits as it is; a sign-in that knows only the user, or
 * nothing yet, gives just that (`{ userId }`) or `null`.
 */
export interface AuditActor {
  readonly clientId?: string | null;
  readonly clientType?: string | null;
  readonly merchantId?: string | null;
  readonly userId?: string | null;
  readonly scopes?: readonly string[];
}

/** A JSON object: strings, safe integers, booleans, null, arrays and objects of them. */
export type AuditDetails = { readonly [key: string]: unknown };

export interface AuditEventInput {
  /** What happened: see the naming rule above (`oauth.consent.granted`). */
  readonly action: AuditAction;
  readonly actor: Principal | AuditActor | null;
  /** What kind of thing it happened to, lower snake case (`user`, `oauth_grant`, `merchant`). */
  readonly resourceType: string;
  /** Which one: its id, never a natural key that is personal data. */
  readonly resourceId?: string | null;
  readonly outcome: AuditOutcome;
  /** The problem document's `code` when it failed (`INVALID_CREDENTIALS`). Only with `failure`. */
  readonly problemCode?: string | null;
  readonly httpStatus?: number | null;
  /** Why personal or credit data was read: a code (`waiver.decision`, `compliance.review`). */
  readonly purpose?: string | null;
  /** Facts that help a reader, at most 8 KiB; see AuditDetails and the refusals above. */
  readonly details?: AuditDetails | null;
  /**
   * Where from. Left out (undefined), each is taken from the current request context; `null` records
   * that it is not known.
   */
  readonly ip?: string | null;
  readonly requestId?: string | null;
  readonly userAgent?: string | null;
}

/** An event that passed every rule, in the shape of its row (less the id and time the service adds). */
export interface ValidAuditEvent {
  readonly action: string;
  readonly clientId: string | null;
  readonly clientType: string | null;
  readonly merchantId: string | null;
  readonly userId: string | null;
  readonly scopes: string[];
  readonly resourceType: string;
  readonly resourceId: string | null;
  readonly outcome: AuditOutcome;
  readonly problemCode: string | null;
  readonly httpStatus: number | null;
  readonly ip: string | null;
  readonly requestId: string | null;
  readonly userAgent: string | null;
  readonly purpose: string | null;
  readonly details: Record<string, unknown> | null;
}

export const AUDIT_ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

export const AUDIT_LIMITS = {
  actionLength: 128,
  resourceIdLength: 255,
  clientIdLength: 255,
  scopeCount: 64,
  scopeLength: 64,
  purposeLength: 128,
  userAgentLength: 256,
  /** The stored text of `details` (jsonb's own output, `{"a": 1, "b": [1, 2]}`), in UTF-8 bytes. */
  detailsBytes: 8192,
  detailsDepth: 8,
  detailsKeyLength: 64,
} as const;

const RESOURCE_TYPE = /^[a-z][a-z0-9_]{0,63}$/;
const CLIENT_ID = /^[!-~]+$/;
const CLIENT_TYPE = /^[a-z][a-z0-9_]{0,31}$/;
/** RFC 6749 scope-token: visible ASCII but `"` and `\`. */
const SCOPE = /^[!#-[\]-~]+$/;
const PROBLEM_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const PURPOSE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
/** The same rule as request-context.ts applies to X-Request-Id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DETAILS_KEY = /^[A-Za-z0-9_.:-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A details key is refused when, lower-cased with everything but letters and digits removed, it contains
 * one of these. Deliberately broad: `accessToken`, `client_secret`, `ID-Number`, `lastName`, `username`
 * and `phoneVerified` are all refused, and so is the harmless `tokenType`; say `grantType` or `jti`.
 */
export const FORBIDDEN_DETAILS_KEY_PARTS = [
  'password',
  'passwd',
  'secret',
  'token',
  'idnumber',
  'idcard',
  'fullname',
  'name',
  'phone',
  'email',
  'authorization',
  'cookie',
  'credential',
  'apikey',
  'privatekey',
] as const;

/** String values that are personal data or a secret whatever key they sit under. */
const FORBIDDEN_VALUE_SHAPES: readonly (readonly [string, RegExp])[] = [
  ['a JWT', /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\./],
  // 6-digit region, birth date 18xx to 20xx, 3-digit sequence, check character (GB 11643).
  [
    'a resident ID number',
    /(?<![0-9])[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9A-Za-z])/,
  ],
  // One character before the @ is enough to tell, and keeps the search linear.
  ['an e-mail address', /[^\s@<>"]@[^\s@<>".]+(\.[^\s@<>".]+)*\.[A-Za-z]{2,}/],
];

function refuse(field: string, rule: string): never {
  throw new Error(`audit event: ${field} ${rule}`);
}

export function isForbiddenDetailsKey(key: string): boolean {
  const folded = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return FORBIDDEN_DETAILS_KEY_PARTS.some((part) => folded.includes(part));
}

function assertNoForbiddenShape(field: string, value: string): void {
  for (const [what, shape] of FORBIDDEN_VALUE_SHAPES) {
    if (shape.test(value)) refuse(field, `looks like ${what}, which an audit event never holds`);
  }
}

function optionalText(field: string, value: string | null | undefined, maxLength: number, pattern?: RegExp): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') refuse(field, 'must be a string');
  if (value.length < 1 || value.length > maxLength) refuse(field, `must be 1 to ${maxLength} characters`);
  if (CONTROL_CHARACTER.test(value) || LONE_SURROGATE.test(value)) refuse(field, 'must not hold control characters or lone surrogates');
  if (pattern !== undefined && !pattern.test(value)) refuse(field, `must match ${String(pattern)}`);
  return value;
}

function requiredText(field: string, value: string, maxLength: number, pattern: RegExp): string {
  const text = optionalText(field, value, maxLength, pattern);
  if (text === null) refuse(field, 'is required');
  return text;
}

/** A UUID, lower-cased as PostgreSQL returns it. */
function optionalUuid(field: string, value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || !isUuid(value)) refuse(field, 'must be a UUID');
  return value.toLowerCase();
}

function scopesOf(scopes: readonly string[] | undefined): string[] {
  if (scopes === undefined) return [];
  if (!Array.isArray(scopes)) refuse('actor.scopes', 'must be an array');
  if (scopes.length > AUDIT_LIMITS.scopeCount) refuse('actor.scopes', `must hold at most ${AUDIT_LIMITS.scopeCount} scopes`);
  return scopes.map((scope, index) => requiredText(`actor.scopes.${index}`, scope, AUDIT_LIMITS.scopeLength, SCOPE));
}

/** Without its IPv6 zone (`fe80::1%eth0`), which `inet` does not take; undefined when it is no IP address. */
function ipAddress(value: string): string | undefined {
  const address = value.split('%', 1)[0] ?? '';
  return isIP(address) === 0 ? undefined : address;
}

/** A User-Agent is information, not identity: cut to 256 characters, control characters replaced, never refused. */
function boundedUserAgent(value: string | undefined): string | null {
  if (value === undefined) return null;
  const cleaned = Array.from(value.slice(0, AUDIT_LIMITS.userAgentLength * 2))
    .slice(0, AUDIT_LIMITS.userAgentLength)
    .map((character) => (CONTROL_CHARACTER.test(character) || LONE_SURROGATE.test(character) ? '\ufffd' : character))
    .join('');
  return cleaned === '' ? null : cleaned;
}

function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A checked copy of a details value: undefined members left out, as JSON does. */
function detailsValue(value: unknown, path: string, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    // Money is minor units and scores are integers; a fraction is a string. This keeps the stored text
    // (and so the sealed hash) exactly what was given: jsonb would print 1e21 or 0.1e1 its own way.
    if (!Number.isSafeInteger(value)) refuse(path, 'must be a safe integer (write fractions as strings)');
    return value;
  }
  if (typeof value === 'string') {
    // A string that cannot fit is refused before the searches below run over it.
    if (value.length > AUDIT_LIMITS.detailsBytes) refuse(path, `is longer than details may be (${AUDIT_LIMITS.detailsBytes} bytes)`);
    if (value.includes('\u0000') || LONE_SURROGATE.test(value)) refuse(path, 'must not hold NUL or lone surrogates');
    assertNoForbiddenShape(path, value);
    return value;
  }
  if (typeof value !== 'object') refuse(path, `cannot hold a ${typeof value}`);
  if (depth >= AUDIT_LIMITS.detailsDepth) refuse(path, `is nested deeper than ${AUDIT_LIMITS.detailsDepth} levels`);
  if (Array.isArray(value)) {
    return Array.from(value, (item, index) => {
      if (item === undefined) refuse(`${path}.${index}`, 'must not be undefined');
      return detailsValue(item, `${path}.${index}`, depth + 1);
    });
  }
  if (!isPlainObject(value)) refuse(path, 'must be a plain object, array, string, safe integer, boolean or null');
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (key.length > AUDIT_LIMITS.detailsKeyLength || !DETAILS_KEY.test(key)) {
      refuse(`${path} key`, `must be 1 to ${AUDIT_LIMITS.detailsKeyLength} of A-Z a-z 0-9 _ . : -`);
    }
    if (isForbiddenDetailsKey(key)) refuse(`${path}.${key}`, 'is a key for personal data or a secret, which an audit event never holds');
    if (member !== undefined) copy[key] = detailsValue(member, `${path}.${key}`, depth + 1);
  }
  return copy;
}

/**
 * The text PostgreSQL stores for this value as jsonb (`details::text`): `{"a": 1, "b": [1, 2]}`, its
 * separators with a space after them. Keys come out in jsonb's own order, which changes nothing in the
 * length; strings are escaped alike by JSON.stringify and jsonb. The CHECK on the column measures this.
 */
export function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => jsonbText(item)).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value).map(([key, member]) => `${JSON.stringify(key)}: ${jsonbText(member)}`);
    return `{${members.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** The size the table's CHECK sees for these details: bytes of their jsonb text. */
export function auditDetailsBytes(details: AuditDetails): number {
  return Buffer.byteLength(jsonbText(details), 'utf8');
}

function detailsOf(details: AuditDetails | null | undefined): Record<string, unknown> | null {
  if (details === null || details === undefined) return null;
  if (typeof details !== 'object' || Array.isArray(details)) refuse('details', 'must be an object');
  const copy = detailsValue(details, 'details', 0) as Record<string, unknown>;
  const bytes = auditDetailsBytes(copy);
  if (bytes > AUDIT_LIMITS.detailsBytes) refuse('details', `must be at most ${AUDIT_LIMITS.detailsBytes} bytes as stored (are ${bytes})`);
  return copy;
}

/**
 * Checks an event against every rule and resolves where it came from: ip, request id and user agent not
 * given are taken from `context` (the request being served). A malformed IP address from the context
 * (a forwarded header a client wrote) is recorded as unknown rather than failing the request; one passed
 * explicitly must be an IP address.
 */
export function validateAuditEvent(input: AuditEventInput, context: RequestContext | undefined): ValidAuditEvent {
  const action = requiredText('action', input.action, AUDIT_LIMITS.actionLength, AUDIT_ACTION_PATTERN);
  if (input.outcome !== 'success' && input.outcome !== 'failure') refuse('outcome', "must be 'success' or 'failure'");
  const problemCode = optionalText('problemCode', input.problemCode, 64, PROBLEM_CODE);
  if (problemCode !== null && input.outcome !== 'failure') refuse('problemCode', "is only given with outcome 'failure'");
  const httpStatus = input.httpStatus ?? null;
  if (httpStatus !== null && !(Number.isInteger(httpStatus) && httpStatus >= 100 && httpStatus <= 599)) {
    refuse('httpStatus', 'must be an integer from 100 to 599');
  }

  const actor = input.actor;
  if (actor === undefined) refuse('actor', 'is required (null when nobody is known)');
  const clientId = optionalText('actor.clientId', actor?.clientId, AUDIT_LIMITS.clientIdLength, CLIENT_ID);
  const clientType = optionalText('actor.clientType', actor?.clientType, 32, CLIENT_TYPE);
  if (clientType !== null && clientId === null) refuse('actor.clientType', 'is only given with actor.clientId');

  const resourceId = optionalText('resourceId', input.resourceId, AUDIT_LIMITS.resourceIdLength);
  if (resourceId !== null) assertNoForbiddenShape('resourceId', resourceId);

  let ip: string | null;
  if (input.ip === undefined) {
    ip = context?.ip === undefined ? null : (ipAddress(context.ip) ?? null);
  } else if (input.ip === null) {
    ip = null;
  } else {
    ip = (typeof input.ip === 'string' ? ipAddress(input.ip) : undefined) ?? refuse('ip', 'must be an IPv4 or IPv6 address');
  }

  return {
    action,
    clientId,
    clientType,
    merchantId: optionalUuid('actor.merchantId', actor?.merchantId),
    userId: optionalUuid('actor.userId', actor?.userId),
    scopes: scopesOf(actor?.scopes),
    resourceType: requiredText('resourceType', input.resourceType, 64, RESOURCE_TYPE),
    resourceId,
    outcome: input.outcome,
    problemCode,
    httpStatus,
    ip,
    // The context's request id was checked against the same rule when the request came in.
    requestId: optionalText('requestId', input.requestId === undefined ? context?.requestId : input.requestId, 128, REQUEST_ID),
    userAgent: input.userAgent === null ? null : boundedUserAgent(input.userAgent ?? context?.userAgent),
    purpose: optionalText('purpose', input.purpose, AUDIT_LIMITS.purposeLength, PURPOSE),
    details: detailsOf(input.details),
  };
}
