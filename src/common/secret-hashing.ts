import { type Algorithm, hash, verify } from '@node-rs/argon2';

/** argon2id with OWASP's baseline parameters (19 MiB, 2 passes, 1 lane). */
const ARGON2ID = 2 as Algorithm;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** A hash computed once at start-up, verified against when there is no real one, so that "no such user" costs what "wrong password" costs. */
let decoyHash: Promise<string> | undefined;

/** Hashes a password or a client secret with argon2id. */
export function hashSecret(secret: string): Promise<string> {
  return hash(secret, OPTIONS);
}

/**
 * Checks a secret against its hash in constant time. With no hash (unknown user or client) it still
 * spends the time of one verification and answers false.
 */
export async function verifySecret(storedHash: string | null | undefined, candidate: string): Promise<boolean> {
  if (storedHash === null || storedHash === undefined) {
    decoyHash ??= hash('creditgate decoy secret', OPTIONS);
    await verify(await decoyHash, candidate);
    return false;
  }
  try {
    return await verify(storedHash, candidate);
  } catch {
    return false;
  }
}
