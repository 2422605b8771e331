// The baseline for the health scenario: bare Fastify, logger off, one route answering what
// creditgate's GET /health/live answers. Runs as its own process so that autocannon, in the
// benchmark process, does not compete with it for the event loop.
import Fastify from 'fastify';

const port = Number(process.env.PORT);
if (!Number.isSafeInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`bare-fastify: PORT must be a TCP port, got ${JSON.stringify(process.env.PORT)}\n`);
  process.exit(1);
}

const app = Fastify({ logger: false });
app.get('/health/live', async () => ({ status: 'ok' }));

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('ready\n');

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
