import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, problemFromException } from './problem-details.js';

/** The one place where errors become HTTP responses: RFC 9457 problem details, always. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetails');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = problemFromException(exception, requestInstance(request));
    if (problem.unexpected !== undefined) {
      this.logger.error({ err: problem.unexpected, method: request.method, route: request.routeOptions?.url }, 'request failed');
    }
    if (reply.sent) return;
    for (const [name, value] of Object.entries(problem.headers ?? {})) void reply.header(name, value);
    if (problem.retryAfterSeconds !== undefined) void reply.header('retry-after', String(Math.ceil(problem.retryAfterSeconds)));
    void reply.status(problem.body.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem.body);
  }
}

/** The path of the request, without its query string (which may hold values we do not echo). */
export function requestInstance(request: FastifyRequest): string {
  const url = request.url ?? '/';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
