import { CreateIdempotencyKeys1763712000000 } from './1763712000000-create-idempotency-keys.js';

/**
 * Every migration, oldest first. A new migration file is added at the end of this list; a committed
 * migration is never edited.
 */
export const MIGRATIONS = [CreateIdempotencyKeys1763712000000];
