import type { LoggerService } from '@nestjs/common';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { currentRequestContext } from '../request-context/request-context.js';

/**
 * Paths pino blanks out before a line is written. Secrets, tokens, passwords and identity data never
 * reach a log: request headers that carry credentials, and any field by these names up to three levels
 * deep. Modules log ids, never the values themselves; this list is the net under that rule.
 */
const SENSITIVE_FIELDS = [
  'password',
  'newPassword',
  'secret',
  'clientSecret',
  'client_secret',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'code_verifier',
  'authorization',
  'cookie',
  'idNumber',
  'fullName',
  'phone',
  'email',
];

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers.dpop',
  'res.headers["set-cookie"]',
  ...SENSITIVE_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

export interface CreateLoggerOptions {
  readonly level: string;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: CreateLoggerOptions): PinoLogger {
  return pino(
    {
      level: options.level,
      base: { service: 'creditgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      messageKey: 'msg',
      // The id of the request being served, on every line written while serving it (a field the line
      // sets itself wins). Read only when a line is written: no per-request child logger to build.
      mixin: () => {
        const requestId = currentRequestContext()?.requestId;
        return requestId === undefined ? {} : { reqId: requestId };
      },
      // Requests are logged by path only: a query string may carry values that must not be kept.
      serializers: {
        req: (request: { method?: string; url?: string; id?: string; ip?: string }) => ({
          method: request.method,
          path: typeof request.url === 'string' ? request.url.split('?')[0] : undefined,
          ip: request.ip,
        }),
        res: (reply: { statusCode?: number }) => ({ statusCode: reply.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    options.destination,
  );
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Nest's LoggerService on top of pino: Nest's own messages and `new Logger(context)` calls in the
 * modules come out as the same JSON lines as Fastify's request logs, each with the request id.
 */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pinoLogger: PinoLogger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    // Nest passes the context (the class name) last; an error's stack may come before it.
    const strings = params.filter((param): param is string => typeof param === 'string');
    const context = strings.length > 0 ? strings[strings.length - 1] : undefined;
    const fields: Record<string, unknown> = {};
    if (context !== undefined) fields.context = context;
    if (message instanceof Error) {
      this.pinoLogger[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      const text = strings.length > 1 ? strings[0] : undefined;
      this.pinoLogger[level]({ ...fields, ...(message as Record<string, unknown>) }, text);
    } else {
      // Nest's `logger.error(message, stack, context)`: keep the stack.
      if (strings.length > 1) fields.stack = strings[0];
      this.pinoLogger[level](fields, String(message));
    }
  }
}
