/**
 * Chinese resident identity card numbers (GB 11643-1999): 18 characters, read as
 *
 *     RRRRRR YYYYMMDD SSS C
 *     region birth    seq check
 *
 * - region: six digits whose first two are a province-level division (GB/T 2260), or 81/82/83 for the
 *   residence permits of Hong Kong, Macao and Taiwan residents;
 * - birth date: a real calendar date, not in the future (and not before 1800);
 * - sequence: three digits, odd for men and even for women;
 * - check character: ISO 7064 MOD 11-2 over the first seventeen digits, `0`-`9` or `X` (a lower-case
 *   `x` is accepted and read as `X`).
 */

export enum IdNumberProblem {
  InvalidFormat = 'INVALID_FORMAT',
  InvalidRegion = 'INVALID_REGION',
  InvalidBirthDate = 'INVALID_BIRTH_DATE',
  ChecksumMismatch = 'CHECKSUM_MISMATCH',
}

/** Province-level division codes (GB/T 2260), plus 81, 82, 83 for residence permits. */
const PROVINCE_CODES = new Set([
  '11',
  '12',
  '13',
  '14',
  '15',
  '21',
  '22',
  '23',
  '31',
  '32',
  '33',
  '34',
  '35',
  '36',
  '37',
  '41',
  '42',
  '43',
  '44',
  '45',
  '46',
  '50',
  '51',
  '52',
  '53',
  '54',
  '61',
  '62',
  '63',
  '64',
  '65',
  '71',
  '81',
  '82',
  '83',
]);

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS = '10X98765432';

export interface ResidentIdNumber {
  /** The number in its canonical form: 17 digits and an upper-case check character. */
  readonly value: string;
  readonly regionCode: string;
  /** The birth date, as `YYYY-MM-DD`. */
  readonly birthDate: string;
  readonly sex: 'male' | 'female';
}

export type IdNumberCheck =
  { readonly ok: true; readonly idNumber: ResidentIdNumber } | { readonly ok: false; readonly problem: IdNumberProblem };

/** The ISO 7064 MOD 11-2 check character of seventeen digits. */
export function checkCharacter(first17: string): string {
  let sum = 0;
  for (let index = 0; index < 17; index += 1) sum += Number(first17[index]) * (WEIGHTS[index] ?? 0);
  return CHECK_CHARACTERS[sum % 11] ?? '?';
}

function isRealDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Checks a number, each rule in turn, and says which failed first. `today` is `YYYY-MM-DD` in
 * China Standard Time (the birth date must not be after it).
 */
export function parseResidentIdNumber(input: string, today: string): IdNumberCheck {
  const candidate = input.trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(candidate)) return { ok: false, problem: IdNumberProblem.InvalidFormat };
  if (!PROVINCE_CODES.has(candidate.slice(0, 2))) return { ok: false, problem: IdNumberProblem.InvalidRegion };
  const year = Number(candidate.slice(6, 10));
  const month = Number(candidate.slice(10, 12));
  const day = Number(candidate.slice(12, 14));
  const birthDate = `${candidate.slice(6, 10)}-${candidate.slice(10, 12)}-${candidate.slice(12, 14)}`;
  if (year < 1800 || !isRealDate(year, month, day) || birthDate > today) return { ok: false, problem: IdNumberProblem.InvalidBirthDate };
  if (checkCharacter(candidate.slice(0, 17)) !== candidate[17]) return { ok: false, problem: IdNumberProblem.ChecksumMismatch };
  return {
    ok: true,
    idNumber: { value: candidate, regionCode: candidate.slice(0, 6), birthDate, sex: Number(candidate[16]) % 2 === 1 ? 'male' : 'female' },
  };
}

/** `110***********002X`: the region's first three digits and the last four characters. */
export function maskIdNumber(value: string): string {
  return `${value.slice(0, 3)}${'*'.repeat(Math.max(0, value.length - 7))}${value.slice(-4)}`;
}

/** Whole years from `birthDate` to `today` (both `YYYY-MM-DD`); a birthday counts from its day. */
export function ageOn(birthDate: string, today: string): number {
  const [birthYear, birthMonthDay] = [Number(birthDate.slice(0, 4)), birthDate.slice(5)];
  const [year, monthDay] = [Number(today.slice(0, 4)), today.slice(5)];
  return year - birthYear - (monthDay < birthMonthDay ? 1 : 0);
}

/** Today's date in China Standard Time (UTC+8, no daylight saving), as `YYYY-MM-DD`. */
export function chinaDate(now: Date): string {
  return new Date(now.getTime() + 8 * 3_600_000).toISOString().slice(0, 10);
}
