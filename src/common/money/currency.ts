import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';

/** ISO 4217 codes the runtime's ICU knows, and their minor-unit exponent (CNY 2, JPY 0, KWD 3). */
const MINOR_UNIT_EXPONENT = new Map<string, number>(
  Intl.supportedValuesOf('currency').map((code) => [
    code,
    new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2,
  ]),
);

export function isCurrencyCode(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Z]{3}$/.test(value) && MINOR_UNIT_EXPONENT.has(value);
}

export function parseCurrency(value: unknown, field = 'currency'): string {
  if (!isCurrencyCode(value)) {
    throw new CommonError(
      ErrorKind.InvalidInput,
      CommonErrorCode.InvalidCurrency,
      `${field} must be an ISO 4217 currency code in upper case, like CNY.`,
    );
  }
  return value;
}

export function minorUnitExponent(currency: string): number {
  const exponent = MINOR_UNIT_EXPONENT.get(parseCurrency(currency));
  // parseCurrency guarantees presence; the assertion documents it for the type checker.
  if (exponent === undefined) throw new Error(`no exponent for ${currency}`);
  return exponent;
}
