// A throwaway PostgreSQL cluster of the chaos run's own: initdb into a temporary folder, on a free port,
// fsync on, started and stopped with pg_ctl (in immediate mode for the fault). Never the shared server
// everyone's tests use. initdb and postgres refuse to run as root: as root they run as the `postgres`
// OS user (runuser), otherwise as the current user. `removeNow()` is synchronous so that it can run in
// a process 'exit' handler, whatever ended the run.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PG_CTL_TIMEOUT_SECONDS = 60;
const COMMAND_TIMEOUT_MS = 90_000;

/** The newest installed PostgreSQL's bin folder (CHAOS_PG_BIN overrides). */
function binDirectory() {
  const configured = process.env.CHAOS_PG_BIN;
  if (configured) return configured;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no initdb under ${root}/*/bin; set CHAOS_PG_BIN to PostgreSQL's bin folder`);
  return join(root, versions[0], 'bin');
}

export class PostgresCluster {
  constructor(port) {
    this.port = port;
    this.bin = binDirectory();
    this.asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    this.folder = mkdtempSync(join(tmpdir(), 'creditgate-chaos-'));
    this.dataDirectory = join(this.folder, 'data');
    this.logFile = join(this.folder, 'postgres.log');
    this.started = false;
    this.removed = false;
    if (this.asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.folder, uid, gid);
    }
  }

  /** The command line running `program` of PostgreSQL's bin folder as the right OS user. */
  commandLine(program, args) {
    const path = join(this.bin, program);
    return this.asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }

  run(program, args) {
    const [command, commandArgs] = this.commandLine(program, args);
    return new Promise((resolve, reject) => {
      const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(output);
        else reject(new Error(`${program} ${args.join(' ')} failed (${code ?? signal}):\n${output.slice(-2000)}`));
      });
    });
  }

  async init() {
    await this.run('initdb', ['-D', this.dataDirectory, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
    appendFileSync(
      join(this.dataDirectory, 'postgresql.conf'),
      [
        '',
        '# creditgate chaos run',
        `port = ${this.port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${this.folder}'`,
        'fsync = on',
        'synchronous_commit = on',
        'full_page_writes = on',
        'max_connections = 60',
        'shared_buffers = 32MB',
        '',
      ].join('\n'),
    );
  }

  async start() {
    await this.run('pg_ctl', ['start', '-D', this.dataDirectory, '-l', this.logFile, '-w', '-t', String(PG_CTL_TIMEOUT_SECONDS)]);
    this.started = true;
  }

  /** The fault: no shutdown checkpoint, every backend killed; the next start recovers from the WAL. */
  async stopImmediately() {
    await this.run('pg_ctl', ['stop', '-D', this.dataDirectory, '-m', 'immediate', '-w', '-t', String(PG_CTL_TIMEOUT_SECONDS)]);
  }

  url(database) {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Stops the server (if it runs) and deletes the folder; synchronous, idempotent. */
  removeNow() {
    if (this.removed) return;
    this.removed = true;
    if (this.started && existsSync(join(this.dataDirectory, 'postmaster.pid'))) {
      const [command, args] = this.commandLine('pg_ctl', ['stop', '-D', this.dataDirectory, '-m', 'immediate', '-w', '-t', '30']);
      spawnSync(command, args, { stdio: 'ignore', timeout: 40_000 });
    }
    rmSync(this.folder, { recursive: true, force: true });
  }
}
