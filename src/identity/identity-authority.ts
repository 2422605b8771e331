/**
 * The identity authority: the outside service that says whether a name and an ID number belong
 * together (in China, the public-security citizen identity check). A port, so that a real provider can
 * replace the mock without touching the identity module.
 */
export type AuthorityAnswer = 'MATCH' | 'NAME_MISMATCH' | 'NOT_FOUND' | 'UNAVAILABLE';

export interface IdentityAuthority {
  /** Both values are already validated and normalised; the answer never includes them. */
  check(fullName: string, idNumber: string): Promise<AuthorityAnswer>;
}

export const IDENTITY_AUTHORITY = Symbol('IdentityAuthority');

/**
 * The mock authority, documented for integrators. Every well-formed number matches any valid name,
 * except that the sequence code (characters 15 to 17) chooses another answer:
 *
 *   990: NAME_MISMATCH   991: NOT_FOUND   992: UNAVAILABLE (try again later)
 *
 * so, for example, 110105199001019904 gives NAME_MISMATCH whatever the name.
 */
export class MockIdentityAuthority implements IdentityAuthority {
  async check(_fullName: string, idNumber: string): Promise<AuthorityAnswer> {
    switch (idNumber.slice(14, 17)) {
      case '990':
        return 'NAME_MISMATCH';
      case '991':
        return 'NOT_FOUND';
      case '992':
        return 'UNAVAILABLE';
      default:
        return 'MATCH';
    }
  }
}
