import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The embedded PostgreSQL: PGlite (PostgreSQL compiled to WebAssembly) behind a socket server speaking
 * the PostgreSQL wire protocol on 127.0.0.1, so the application reaches it with the same `pg` driver
 * and the same SQL as a real server. PGlite serves one connection at a time; the pool is sized to one.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly database: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly url: string,
    readonly location: string,
  ) {}

  /** `dataDir` is a folder (created if missing) or `memory://` for a database that lives in memory. */
  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const inMemory = dataDir.startsWith('memory://');
    const location = inMemory ? 'memory://' : resolve(dataDir, 'pglite');
    if (!inMemory) mkdirSync(location, { recursive: true });
    const database = await PGlite.create(inMemory ? undefined : location);
    const server = new PGLiteSocketServer({ db: database, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
    const address = server.getServerConn();
    return new EmbeddedPostgres(database, server, `postgres://postgres@${address}/postgres?sslmode=disable`, location);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.database.close();
  }
}
