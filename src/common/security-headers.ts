import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The security headers of every response, as helmet decides them, computed once. helmet's middleware
 * (and @fastify/helmet around it) rebuilds the same headers on every request, which cost about 40% of
 * the throughput of a trivial route here; none of creditgate's headers vary by request, so the answer
 * is taken once at start-up and copied onto each reply.
 */
export function securityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]): void {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string): void {
      delete headers[name.toLowerCase()];
    },
  };
  let finished = false;
  helmet(options)({ method: 'GET', url: '/', headers: {} } as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) throw error;
    finished = true;
  });
  // helmet calls next() synchronously; anything else would mean headers computed per request.
  if (!finished) throw new Error('helmet did not finish synchronously');
  return Object.freeze(headers);
}

/** creditgate's helmet options: strict defaults; Swagger UI (at /docs) needs inline styles and data: images. */
export const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      frameAncestors: ["'none'"],
    },
  },
};
