import { registerDecorator, type ValidationOptions } from 'class-validator';
import { isCurrencyCode } from './currency.js';
import { type AmountRules, parseAmountMinor } from './money.js';

/** class-validator rule: an amount in minor units that parseAmountMinor accepts under the given rules. */
export function IsAmountMinor(rules: Omit<AmountRules, 'field'> = {}, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) => {
    registerDecorator({
      name: 'isAmountMinor',
      target: target.constructor,
      propertyName: String(propertyKey),
      options: {
        message: `${String(propertyKey)} must be an integer number of minor units${rules.allowNegative ? '' : rules.allowZero ? ', zero or more' : ', greater than zero'}, at most 2^53 - 1, as a JSON integer or a string of digits`,
        ...options,
      },
      validator: {
        validate(value: unknown): boolean {
          try {
            parseAmountMinor(value, rules);
            return true;
          } catch {
            return false;
          }
        },
      },
    });
  };
}

export function IsCurrencyCode(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) => {
    registerDecorator({
      name: 'isCurrencyCode',
      target: target.constructor,
      propertyName: String(propertyKey),
      options: { message: `${String(propertyKey)} must be an ISO 4217 currency code in upper case, like CNY`, ...options },
      validator: { validate: (value: unknown): boolean => isCurrencyCode(value) },
    });
  };
}
