import { Controller, Get, Header, HttpCode } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { Public } from '../oauth/access.decorators.js';
import { ShutdownState } from './shutdown-state.js';
import { MetricsService } from './metrics.service.js';

const READINESS_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller()
@Public()
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
    private readonly shutdown: ShutdownState,
  ) {}

  /** The process is up and serving HTTP. Cheap: touches nothing else. */
  @Get('health/live')
  @HttpCode(200)
  @ApiOkResponse({ description: 'The process is alive.' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready for traffic: the database answers, and the process is not shutting down. */
  @Get('health/ready')
  @ApiOkResponse({ description: 'The database answers and the service takes traffic.' })
  async ready(): Promise<{ status: 'ok'; checks: { database: 'up' } }> {
    if (this.shutdown.isShuttingDown) {
      throw new CommonError(ErrorKind.Unavailable, CommonErrorCode.ServiceUnavailable, 'The service is shutting down.');
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('database check timed out')), READINESS_TIMEOUT_MS);
        }),
      ]);
    } catch {
      throw new CommonError(ErrorKind.Unavailable, CommonErrorCode.ServiceUnavailable, 'The database does not answer.', {
        retryAfterSeconds: 5,
      });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ok', checks: { database: 'up' } };
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
