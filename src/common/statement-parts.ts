import { withArrayLiterals } from './pg-array.js';

/**
 * A data-modifying statement written as a part of another module's statement: its CTEs run in that
 * statement (one round trip, one snapshot), so a caller can write its own rows with the ledger's
 * without another round trip. Each CTE returns one row a row it wrote (RETURNING), and names itself
 * uniquely within the statement; `rows`, when given, is how many it must return, or the whole
 * statement fails. Parameters are numbered from $1 over `parameters`; `composeParts` renumbers them.
 */
export interface StatementPart {
  readonly ctes: readonly { readonly name: string; readonly sql: string; readonly rows?: number }[];
  readonly parameters: readonly unknown[];
}

/**
 * The parts as CTEs for one statement whose own parameters end before `firstParameter`: the CTE list
 * (`name AS (...), ...`, empty when there are none), their parameters in order, and the SQL conditions
 * that every CTE with `rows` returned that many.
 */
export function composeParts(
  parts: readonly StatementPart[],
  firstParameter: number,
): { ctes: string; parameters: unknown[]; requirements: string[] } {
  const ctes: string[] = [];
  const parameters: unknown[] = [];
  const requirements: string[] = [];
  for (const part of parts) {
    const offset = firstParameter + parameters.length - 1;
    for (const cte of part.ctes) {
      if (!/^[a-z_][a-z0-9_]*$/.test(cte.name)) throw new Error(`statement part: ${JSON.stringify(cte.name)} is not a plain name`);
      ctes.push(`${cte.name} AS (${cte.sql.replace(/\$(\d+)/g, (_, number: string) => `$${Number(number) + offset}`)})`);
      if (cte.rows !== undefined) requirements.push(`(SELECT count(*) FROM ${cte.name}) = ${Math.trunc(cte.rows)}`);
    }
    parameters.push(...part.parameters);
  }
  return { ctes: ctes.join(',\n'), parameters, requirements };
}

/**
 * The parts as a statement of their own: their CTEs, then `statement_require` (a function of the
 * migrations, SQLSTATE 40001) over their row counts, so that the statement fails as a whole, writing
 * nothing, with `message` unless every part wrote the rows it had to. Undefined when there are no CTEs.
 */
export function statementOf(parts: readonly StatementPart[], message: string): { sql: string; parameters: unknown[] } | undefined {
  const composed = composeParts(parts, 1);
  if (composed.ctes === '') return undefined;
  return {
    sql: `WITH ${composed.ctes} SELECT statement_require(${composed.requirements.join(' AND ') || 'true'}, ${quoted(message)})`,
    parameters: withArrayLiterals(composed.parameters),
  };
}

/** A SQL string literal (standard_conforming_strings: only the quote is doubled). */
function quoted(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
