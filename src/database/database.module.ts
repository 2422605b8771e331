import { type DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { runPendingMigrations } from './migration-runner.js';

/**
 * The TypeORM data source on `pg`. Pending migrations run as soon as it connects, before any module can
 * use it, under a PostgreSQL advisory lock. Feature modules register their own entities with
 * TypeOrmModule.forFeature; nothing is synchronised from entities, ever.
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => {
            const url = config.database.url;
            if (url === undefined) throw new Error('the database URL must be known before the application is built');
            const poolSize = config.database.mode === 'embedded' ? 1 : config.database.poolSize;
            return {
              ...dataSourceOptions({ url, poolSize, statementTimeoutMs: config.database.statementTimeoutMs }),
              // Read by the factory below, which runs them under the lock (TypeORM's own run takes none).
              migrationsRun: config.database.migrationsRun,
              autoLoadEntities: true,
              retryAttempts: 3,
              retryDelay: 1000,
            };
          },
          dataSourceFactory: async (options) => {
            if (options === undefined) throw new Error('no data source options');
            const dataSource = await new DataSource({ ...options, migrationsRun: false }).initialize();
            if (options.migrationsRun) {
              const report = await runPendingMigrations(dataSource);
              if (report.applied.length > 0) new Logger('Database').log({ applied: report.applied }, 'migrations applied');
            }
            return dataSource;
          },
        }),
      ],
    };
  }
}
