import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { minorUnitExponent, parseCurrency } from './currency.js';

/**
 * Money is an integer count of minor units (fen for CNY) and a currency. Never a float: parsing refuses
 * fractions, exponents and anything past 2^53 - 1, so a JSON number and its string form agree exactly.
 */
export interface Money {
  readonly amountMinor: bigint;
  readonly currency: string;
}

export const MAX_AMOUNT_MINOR = BigInt(Number.MAX_SAFE_INTEGER);

export interface AmountRules {
  /** Accept zero (default false: amounts that move money are positive). */
  readonly allowZero?: boolean;
  /** Accept negative values (balances and adjustments; default false). */
  readonly allowNegative?: boolean;
  /** The field's name, for the error. */
  readonly field?: string;
}

function invalid(field: string, why: string): CommonError {
  return new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidAmount, `${field} ${why}`);
}

/** Parses an amount in minor units from a JSON number, a decimal-digit string or a bigint. */
export function parseAmountMinor(value: unknown, rules: AmountRules = {}): bigint {
  const field = rules.field ?? 'amountMinor';
  let amount: bigint;
  if (typeof value === 'bigint') {
    amount = value;
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw invalid(field, 'must be a whole number of minor units, not a fraction.');
    if (!Number.isSafeInteger(value)) throw invalid(field, 'is beyond the largest safe amount (2^53 - 1); send it as a string of digits.');
    amount = BigInt(value);
  } else if (typeof value === 'string') {
    if (!/^-?(0|[1-9]\d*)$/.test(value))
      throw invalid(field, 'must be a string of decimal digits with no plus sign, point, exponent or spaces.');
    amount = BigInt(value);
  } else {
    throw invalid(field, 'must be an integer number of minor units.');
  }
  if (amount > MAX_AMOUNT_MINOR || amount < -MAX_AMOUNT_MINOR) throw invalid(field, 'is beyond the largest safe amount (2^53 - 1).');
  if (amount < 0n && !rules.allowNegative) throw invalid(field, 'must not be negative.');
  if (amount === 0n && !rules.allowZero) throw invalid(field, 'must be greater than zero.');
  return amount;
}

export function money(amountMinor: unknown, currency: unknown, rules?: AmountRules): Money {
  return { amountMinor: parseAmountMinor(amountMinor, rules), currency: parseCurrency(currency) };
}

/** Asserts that two amounts can be combined; adding CNY to USD is a bug, not an input error. */
function assertSameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw new Error(`currency mismatch: ${a.currency} and ${b.currency}`);
}

export function addMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return { amountMinor: a.amountMinor + b.amountMinor, currency: a.currency };
}

export function subtractMoney(a: Money, b: Money): Money {
  assertSameCurrency(a, b);
  return { amountMinor: a.amountMinor - b.amountMinor, currency: a.currency };
}

/** The JSON form: minor units as a string (exact in every client), plus the currency. */
export function moneyToJson(value: Money): { amountMinor: string; currency: string } {
  return { amountMinor: value.amountMinor.toString(), currency: value.currency };
}

/** `9900n CNY` -> `"99.00"`: for people (logs of demos, pages), never for arithmetic. */
export function formatMajor(value: Money): string {
  const exponent = minorUnitExponent(value.currency);
  const negative = value.amountMinor < 0n;
  const digits = (negative ? -value.amountMinor : value.amountMinor).toString().padStart(exponent + 1, '0');
  const major = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${major}`;
}

/** TypeORM column transformer: `bigint` columns come back from `pg` as strings; they become bigint here. */
export const bigintColumnTransformer = {
  to: (value: bigint | null | undefined): string | null | undefined => (value === null || value === undefined ? value : value.toString()),
  from: (value: string | null): bigint | null => (value === null ? null : BigInt(value)),
};
