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
      // Every index, holes of a sparse array included (as null, like undefined items).
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out += (i === 0 ? '' : ',') + serialize(item === undefined ? null : item, depth + 1);
        }
        return out + ']';
      }
      // Own enumerable string keys, sorted by UTF-16 code unit (the default sort of strings).
      const keys = Object.keys(value).sort();
      let out = '{';
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined) continue;
        out += (out.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + serialize(member, depth + 1);
      }
      return out + '}';
    }
    default:
      throw new Error(`canonical JSON has no form for ${typeof value}`);
  }
}
