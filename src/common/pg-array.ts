/**
 * A one-dimensional PostgreSQL array literal (`{"a","b",NULL}`) for the batched statements'
 * `unnest($n::type[])` parameters, which carry one element a row: what node-postgres would send for
 * the JS array, built for less. node-postgres escapes every element with two regular-expression
 * passes and formats every Date in local time by hand (1.5 µs each); a payment's batch statement has
 * some 80 array parameters, about 70 µs of the service's CPU a payment in all. Here an element is
 * escaped only when it holds a quote or a backslash, and a Date repeated in the array (a batch's
 * `now`) is formatted once, as UTC ISO 8601, which `timestamptz` reads as the same instant.
 *
 * Every non-null element is quoted, so an empty string, `NULL`, or text with commas, braces or spaces
 * stays one text value. Only null, strings, numbers, bigints, booleans and Dates are taken; anything
 * else (a nested array, an object, a Buffer) is refused rather than guessed at.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let literal = '{';
  let lastTime = Number.NaN;
  let lastText = '';
  for (let index = 0; index < values.length; index += 1) {
    if (index > 0) literal += ',';
    const value = values[index];
    if (value === null || value === undefined) {
      literal += 'NULL';
      continue;
    }
    let text: string;
    if (typeof value === 'string') {
      // Inside a quoted element a backslash and a quote are escaped by a backslash (backslashes first).
      text = value.includes('\\') ? value.replaceAll('\\', '\\\\') : value;
      if (text.includes('"')) text = text.replaceAll('"', '\\"');
    } else if (typeof value === 'bigint' || typeof value === 'boolean') {
      text = String(value);
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`arrayLiteral: ${value} is not a finite number`);
      text = String(value);
    } else if (value instanceof Date) {
      const time = value.getTime();
      if (time !== lastTime) {
        lastText = value.toISOString();
        lastTime = time;
      }
      text = lastText;
    } else {
      throw new Error(`arrayLiteral: an element of type ${Array.isArray(value) ? 'array' : typeof value} is not taken`);
    }
    literal += `"${text}"`;
  }
  return `${literal}}`;
}

/** The parameters with each array among them as its literal (arrayLiteral); other values as they are. */
export function withArrayLiterals(parameters: readonly unknown[]): unknown[] {
  return parameters.map((parameter) => (Array.isArray(parameter) ? arrayLiteral(parameter) : parameter));
}
