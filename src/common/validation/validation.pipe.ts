import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { CommonError, CommonErrorCode, ErrorKind, type FieldError } from '../errors/domain-error.js';

/** Flattens class-validator's tree into one entry per field and broken rule. */
export function fieldErrors(errors: readonly ValidationError[], parentPath = ''): FieldError[] {
  const flat: FieldError[] = [];
  for (const error of errors) {
    const field = parentPath ? `${parentPath}.${error.property}` : error.property;
    for (const [rule, message] of Object.entries(error.constraints ?? {})) {
      flat.push({ field, rule, message });
    }
    if (error.children && error.children.length > 0) flat.push(...fieldErrors(error.children, field));
  }
  return flat;
}

/**
 * The global pipe: unknown fields are refused (not silently dropped), values are converted to the DTO's
 * types, and every failure is reported field by field as a VALIDATION_FAILED problem.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const list = fieldErrors(errors);
      return new CommonError(
        ErrorKind.InvalidInput,
        CommonErrorCode.ValidationFailed,
        `The request has ${list.length} invalid field${list.length === 1 ? '' : 's'}.`,
        { errors: list },
      );
    },
  });
}
