import { describe, expect, it } from '@jest/globals';
import { ageOn, checkCharacter, chinaDate, IdNumberProblem, maskIdNumber, parseResidentIdNumber } from './resident-id-number.js';

const TODAY = '2026-11-21';
const problemOf = (value: string) => {
  const result = parseResidentIdNumber(value, TODAY);
  return result.ok ? 'ok' : result.problem;
};

describe('resident identity card numbers (GB 11643-1999)', () => {
  it.each(['11010519491231002X', '440524188001010014'])('accepts the valid number %s', (value) => {
    expect(problemOf(value)).toBe('ok');
  });

  it('reads region, birth date and sex from the number', () => {
    const result = parseResidentIdNumber('11010519491231002X', TODAY);
    expect(result).toEqual({
      ok: true,
      idNumber: { value: '11010519491231002X', regionCode: '110105', birthDate: '1949-12-31', sex: 'female' },
    });
    const other = parseResidentIdNumber('440524188001010014', TODAY);
    expect(other.ok && other.idNumber.sex).toBe('male');
  });

  it('accepts a lower-case x and answers it in upper case', () => {
    const result = parseResidentIdNumber('11010519491231002x', TODAY);
    expect(result.ok && result.idNumber.value).toBe('11010519491231002X');
  });

  it('refuses a wrong check character', () => {
    expect(problemOf('110105194912310021')).toBe(IdNumberProblem.ChecksumMismatch);
    expect(problemOf('440524188001010015')).toBe(IdNumberProblem.ChecksumMismatch);
  });

  it('refuses 29 February in a year that is not a leap year, even with a correct check character', () => {
    const first17 = '11010520230229001';
    const value = `${first17}${checkCharacter(first17)}`;
    expect(problemOf(value)).toBe(IdNumberProblem.InvalidBirthDate);
    const leap17 = '11010520240229001';
    expect(problemOf(`${leap17}${checkCharacter(leap17)}`)).toBe('ok');
  });

  it('refuses an unknown region, whatever the check character', () => {
    const first17 = '99010519491231002';
    expect(problemOf(`${first17}${checkCharacter(first17)}`)).toBe(IdNumberProblem.InvalidRegion);
    const zero = '00010519491231002';
    expect(problemOf(`${zero}${checkCharacter(zero)}`)).toBe(IdNumberProblem.InvalidRegion);
  });

  it('refuses a birth date in the future, and accepts today', () => {
    const tomorrow = '11010520261122001';
    expect(problemOf(`${tomorrow}${checkCharacter(tomorrow)}`)).toBe(IdNumberProblem.InvalidBirthDate);
    const today = '11010520261121001';
    expect(problemOf(`${today}${checkCharacter(today)}`)).toBe('ok');
  });

  it.each([
    ['a month 13', '11010519491331002'],
    ['a day 32', '11010519491232002'],
    ['a day 0', '11010519491200002'],
    ['a year before 1800', '11010517991231002'],
  ])('refuses %s as a birth date', (_label, first17) => {
    expect(problemOf(`${first17}${checkCharacter(first17)}`)).toBe(IdNumberProblem.InvalidBirthDate);
  });

  it.each([
    '',
    '1101051949123100',
    '11010519491231002XX',
    '1101051949123100X2',
    '11010519491231002Y',
    '１１０１０５１９４９１２３１００２X',
    '110105 19491231002X',
  ])('refuses the malformed %p', (value) => {
    expect(problemOf(value)).toBe(IdNumberProblem.InvalidFormat);
  });

  it('masks all but the first three and the last four characters', () => {
    expect(maskIdNumber('11010519491231002X')).toBe('110***********002X');
  });

  it('computes age in whole years, a birthday counting from its day', () => {
    expect(ageOn('1949-12-31', '2026-11-21')).toBe(76);
    expect(ageOn('2008-11-21', '2026-11-21')).toBe(18);
    expect(ageOn('2008-11-22', '2026-11-21')).toBe(17);
  });

  it('takes today in China Standard Time', () => {
    expect(chinaDate(new Date('2026-11-21T15:59:59.999Z'))).toBe('2026-11-21');
    expect(chinaDate(new Date('2026-11-21T16:00:00.000Z'))).toBe('2026-11-22');
  });
});
