/** Who is calling: set on the request by the authentication guard, read by everything after it. */
export interface Principal {
  readonly clientId: string;
  readonly clientType: string;
  readonly merchantId: string | null;
  readonly userId: string | null;
  readonly scopes: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}
