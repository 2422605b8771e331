/**
 * Names as a resident identity card prints them: 2 to 40 characters, in Chinese (Han) or Latin script,
 * with the middle dot that separates the parts of many minority names (阿依古丽·买买提). Input is
 * trimmed and normalised first: Unicode NFKC (full-width letters become ordinary ones), the look-alike
 * dots people type (・ • ‧ ．) become the middle dot U+00B7, and runs of spaces become one.
 */
const MIDDLE_DOT = '\u00b7';
const DOT_LOOKALIKES = /[\u30fb\u2022\u2027\uff0e\u2219\u22c5\u00b7]/gu;
const HAN_NAME = /^\p{Script=Han}+(?:\u00b7\p{Script=Han}+)*$/u;
const LATIN_NAME = /^\p{Script=Latin}+(?:[ '\-\u00b7]\p{Script=Latin}+)*$/u;

export type FullNameCheck = { readonly ok: true; readonly fullName: string } | { readonly ok: false; readonly reason: string };

export function normaliseFullName(input: string): string {
  return input.normalize('NFKC').replace(DOT_LOOKALIKES, MIDDLE_DOT).replace(/\s+/gu, ' ').trim();
}

export function checkFullName(input: string): FullNameCheck {
  const fullName = normaliseFullName(input);
  const length = [...fullName].length;
  if (length < 2 || length > 40) return { ok: false, reason: 'A name has 2 to 40 characters.' };
  if (!HAN_NAME.test(fullName) && !LATIN_NAME.test(fullName)) {
    return {
      ok: false,
      reason:
        'A name is written in Chinese or Latin letters only, its parts separated by a middle dot, a space, a hyphen or an apostrophe.',
    };
  }
  return { ok: true, fullName };
}
