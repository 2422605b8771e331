import { describe, expect, it } from '@jest/globals';
import { checkFullName, normaliseFullName } from './full-name.js';
import { MockIdentityAuthority } from './identity-authority.js';
import { checkCharacter } from './resident-id-number.js';

describe('full names', () => {
  it.each(['张三', '欧阳娜娜', '阿依古丽·买买提', 'Ada Lovelace', "O'Neill", 'Jean-Luc Picard', 'Zoë Müller'])('accepts %s', (name) => {
    expect(checkFullName(name)).toEqual({ ok: true, fullName: name });
  });

  it('trims, folds spaces, turns full-width letters and look-alike dots into the canonical forms', () => {
    expect(normaliseFullName('  Ada    Lovelace ')).toBe('Ada Lovelace');
    expect(normaliseFullName('ＡＤＡ')).toBe('ADA');
    expect(normaliseFullName('阿依古丽・买买提')).toBe('阿依古丽·买买提');
    expect(normaliseFullName('阿依古丽•买买提')).toBe('阿依古丽·买买提');
    expect(checkFullName(' 张三 ')).toEqual({ ok: true, fullName: '张三' });
  });

  it.each([
    ['one character', '张'],
    ['41 characters', '张'.repeat(41)],
    ['digits', 'Ada 2'],
    ['mixed scripts', '张Ada'],
    ['Cyrillic', 'Иван'],
    ['a dot at the end', '张三·'],
    ['two separators', 'Ada  -Lovelace'],
    ['emoji', 'Ada 🙂'],
    ['an empty string', '   '],
  ])('refuses %s', (_label, name) => {
    expect(checkFullName(name).ok).toBe(false);
  });
});

describe('the mock identity authority', () => {
  const withSequence = (sequence: string) => {
    const first17 = `11010519900101${sequence}`;
    return `${first17}${checkCharacter(first17)}`;
  };
  const authority = new MockIdentityAuthority();

  it('matches an ordinary number, and gives each other answer for its documented sequence codes', async () => {
    expect(await authority.check('张三', withSequence('001'))).toBe('MATCH');
    expect(await authority.check('张三', withSequence('990'))).toBe('NAME_MISMATCH');
    expect(await authority.check('张三', withSequence('991'))).toBe('NOT_FOUND');
    expect(await authority.check('张三', withSequence('992'))).toBe('UNAVAILABLE');
  });

  it('has the documented example number', () => {
    expect(withSequence('990')).toBe('110105199001019904');
  });
});
