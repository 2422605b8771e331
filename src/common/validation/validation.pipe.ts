import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { useContainer } from 'class-validator';
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
 * class-validator keeps one instance of each constraint class (one class a decorator use: hundreds)
 * and its default container finds it by a linear search of all those made so far, on every check of
 * every field: about 5% of the service's CPU under the payments benchmark. The same singletons,
 * found in a Map.
 */
const constraintInstances = new Map<unknown, unknown>();
const constraintContainer = {
  get<T>(someClass: (new () => T) | ((...args: never[]) => unknown)): T {
    let instance = constraintInstances.get(someClass) as T | undefined;
    if (instance === undefined) {
      instance = new (someClass as new () => T)();
      constraintInstances.set(someClass, instance);
    }
    return instance;
  },
};

/**
 * The global pipe: unknown fields are refused (not silently dropped), values are converted to the DTO's
 * types, and every failure is reported field by field as a VALIDATION_FAILED problem.
 */
export function createValidationPipe(): ValidationPipe {
  useContainer(constraintContainer);
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
