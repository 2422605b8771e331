import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { Strategy } from 'passport-custom';
import type { Principal } from '../common/principal.js';
import { AccessTokenVerifier } from './access-token.verifier.js';

export const ACCESS_TOKEN_STRATEGY = 'access-token';

/** The passport strategy every protected route authenticates with: a locally verified access token. */
@Injectable()
export class AccessTokenStrategy extends PassportStrategy(Strategy, ACCESS_TOKEN_STRATEGY) {
  constructor(private readonly verifier: AccessTokenVerifier) {
    super();
  }

  async validate(request: FastifyRequest): Promise<Principal> {
    const dpop = request.headers.dpop;
    return this.verifier.verify({
      method: request.method,
      url: request.url,
      authorization: request.headers.authorization,
      dpop: Array.isArray(dpop) ? dpop[0] : dpop,
    });
  }
}
