import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { getMetadataStorage, useContainer } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata.js';
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

type TargetMetadatas = (
  target: unknown,
  schema: string | undefined,
  always: boolean,
  strictGroups: boolean,
  groups?: string[],
) => ValidationMetadata[];

interface MemoizableStorage {
  getTargetValidationMetadatas: TargetMetadatas;
  groupByPropertyName(metadata: ValidationMetadata[]): Record<string, ValidationMetadata[]>;
  addValidationMetadata(metadata: ValidationMetadata): void;
  addConstraintMetadata(metadata: unknown): void;
}

const MEMOIZED = Symbol('creditgate.memoizedValidationMetadata');

/**
 * class-validator works out, on every validation of every object (each item of a batch too), which of
 * its decorators apply to the object's class: a filter of the class's metadata, plus a walk over every
 * class it knows (hundreds) to find the object's ancestors, then the result grouped by property. Both
 * depend only on the class and the options, and change only when a decorator registers more metadata
 * (when a module is loaded): so each answer is kept until then. 2.4% of the service's CPU under the
 * ledger benchmark went to the walk alone. Neither answer is modified by class-validator's executor.
 */
export function memoizeValidationMetadata(): void {
  const storage = getMetadataStorage() as unknown as MemoizableStorage & { [MEMOIZED]?: true };
  if (storage[MEMOIZED]) return;
  storage[MEMOIZED] = true;
  const targetMetadatas = storage.getTargetValidationMetadatas.bind(storage);
  const groupByPropertyName = storage.groupByPropertyName.bind(storage);
  const addValidationMetadata = storage.addValidationMetadata.bind(storage);
  const addConstraintMetadata = storage.addConstraintMetadata.bind(storage);
  let byTarget = new Map<unknown, Map<string, ValidationMetadata[]>>();
  // Grouped answers, for the lists this cache handed out (never changed after) and only those.
  let grouped = new WeakMap<ValidationMetadata[], Record<string, ValidationMetadata[]> | undefined>();
  const forget = () => {
    byTarget = new Map();
    grouped = new WeakMap();
  };
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    const options = `${schema ?? ''}\u0000${always}\u0000${strictGroups}\u0000${(groups ?? []).join('\u0000')}`;
    let forTarget = byTarget.get(target);
    if (forTarget === undefined) byTarget.set(target, (forTarget = new Map()));
    let list = forTarget.get(options);
    if (list === undefined) {
      list = targetMetadatas(target, schema, always, strictGroups, groups);
      forTarget.set(options, list);
      grouped.set(list, undefined);
    }
    return list;
  };
  storage.groupByPropertyName = (metadata) => {
    if (!grouped.has(metadata)) return groupByPropertyName(metadata);
    let result = grouped.get(metadata);
    if (result === undefined) grouped.set(metadata, (result = groupByPropertyName(metadata)));
    return result;
  };
  storage.addValidationMetadata = (metadata) => {
    forget();
    addValidationMetadata(metadata);
  };
  storage.addConstraintMetadata = (metadata) => {
    forget();
    addConstraintMetadata(metadata);
  };
}

/**
 * The global pipe: unknown fields are refused (not silently dropped), values are converted to the DTO's
 * types, and every failure is reported field by field as a VALIDATION_FAILED problem.
 */
export function createValidationPipe(): ValidationPipe {
  useContainer(constraintContainer);
  memoizeValidationMetadata();
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
