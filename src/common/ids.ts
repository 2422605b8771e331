import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/**
 * Random bytes for ids, drawn from the operating system 4 KiB at a time rather than 16 bytes (one
 * system call) an id, as node's own crypto.randomUUID does. Each slice is used once.
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

/** The last id's millisecond and 32-bit counter, as the uuid package keeps them for its own v7. */
const last = { msecs: -Infinity, seq: 0 };

/**
 * A new UUIDv7 (RFC 9562): time-ordered to the millisecond and, within one process, strictly
 * increasing: ids made in the same millisecond count up from a random start (the uuid package's own
 * monotonic method), and a counter that wraps moves the millisecond on. It is the uuid package's v7,
 * given its randomness from the pool above instead of a system call an id.
 */
export function newId(): string {
  const random = randomBytes16();
  const now = Date.now();
  if (now > last.msecs) {
    last.msecs = now;
    last.seq = (((random[6] ?? 0) & 0x7f) << 24) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0);
  } else {
    last.seq = (last.seq + 1) | 0;
    if (last.seq === 0) last.msecs++;
  }
  return uuidv7({ random, msecs: last.msecs, seq: last.seq });
}

/** A UUID as PostgreSQL writes one, and as newId makes them: lower-case hex, grouped 8-4-4-4-12. */
const LOWER_CASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `text` is a UUID in lower case: the form ids are stored and compared in, and the only one inlined into SQL. */
export function isLowerCaseUuid(text: string): boolean {
  return LOWER_CASE_UUID.test(text);
}

/** Whether `text` is a UUID in any case (lower-case it before comparing it with a stored id). */
export function isUuid(text: string): boolean {
  return text.length === 36 && LOWER_CASE_UUID.test(text.toLowerCase());
}
