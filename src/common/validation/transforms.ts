/**
 * For class-transformer's `@Transform`: a string in lower case, anything else untouched (the
 * validators that follow refuse it). Ids are compared as PostgreSQL answers them, in lower case.
 */
export const lowerCase = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.toLowerCase() : value);
