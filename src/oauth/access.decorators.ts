import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Scope } from './scopes.js';

export const ACCESS_METADATA = 'creditgate:access';

/**
 * What a route requires of its caller. Every route declares one (or is @Public()): a route without a
 * declaration stops the application at start-up.
 */
export interface AccessRule {
  readonly public: boolean;
  /** The token must hold every one of these. */
  readonly allOf: readonly Scope[];
  /** The token must hold at least one of these (when not empty). */
  readonly anyOf: readonly Scope[];
  /** `user`: only a token a user delegated; `client`: only a client-credentials token. */
  readonly caller: 'user' | 'client' | 'any';
}

function access(rule: AccessRule): MethodDecorator & ClassDecorator {
  const decorators: (ClassDecorator | MethodDecorator)[] = [SetMetadata(ACCESS_METADATA, rule)];
  if (!rule.public) {
    decorators.push(
      ApiBearerAuth(),
      ApiUnauthorizedResponse({ description: 'No token, or a token that is invalid or expired.' }),
      ApiForbiddenResponse({ description: `Needs ${describeRule(rule)}.` }),
    );
  }
  return applyDecorators(...decorators);
}

export function describeRule(rule: AccessRule): string {
  const parts: string[] = [];
  if (rule.caller === 'user') parts.push('a user token');
  if (rule.caller === 'client') parts.push('a client token');
  if (rule.allOf.length > 0) parts.push(`scope ${rule.allOf.join(' and ')}`);
  if (rule.anyOf.length > 0) parts.push(`scope ${rule.anyOf.join(' or ')}`);
  return parts.length > 0 ? parts.join(' with ') : 'any valid token';
}

/** Reachable without a token (health, sign-up, documents). */
export const Public = (): MethodDecorator & ClassDecorator => access({ public: true, allOf: [], anyOf: [], caller: 'any' });

/** Any valid access token, whoever it acts for and whatever its scopes. */
export const AnyToken = (): MethodDecorator & ClassDecorator => access({ public: false, allOf: [], anyOf: [], caller: 'any' });

/** The token must hold every listed scope. */
export const Scopes = (...scopes: [Scope, ...Scope[]]): MethodDecorator & ClassDecorator =>
  access({ public: false, allOf: scopes, anyOf: [], caller: 'any' });

/** The token must hold at least one of the listed scopes (read routes shared by two roles). */
export const AnyScope = (...scopes: [Scope, Scope, ...Scope[]]): MethodDecorator & ClassDecorator =>
  access({ public: false, allOf: [], anyOf: scopes, caller: 'any' });

/** A token that a user delegated, with every listed scope (none: any user token). */
export const UserScopes = (...scopes: Scope[]): MethodDecorator & ClassDecorator =>
  access({ public: false, allOf: scopes, anyOf: [], caller: 'user' });

/** A client-credentials token (the client acting for itself), with every listed scope. */
export const ClientScopes = (...scopes: [Scope, ...Scope[]]): MethodDecorator & ClassDecorator =>
  access({ public: false, allOf: scopes, anyOf: [], caller: 'client' });
