import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

export enum WebhookErrorCode {
  InvalidUrl = 'INVALID_WEBHOOK_URL',
  EndpointNotFound = 'WEBHOOK_ENDPOINT_NOT_FOUND',
  DeliveryNotFound = 'WEBHOOK_DELIVERY_NOT_FOUND',
  TooManyEndpoints = 'TOO_MANY_WEBHOOK_ENDPOINTS',
  EndpointDisabled = 'WEBHOOK_ENDPOINT_DISABLED',
}

const KIND: Record<WebhookErrorCode, ErrorKind> = {
  [WebhookErrorCode.InvalidUrl]: ErrorKind.InvalidInput,
  [WebhookErrorCode.EndpointNotFound]: ErrorKind.NotFound,
  [WebhookErrorCode.DeliveryNotFound]: ErrorKind.NotFound,
  [WebhookErrorCode.TooManyEndpoints]: ErrorKind.Unprocessable,
  [WebhookErrorCode.EndpointDisabled]: ErrorKind.Conflict,
};

export class WebhookError extends DomainError {
  constructor(code: WebhookErrorCode, detail: string, options?: DomainErrorOptions) {
    super(KIND[code], code, detail, options);
  }
}
