import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

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

/**
 * Random bytes for request ids, drawn from the operating system 4 KiB at a time rather than 16 bytes
 * (one system call) a request, as node's own crypto.randomUUID does. Each slice is used once.
 */
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;
function randomBytes16(): Uint8Array {
  if (randomPoolOffset + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  randomPoolOffset += 16;
  return randomPool.subarray(randomPoolOffset - 16, randomPoolOffset);
}

/** The client's X-Request-Id when well-formed, otherwise a fresh UUIDv7 (time-ordered to the millisecond). */
export function requestIdFrom(header: string | string[] | undefined): string {
  const candidate = Array.isArray(header) ? header[0] : header;
  return candidate !== undefined && WELL_FORMED_REQUEST_ID.test(candidate) ? candidate : uuidv7({ random: randomBytes16() });
}
