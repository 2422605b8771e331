import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import { NestFactory } from '@nestjs/core';
import { MAX_BODY_DEPTH, nestsDeeperThan } from './common/canonical-json.js';
import { CommonError, CommonErrorCode, ErrorKind } from './common/errors/domain-error.js';
import { connectionErrorResponse, PROBLEM_CONTENT_TYPE, problemFromException } from './common/errors/problem-details.js';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { type FastifyBaseLogger, type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { DestinationStream, Logger as PinoLogger } from 'pino';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { HELMET_OPTIONS, securityHeaders } from './common/security-headers.js';
import { ProblemDetailsFilter } from './common/errors/problem-details.filter.js';
import { createLogger, PinoNestLogger } from './common/logging/logger.js';
import { REQUEST_ID_HEADER, requestIdFrom, runWithRequestContext } from './common/request-context/request-context.js';
import { createValidationPipe } from './common/validation/validation.pipe.js';
import { AppConfig } from './config/app-config.js';
import { EmbeddedPostgres } from './database/embedded-postgres.js';
import { MetricsService } from './health/metrics.service.js';
import { AuthorizationServer } from './oauth/authorization-server.js';

export interface CreateAppOptions extends AppModuleOptions {
  /** Where log lines go (stdout by default); tests capture them here. */
  readonly logDestination?: DestinationStream;
}

export interface RunningDatabase {
  readonly config: AppConfig;
  /** Set when the embedded database was started for this process; stop it after the application. */
  readonly embedded: EmbeddedPostgres | undefined;
}

/** Starts the embedded database when no DATABASE_URL is configured. */
export async function resolveDatabase(config: AppConfig): Promise<RunningDatabase> {
  if (config.database.url !== undefined) return { config, embedded: undefined };
  const embedded = await EmbeddedPostgres.start(config.database.dataDir);
  return { config: config.withDatabaseUrl(embedded.url), embedded };
}

const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/** One log line a request, when it completes, with its route pattern; probes of health and metrics at debug. */
class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? 'unmatched';
    const level = QUIET_ROUTES.has(route) ? 'debug' : 'info';
    const durationMs = Math.round(reply.elapsedTime * 100) / 100;
    const line = { reqId: request.id, req: request, res: reply, route, durationMs, ...(error ? { err: error } : {}) };
    request.log[level](line, 'request completed');
  }
}

/**
 * Builds the whole application on Fastify, ready to listen. main.ts and the end-to-end tests both come
 * through here, so what is tested is what runs.
 */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<{ app: NestFastifyApplication; logger: PinoLogger }> {
  const logger = createLogger({ level: config.logLevel, destination: options.logDestination });
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    genReqId: (request: IncomingMessage) => requestIdFrom(request.headers[REQUEST_ID_HEADER]),
    logController: new RequestLogController({ requestIdLogLabel: 'reqId' }),
    // Every request's logger is the application's own: the request id comes from the request context
    // (the logger's mixin) or, on the completion line, from the request. A pino child a request cost
    // about 4% of the service's CPU under load, mostly redacting its one binding.
    childLoggerFactory: (parent: FastifyBaseLogger) => parent,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Errors Fastify's router raises before any hook (a malformed URL, an over-long path parameter):
    // problem documents like every other refusal.
    // Requests Node's HTTP parser refused (headers too large, not HTTP): a problem document, then close.
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.write(connectionErrorResponse(error.code));
      socket.destroy(error);
    },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const problem = problemFromException(error, request.url.split('?')[0] ?? '/');
      void reply
        .status(problem.body.status)
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .header(REQUEST_ID_HEADER, request.id)
        .send(JSON.stringify(problem.body));
    },
  });
  const nestLogger = new PinoNestLogger(logger);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, options), adapter, {
    logger: nestLogger,
    abortOnError: false,
    bufferLogs: true,
  });
  app.useLogger(nestLogger);
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new ProblemDetailsFilter());
  if (config.corsOrigins.length > 0) await app.register(cors, { origin: [...config.corsOrigins], credentials: false, maxAge: 600 });

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  const headers = { ...securityHeaders(HELMET_OPTIONS) };
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(headers).header(REQUEST_ID_HEADER, request.id);
    const userAgent = request.headers['user-agent'];
    runWithRequestContext({ requestId: request.id, ip: request.ip, userAgent: userAgent?.slice(0, 256) }, done);
  });
  // A body nested deeper than any route's shape is refused before a handler (or the idempotency
  // fingerprint) walks it.
  fastify.addHook('preValidation', (request, _reply, done) => {
    done(
      nestsDeeperThan(request.body, MAX_BODY_DEPTH)
        ? new CommonError(
            ErrorKind.InvalidInput,
            CommonErrorCode.BodyTooDeep,
            `The request body nests deeper than ${MAX_BODY_DEPTH} levels.`,
          )
        : undefined,
    );
  });
  // The authorization server answers its own paths (/oauth/*, /.well-known/*) right after this hook.
  await app.get(AuthorizationServer).start(fastify);
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  const document = () =>
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('creditgate')
        .setDescription('Credit-gated onboarding and payments for super-app mini-programs.')
        .setVersion('1')
        .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
        .build(),
    );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  return { app, logger };
}
