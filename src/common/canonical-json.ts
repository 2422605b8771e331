/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no insignificant white space, bigints as
 * decimal strings, `undefined` members left out. Two values that mean the same give the same bytes,
 * which is what a hash over a request or a ledger entry needs.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, 0);
}

const MAX_DEPTH = 64;

/** The deepest a request body may nest (objects and arrays); deeper bodies are refused before any handler. */
export const MAX_BODY_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `max` levels; iterative, so any depth is safe to ask about. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

function serialize(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error('value nested too deeply for canonical JSON');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new Error('canonical JSON has no form for NaN or Infinity');
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      // Array.from, not map: map skips the holes of a sparse array, and join would write them as nothing (`[,1]`).
      if (Array.isArray(value)) return `[${Array.from(value, (item) => serialize(item === undefined ? null : item, depth + 1)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, member]) => member !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${serialize(member, depth + 1)}`).join(',')}}`;
    }
    default:
      throw new Error(`canonical JSON has no form for ${typeof value}`);
  }
}
