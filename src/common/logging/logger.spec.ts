import { describe, expect, it } from '@jest/globals';
import { runWithRequestContext } from '../request-context/request-context.js';
import { createLogger, PinoNestLogger } from './logger.js';

/** A destination that keeps every line pino writes. */
function captured(level = 'trace'): { lines: string[]; records: () => Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const destination = {
    write(line: string): void {
      lines.push(line);
    },
  };
  const logger = createLogger({ level, destination });
  return { lines, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>), logger };
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  const [item] = items;
  if (item === undefined) throw new Error('no item');
  return item;
}

describe('createLogger', () => {
  it('writes one JSON line with the service name, an ISO time, the level and the message', () => {
    const { lines, records, logger } = captured();
    logger.info({ orderId: 'ord-1' }, 'order placed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\n$/);
    const record = only(records());
    expect(record).toMatchObject({ level: 30, service: 'creditgate', msg: 'order placed', orderId: 'ord-1' });
    expect(record.time).toEqual(expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/));
  });

  it('writes nothing below its level', () => {
    const { lines, logger } = captured('warn');
    logger.info('not written');
    logger.debug('not written either');
    logger.warn('written');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('written');
    expect(lines[0]).not.toContain('not written');
  });

  it('never writes a password, an identity number or a bearer token', () => {
    const { lines, records, logger } = captured();
    logger.info(
      {
        password: 'p',
        nested: { idNumber: '11010519491231002X' },
        req: { method: 'POST', url: '/login', headers: { authorization: 'Bearer abc' } },
      },
      'signing in',
    );
    const line = only(lines);
    expect(line).not.toContain('11010519491231002X');
    expect(line).not.toContain('Bearer abc');
    const record = only(records());
    expect(record.password).toBe('[redacted]');
    expect(record.nested).toEqual({ idNumber: '[redacted]' });
    expect(record.req).toEqual({ method: 'POST', path: '/login' });
  });

  it('redacts sensitive names at the first three levels', () => {
    const { lines, records, logger } = captured();
    logger.info({
      token: 'tok-level-1-raw',
      user: { email: 'li.wei@example.com', phone: '+8613800138000', fullName: 'Li Wei' },
      oauth: { response: { refresh_token: 'rt-level-3-raw', access_token: 'at-level-3-raw' } },
      client: { clientSecret: 'cs-raw' },
    });
    const line = only(lines);
    for (const secret of [
      'tok-level-1-raw',
      'li.wei@example.com',
      '+8613800138000',
      'Li Wei',
      'rt-level-3-raw',
      'at-level-3-raw',
      'cs-raw',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect(only(records())).toMatchObject({
      token: '[redacted]',
      user: { email: '[redacted]', phone: '[redacted]', fullName: '[redacted]' },
      oauth: { response: { refresh_token: '[redacted]', access_token: '[redacted]' } },
      client: { clientSecret: '[redacted]' },
    });
  });

  it('logs a request by its path, never its query string or headers', () => {
    const { lines, records, logger } = captured();
    logger.info({
      req: { method: 'GET', url: '/callback?code=oauth-code-raw&state=s', ip: '203.0.113.9', headers: { cookie: 'sid=cookie-raw' } },
      res: { statusCode: 302, headers: { 'set-cookie': 'sid=new-cookie-raw' } },
    });
    const line = only(lines);
    expect(line).not.toContain('oauth-code-raw');
    expect(line).not.toContain('cookie-raw');
    expect(only(records())).toMatchObject({
      req: { method: 'GET', path: '/callback', ip: '203.0.113.9' },
      res: { statusCode: 302 },
    });
  });

  it('serialises an error with its type, message and stack', () => {
    const { records, logger } = captured();
    logger.error({ err: new TypeError('widget exploded') }, 'request failed');
    const record = only(records());
    expect(record).toMatchObject({ level: 50, msg: 'request failed', err: { type: 'TypeError', message: 'widget exploded' } });
    expect((record.err as { stack?: unknown }).stack).toEqual(expect.stringContaining('widget exploded'));
  });
});

describe('PinoNestLogger', () => {
  it('writes the message and the context Nest passes last', () => {
    const { records, logger } = captured();
    new PinoNestLogger(logger).log('Nest application successfully started', 'NestApplication');
    expect(only(records())).toMatchObject({ level: 30, msg: 'Nest application successfully started', context: 'NestApplication' });
  });

  it('writes no context when none is given', () => {
    const { records, logger } = captured();
    new PinoNestLogger(logger).log('plain');
    const record = only(records());
    expect(record.msg).toBe('plain');
    expect(record).not.toHaveProperty('context');
  });

  it.each<['log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal', number]>([
    ['log', 30],
    ['error', 50],
    ['warn', 40],
    ['debug', 20],
    ['verbose', 10],
    ['fatal', 60],
  ])('writes %s at pino level %i', (method, level) => {
    const { records, logger } = captured();
    new PinoNestLogger(logger)[method]('message', 'Ctx');
    expect(only(records())).toMatchObject({ level, msg: 'message', context: 'Ctx' });
  });

  it('adds the id of the request being served', () => {
    const { records, logger } = captured();
    const nestLogger = new PinoNestLogger(logger);
    runWithRequestContext({ requestId: 'req-42' }, () => nestLogger.warn('slow query', 'PaymentsService'));
    nestLogger.warn('outside', 'PaymentsService');
    const [inside, outside] = records();
    expect(inside).toMatchObject({ msg: 'slow query', context: 'PaymentsService', reqId: 'req-42' });
    expect(outside).toBeDefined();
    expect(outside).not.toHaveProperty('reqId');
  });

  it('serialises an Error message with its type, message and stack, and uses its message as the line', () => {
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    const { records, logger } = captured();
    new PinoNestLogger(logger).error(new PaymentDeclined('card declined'), 'PaymentsService');
    const record = only(records());
    expect(record).toMatchObject({
      level: 50,
      msg: 'card declined',
      context: 'PaymentsService',
      err: { type: 'PaymentDeclined', message: 'card declined' },
    });
    expect((record.err as { stack?: unknown }).stack).toEqual(expect.stringContaining('card declined'));
  });

  it('spreads an object message into the line, with the text before the context as the message, still redacted', () => {
    const { lines, records, logger } = captured();
    new PinoNestLogger(logger).error({ orderId: 'ord-7', password: 'pw-raw' }, 'request failed', 'ProblemDetails');
    expect(only(lines)).not.toContain('pw-raw');
    expect(only(records())).toMatchObject({ msg: 'request failed', context: 'ProblemDetails', orderId: 'ord-7', password: '[redacted]' });
  });
});
