import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DataSource } from 'typeorm';

interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/**
 * Prometheus metrics: requests by route and status, their latency, the database pool, and the
 * process. One registry an application (not prom-client's global one), so that tests can run several.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;

  constructor(dataSource: DataSource) {
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests served, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    const pool = (): PgPool | undefined => (dataSource.driver as unknown as { master?: PgPool }).master;
    const poolGauge = (name: string, help: string, read: (p: PgPool) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const current = pool();
          if (current !== undefined) this.set(read(current));
        },
      });
    };
    poolGauge('db_pool_connections_total', 'Connections the database pool holds.', (p) => p.totalCount);
    poolGauge('db_pool_connections_idle', 'Idle connections in the database pool.', (p) => p.idleCount);
    poolGauge('db_pool_requests_waiting', 'Queries waiting for a free connection.', (p) => p.waitingCount);
  }

  /** `route` is the route's pattern (`/v1/things/:id`), never the raw path, to keep label sets small. */
  observeRequest(method: string, route: string, status: number, durationSeconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, durationSeconds);
  }
}
