import { AsyncLocalStorage } from 'node:async_hooks';
import { newId } from '../ids.js';

/** What is known about the request being served, wherever in the call stack the code is. */
export interface RequestContext {
  readonly requestId: string;
  /** The client's address (honouring X-Forwarded-For only when TRUST_PROXY is on). */
  readonly ip?: string;
  /** The User-Agent header, cut to 256 characters. */
  readonly userAgent?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithRequestContext<T>(context: RequestContext, callback: () => T): T {
  return storage.run(context, callback);
}

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** A request id a client may choose: 1 to 128 characters of letters, digits and `-_.:`. */
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** The client's X-Request-Id when well-formed, otherwise a fresh UUIDv7 (time-ordered to the millisecond). */
export function requestIdFrom(header: string | string[] | undefined): string {
  const candidate = Array.isArray(header) ? header[0] : header;
  return candidate !== undefined && WELL_FORMED_REQUEST_ID.test(candidate) ? candidate : newId();
}
