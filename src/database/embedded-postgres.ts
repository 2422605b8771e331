import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    if (!inMemory) {
      mkdirSync(location, { recursive: true });
      takeLock(`${location}.lock`);
    }
    let database: PGlite;
    try {
      database = await PGlite.create(inMemory ? undefined : location);
    } catch (error) {
      if (!inMemory) releaseLock(`${location}.lock`);
      throw error;
    }
    const server = new PGLiteSocketServer({ db: database, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
    const address = server.getServerConn();
    return new EmbeddedPostgres(database, server, `postgres://postgres@${address}/postgres?sslmode=disable`, location);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.database.close();
    if (this.location !== 'memory://') releaseLock(`${this.location}.lock`);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one process's database: two processes on one data folder would corrupt it. A lock file
 * holding the owner's pid keeps a second one out (a stale lock, whose process is gone, is taken over).
 */
function takeLock(file: string): void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new Error(
          `the embedded database in ${file.replace(/\.lock$/, '')} is in use by process ${owner}; stop it first, or use the HTTP API (or set DATABASE_URL)`,
          { cause: error },
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not lock the embedded database (${file})`);
}

function releaseLock(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}
