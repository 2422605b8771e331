import { describe, expect, it } from '@jest/globals';
import { validateSync } from 'class-validator';
import { CommonError, CommonErrorCode, DomainError, ErrorKind } from '../errors/domain-error.js';
import { isCurrencyCode, minorUnitExponent, parseCurrency } from './currency.js';
import {
  addMoney,
  bigintColumnTransformer,
  formatMajor,
  MAX_AMOUNT_MINOR,
  money,
  moneyToJson,
  parseAmountMinor,
  subtractMoney,
  type Money,
} from './money.js';
import { IsAmountMinor, IsCurrencyCode } from './money.validators.js';

/** Runs `action` and returns what it threw; fails the test when it throws nothing. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

function expectInvalidAmount(action: () => unknown): CommonError {
  const error = thrownBy(action);
  expect(error).toBeInstanceOf(CommonError);
  expect(error).toMatchObject({ kind: ErrorKind.InvalidInput, code: CommonErrorCode.InvalidAmount });
  return error as CommonError;
}

function cny(amountMinor: bigint): Money {
  return { amountMinor, currency: 'CNY' };
}

describe('parseAmountMinor', () => {
  describe('accepts exact whole amounts', () => {
    it('takes a safe integer JSON number as that many minor units', () => {
      expect(parseAmountMinor(9900)).toBe(9900n);
      expect(parseAmountMinor(1)).toBe(1n);
    });

    it('takes the largest safe integer, 2^53 - 1, as a number and as a string', () => {
      expect(parseAmountMinor(Number.MAX_SAFE_INTEGER)).toBe(9_007_199_254_740_991n);
      expect(parseAmountMinor('9007199254740991')).toBe(9_007_199_254_740_991n);
      expect(MAX_AMOUNT_MINOR).toBe(9_007_199_254_740_991n);
    });

    it('takes a string of decimal digits', () => {
      expect(parseAmountMinor('9900')).toBe(9900n);
      expect(parseAmountMinor('10')).toBe(10n);
    });

    it('takes a bigint as it is', () => {
      expect(parseAmountMinor(42n)).toBe(42n);
    });
  });

  describe('refuses anything that is not a whole number of minor units', () => {
    it.each([1.5, 0.1, 99.99, -2.5])('refuses the fraction %p', (value) => {
      const error = expectInvalidAmount(() => parseAmountMinor(value, { allowNegative: true }));
      expect(error.detail).toMatch(/fraction/);
    });

    it.each(['1e3', '1E3', '1.5', '1.0', '0x10', '1_000', '1,000'])(
      'refuses the string %p with its exponent, point or separator',
      (value) => {
        expectInvalidAmount(() => parseAmountMinor(value));
      },
    );

    it.each(['007', '00', '01'])('refuses the string %p with leading zeros', (value) => {
      expectInvalidAmount(() => parseAmountMinor(value, { allowZero: true }));
    });

    it.each([' 5', '5 ', '5\n', '\t5', '5 0', ''])('refuses the string %p with white space or nothing in it', (value) => {
      expectInvalidAmount(() => parseAmountMinor(value));
    });

    it('refuses a plus sign, "+5"', () => {
      expectInvalidAmount(() => parseAmountMinor('+5'));
    });

    it.each([null, undefined, true, false, {}, [], ['5'], { amountMinor: 5 }, NaN, Infinity, -Infinity])(
      'refuses the non-amount %p',
      (value) => {
        expectInvalidAmount(() => parseAmountMinor(value, { allowZero: true, allowNegative: true }));
      },
    );

    it('names the field in the error detail', () => {
      const error = expectInvalidAmount(() => parseAmountMinor(1.5, { field: 'depositMinor' }));
      expect(error.detail).toMatch(/^depositMinor /);
      const defaulted = expectInvalidAmount(() => parseAmountMinor(1.5));
      expect(defaulted.detail).toMatch(/^amountMinor /);
    });
  });

  describe('refuses amounts past 2^53 - 1', () => {
    it('refuses 2^53 as a JSON number, which JSON cannot carry exactly', () => {
      const error = expectInvalidAmount(() => parseAmountMinor(2 ** 53));
      expect(error.detail).toMatch(/2\^53 - 1/);
      expectInvalidAmount(() => parseAmountMinor(1e21));
    });

    it('refuses 2^53 as a string of digits', () => {
      expectInvalidAmount(() => parseAmountMinor('9007199254740992'));
      expectInvalidAmount(() => parseAmountMinor('123456789012345678901234567890'));
    });

    it('refuses 2^53 as a bigint', () => {
      expectInvalidAmount(() => parseAmountMinor(MAX_AMOUNT_MINOR + 1n));
    });

    it('refuses -(2^53) even where negatives are allowed, but takes -(2^53 - 1)', () => {
      expectInvalidAmount(() => parseAmountMinor(-(2 ** 53), { allowNegative: true }));
      expectInvalidAmount(() => parseAmountMinor('-9007199254740992', { allowNegative: true }));
      expect(parseAmountMinor(-Number.MAX_SAFE_INTEGER, { allowNegative: true })).toBe(-MAX_AMOUNT_MINOR);
    });
  });

  describe('negative amounts', () => {
    it.each([-1, '-1', -1n])('refuses %p by default', (value) => {
      const error = expectInvalidAmount(() => parseAmountMinor(value));
      expect(error.detail).toMatch(/negative/);
    });

    it.each<[unknown, bigint]>([
      [-1, -1n],
      ['-250', -250n],
      [-7n, -7n],
    ])('accepts %p as %p when allowNegative is set', (value, expected) => {
      expect(parseAmountMinor(value, { allowNegative: true })).toBe(expected);
    });
  });

  describe('zero', () => {
    it.each([0, -0, '0', 0n])('refuses %p by default: an amount that moves money is positive', (value) => {
      const error = expectInvalidAmount(() => parseAmountMinor(value));
      expect(error.detail).toMatch(/greater than zero/);
    });

    it.each([0, '0', 0n])('accepts %p when allowZero is set', (value) => {
      expect(parseAmountMinor(value, { allowZero: true })).toBe(0n);
    });

    it('still refuses zero when only negatives are allowed', () => {
      expectInvalidAmount(() => parseAmountMinor(0, { allowNegative: true }));
    });
  });
});

describe('currency codes', () => {
  it.each(['CNY', 'USD', 'JPY', 'KWD', 'EUR'])('accepts the ISO 4217 code %p', (code) => {
    expect(isCurrencyCode(code)).toBe(true);
    expect(parseCurrency(code)).toBe(code);
  });

  it.each(['cny', 'Cny', 'XYZ', 'CNYX', 'CN', '', ' CNY', 123, null, undefined, ['CNY']])('refuses %p', (value) => {
    expect(isCurrencyCode(value)).toBe(false);
    const error = thrownBy(() => parseCurrency(value, 'settlementCurrency'));
    expect(error).toBeInstanceOf(CommonError);
    expect(error).toMatchObject({ kind: ErrorKind.InvalidInput, code: CommonErrorCode.InvalidCurrency });
    expect((error as CommonError).detail).toMatch(/^settlementCurrency /);
  });

  it('knows the minor-unit exponent of CNY (2), JPY (0) and KWD (3)', () => {
    expect(minorUnitExponent('CNY')).toBe(2);
    expect(minorUnitExponent('JPY')).toBe(0);
    expect(minorUnitExponent('KWD')).toBe(3);
  });

  it('refuses to give an exponent for an unknown currency', () => {
    expect(thrownBy(() => minorUnitExponent('XYZ'))).toMatchObject({ code: CommonErrorCode.InvalidCurrency });
  });
});

describe('money', () => {
  it('builds a Money from a digit string and a currency code', () => {
    expect(money('9900', 'CNY')).toEqual({ amountMinor: 9900n, currency: 'CNY' });
  });

  it('passes the amount rules on', () => {
    expect(money(0, 'CNY', { allowZero: true })).toEqual({ amountMinor: 0n, currency: 'CNY' });
    expectInvalidAmount(() => money(0, 'CNY'));
  });

  it('refuses an unknown currency with INVALID_CURRENCY', () => {
    expect(thrownBy(() => money(100, 'cny'))).toMatchObject({ code: CommonErrorCode.InvalidCurrency });
  });

  it('serialises the amount as a string so no client rounds it', () => {
    expect(moneyToJson(cny(MAX_AMOUNT_MINOR))).toEqual({ amountMinor: '9007199254740991', currency: 'CNY' });
    expect(moneyToJson({ amountMinor: -5n, currency: 'JPY' })).toEqual({ amountMinor: '-5', currency: 'JPY' });
  });
});

describe('addMoney and subtractMoney', () => {
  it('adds and subtracts amounts of the same currency exactly', () => {
    expect(addMoney(cny(9900n), cny(101n))).toEqual(cny(10_001n));
    expect(subtractMoney(cny(9900n), cny(10_000n))).toEqual(cny(-100n));
    expect(addMoney(cny(MAX_AMOUNT_MINOR), cny(1n))).toEqual(cny(9_007_199_254_740_992n));
  });

  it('refuses to add CNY to USD: that is a bug, not an input error', () => {
    const error = thrownBy(() => addMoney(cny(100n), { amountMinor: 100n, currency: 'USD' }));
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(DomainError);
    expect((error as Error).message).toBe('currency mismatch: CNY and USD');
  });

  it('refuses to subtract JPY from CNY', () => {
    const error = thrownBy(() => subtractMoney(cny(100n), { amountMinor: 1n, currency: 'JPY' }));
    expect(error).not.toBeInstanceOf(DomainError);
    expect((error as Error).message).toBe('currency mismatch: CNY and JPY');
  });
});

describe('formatMajor', () => {
  it.each<[bigint, string, string]>([
    [9900n, 'CNY', '99.00'],
    [10_001n, 'CNY', '100.01'],
    [5n, 'CNY', '0.05'],
    [50n, 'CNY', '0.50'],
    [0n, 'CNY', '0.00'],
    [9_007_199_254_740_991n, 'CNY', '90071992547409.91'],
    [1234n, 'JPY', '1234'],
    [0n, 'JPY', '0'],
    [1234n, 'KWD', '1.234'],
    [5n, 'KWD', '0.005'],
    [1_000n, 'KWD', '1.000'],
  ])('shows %p minor units of %s as "%s"', (amountMinor, currency, expected) => {
    expect(formatMajor({ amountMinor, currency })).toBe(expected);
  });

  it.each<[bigint, string, string]>([
    [-9900n, 'CNY', '-99.00'],
    [-5n, 'CNY', '-0.05'],
    [-1234n, 'JPY', '-1234'],
    [-1n, 'KWD', '-0.001'],
  ])('shows the negative %p minor units of %s as "%s"', (amountMinor, currency, expected) => {
    expect(formatMajor({ amountMinor, currency })).toBe(expected);
  });
});

describe('IsAmountMinor and IsCurrencyCode on a DTO', () => {
  class TransferDto {
    @IsAmountMinor()
    amountMinor: unknown;

    @IsAmountMinor({ allowZero: true })
    feeMinor: unknown;

    @IsAmountMinor({ allowNegative: true })
    adjustmentMinor: unknown;

    @IsCurrencyCode()
    currency: unknown;

    @IsCurrencyCode({ message: 'pick a currency we settle in' })
    settlementCurrency: unknown;
  }

  function transfer(values: Partial<Record<keyof TransferDto, unknown>>): TransferDto {
    return Object.assign(new TransferDto(), {
      amountMinor: '9900',
      feeMinor: 0,
      adjustmentMinor: -50,
      currency: 'CNY',
      settlementCurrency: 'USD',
      ...values,
    });
  }

  function constraintsOf(dto: TransferDto): Record<string, Record<string, string> | undefined> {
    return Object.fromEntries(validateSync(dto).map((error) => [error.property, error.constraints]));
  }

  it('passes a transfer with a digit-string amount, zero fee, negative adjustment and known currencies', () => {
    expect(validateSync(transfer({}))).toEqual([]);
  });

  it('accepts a bigint amount', () => {
    expect(validateSync(transfer({ amountMinor: 12n }))).toEqual([]);
  });

  it('reports each broken money rule with its own message', () => {
    const constraints = constraintsOf(
      transfer({ amountMinor: 1.5, feeMinor: -1, adjustmentMinor: '1e3', currency: 'cny', settlementCurrency: 'XYZ' }),
    );
    expect(constraints).toEqual({
      amountMinor: {
        isAmountMinor:
          'amountMinor must be an integer number of minor units, greater than zero, at most 2^53 - 1, as a JSON integer or a string of digits',
      },
      feeMinor: {
        isAmountMinor:
          'feeMinor must be an integer number of minor units, zero or more, at most 2^53 - 1, as a JSON integer or a string of digits',
      },
      adjustmentMinor: {
        isAmountMinor:
          'adjustmentMinor must be an integer number of minor units, at most 2^53 - 1, as a JSON integer or a string of digits',
      },
      currency: { isCurrencyCode: 'currency must be an ISO 4217 currency code in upper case, like CNY' },
      settlementCurrency: { isCurrencyCode: 'pick a currency we settle in' },
    });
  });

  it('refuses a zero amount where zero is not allowed, and an amount past 2^53 - 1', () => {
    expect(Object.keys(constraintsOf(transfer({ amountMinor: 0 })))).toEqual(['amountMinor']);
    expect(Object.keys(constraintsOf(transfer({ amountMinor: '9007199254740992' })))).toEqual(['amountMinor']);
    expect(Object.keys(constraintsOf(transfer({ amountMinor: 2 ** 53 })))).toEqual(['amountMinor']);
  });
});

describe('bigintColumnTransformer', () => {
  it('writes a bigint as its decimal string and reads it back unchanged', () => {
    for (const amount of [0n, 9900n, -250n, MAX_AMOUNT_MINOR, 123_456_789_012_345_678_901n]) {
      const stored = bigintColumnTransformer.to(amount);
      expect(stored).toBe(amount.toString());
      expect(bigintColumnTransformer.from(stored as string)).toBe(amount);
    }
  });

  it('reads the strings pg returns for bigint columns as bigints', () => {
    expect(bigintColumnTransformer.from('9007199254740993')).toBe(9_007_199_254_740_993n);
  });

  it('passes null and undefined through', () => {
    expect(bigintColumnTransformer.to(null)).toBeNull();
    expect(bigintColumnTransformer.to(undefined)).toBeUndefined();
    expect(bigintColumnTransformer.from(null)).toBeNull();
  });
});
