import { describe, expect, it } from '@jest/globals';
import type { ArgumentMetadata } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsArray, IsInt, IsString, MaxLength, Min, MinLength, validate, ValidateNested } from 'class-validator';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { problemFromException } from '../errors/problem-details.js';
import { createValidationPipe, fieldErrors } from './validation.pipe.js';

class AddressDto {
  @IsString()
  @MaxLength(6)
  postcode!: string;
}

class LineDto {
  @IsInt()
  @Min(1)
  quantity!: number;
}

class OrderDto {
  @IsString()
  @MinLength(1)
  name!: string;

  @ValidateNested()
  @Type(() => AddressDto)
  address!: AddressDto;

  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => LineDto)
  lines!: LineDto[];
}

const bodyOf = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'body', metatype, data: '' });

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

describe('createValidationPipe', () => {
  const pipe = createValidationPipe();

  it('returns a DTO instance, nested objects included, for a valid body', async () => {
    const result = await pipe.transform({ name: 'Li Wei', address: { postcode: '100000' }, lines: [{ quantity: 2 }] }, bodyOf(OrderDto));
    expect(result).toBeInstanceOf(OrderDto);
    const order = result as OrderDto;
    expect(order.address).toBeInstanceOf(AddressDto);
    expect(order.lines[0]).toBeInstanceOf(LineDto);
    expect(order).toEqual({ name: 'Li Wei', address: { postcode: '100000' }, lines: [{ quantity: 2 }] });
  });

  it('refuses a body with VALIDATION_FAILED, listing each field with its rule, nested paths dotted', async () => {
    const body = {
      name: 42,
      address: { postcode: '1000000', floor: 3 },
      lines: [{ quantity: 1 }, { quantity: 0.5 }],
      couponCode: 'FREE',
    };
    const error = await rejectionOf(pipe.transform(body, bodyOf(OrderDto)));
    expect(error).toBeInstanceOf(CommonError);
    const failure = error as CommonError;
    expect(failure.kind).toBe(ErrorKind.InvalidInput);
    expect(failure.code).toBe(CommonErrorCode.ValidationFailed);

    const reported = (failure.errors ?? []).map((entry) => `${entry.field} ${entry.rule}`).sort();
    expect(reported).toEqual(
      [
        'address.floor whitelistValidation',
        'address.postcode maxLength',
        'couponCode whitelistValidation',
        'lines.1.quantity isInt',
        'lines.1.quantity min',
        'name isString',
        'name minLength',
      ].sort(),
    );
    expect(failure.detail).toBe(`The request has ${reported.length} invalid fields.`);
  });

  it('gives each field error a message a person can read', async () => {
    const error = await rejectionOf(
      pipe.transform({ name: 'ok', address: { postcode: '1000000' }, lines: [], extra: 1 }, bodyOf(OrderDto)),
    );
    // The order is class-validator's; the entries are what matter.
    const errors = (error as CommonError).errors ?? [];
    expect(errors).toHaveLength(2);
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'address.postcode', rule: 'maxLength', message: 'postcode must be shorter than or equal to 6 characters' },
        { field: 'extra', rule: 'whitelistValidation', message: 'property extra should not exist' },
      ]),
    );
    expect((error as CommonError).detail).toBe('The request has 2 invalid fields.');
  });

  it('says "1 invalid field" for a single failure', async () => {
    const error = await rejectionOf(pipe.transform({ name: 'ok', address: { postcode: '1' }, lines: [{ quantity: 0 }] }, bodyOf(OrderDto)));
    expect(error).toMatchObject({ code: CommonErrorCode.ValidationFailed, detail: 'The request has 1 invalid field.' });
    expect((error as CommonError).errors).toEqual([
      { field: 'lines.0.quantity', rule: 'min', message: 'quantity must not be less than 1' },
    ]);
  });

  it('does not echo the rejected values in the error', async () => {
    const error = await rejectionOf(
      pipe.transform({ name: 'ok', address: { postcode: 'SECRET-POSTCODE-123' }, lines: [], password: 'hunter2' }, bodyOf(OrderDto)),
    );
    expect(error).toMatchObject({ code: CommonErrorCode.ValidationFailed });
    const wire = JSON.stringify(problemFromException(error, '/orders').body);
    expect(wire).not.toContain('SECRET-POSTCODE-123');
    expect(wire).not.toContain('hunter2');
  });

  it('becomes a 400 problem document carrying the field list', async () => {
    const error = await rejectionOf(pipe.transform({ name: 'ok', address: { postcode: '1' }, lines: [], extra: true }, bodyOf(OrderDto)));
    const problem = problemFromException(error, '/orders');
    expect(problem.body).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      type: '/problems/validation-failed',
      instance: '/orders',
    });
    expect(problem.body.errors).toEqual([{ field: 'extra', rule: 'whitelistValidation', message: 'property extra should not exist' }]);
  });
});

describe('fieldErrors', () => {
  it('flattens a tree into one entry per field and rule, with dotted paths', () => {
    const flat = fieldErrors([
      {
        property: 'lines',
        children: [
          {
            property: '0',
            children: [{ property: 'quantity', constraints: { isInt: 'quantity must be an integer number' }, children: [] }],
          },
        ],
      },
      { property: 'name', constraints: { isString: 'name must be a string', minLength: 'name is too short' }, children: [] },
    ]);
    expect(flat).toEqual([
      { field: 'lines.0.quantity', rule: 'isInt', message: 'quantity must be an integer number' },
      { field: 'name', rule: 'isString', message: 'name must be a string' },
      { field: 'name', rule: 'minLength', message: 'name is too short' },
    ]);
  });

  it('gives an empty list for no errors', () => {
    expect(fieldErrors([])).toEqual([]);
  });
});

describe('the memoized validation metadata', () => {
  class ParentDto {
    @IsString()
    code!: string;
  }
  class ChildDto extends ParentDto {
    @IsInt()
    count!: number;
  }
  class GroupedDto {
    @MinLength(3, { groups: ['strict'] })
    @IsString({ always: true })
    name!: string;
  }
  const pipe = createValidationPipe();
  const failures = async (body: unknown, metatype: ArgumentMetadata['metatype']) => {
    try {
      await pipe.transform(body, bodyOf(metatype));
      return [];
    } catch (error) {
      return (error as CommonError).errors ?? [];
    }
  };

  it('keeps a subclass checked against its parent rules too, every time', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await failures({ code: 7, count: 1 }, ChildDto)).toEqual([expect.objectContaining({ field: 'code', rule: 'isString' })]);
      expect(await failures({ code: 'a', count: 'x' }, ChildDto)).toEqual([expect.objectContaining({ field: 'count', rule: 'isInt' })]);
      expect(await failures({ code: 'a', count: 1 }, ChildDto)).toEqual([]);
    }
  });

  it('applies a rule registered after a class was first validated', async () => {
    class LateDto {
      @IsString()
      label!: string;
    }
    expect(await failures({ label: 'ab' }, LateDto)).toEqual([]);
    // A decorator applied later, as a module loaded later would: the next validation must see it.
    MinLength(3)(LateDto.prototype, 'label');
    expect(await failures({ label: 'ab' }, LateDto)).toEqual([expect.objectContaining({ field: 'label', rule: 'minLength' })]);
  });

  it('answers each set of groups apart', async () => {
    const dto = Object.assign(new GroupedDto(), { name: 'ab' });
    expect(await validate(dto, { groups: ['strict'] })).toHaveLength(1);
    expect(await validate(dto, { strictGroups: true })).toHaveLength(0);
    expect(await validate(dto, { groups: ['strict'] })).toHaveLength(1);
    expect(await validate(dto, { groups: ['lenient'] })).toHaveLength(0);
  });
});
