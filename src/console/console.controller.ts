import { createHash } from 'node:crypto';
import { Controller, Get, Injectable, Logger, type OnApplicationBootstrap, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { Public } from '../oauth/access.decorators.js';
import { ClientRegistry, CONSOLE_CLIENT_ID } from '../oauth/client-registry.js';
import { CONSOLE_SCRIPT } from './assets/console-script.js';
import { CONSOLE_STYLE } from './assets/console-style.js';
import { consolePage } from './assets/console-page.js';

/** Where the authorization server sends the console back to: the console page itself. */
export function consoleRedirectUri(config: AppConfig): string {
  return `${config.publicUrl}/console`;
}

interface Asset {
  readonly body: string;
  readonly type: string;
  readonly etag: string;
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * Serves the compliance console: one HTML page, one script, one stylesheet, all from this origin, so
 * the strict Content-Security-Policy (`script-src 'self'`, no inline script) holds. The page holds no
 * data; the script signs in with the authorization code flow and PKCE, then calls the API with the
 * access token, which it keeps in sessionStorage (gone with the tab).
 */
@Controller('console')
@Public()
@ApiExcludeController()
export class ConsoleController {
  private readonly page: Asset;
  private readonly script = asset(CONSOLE_SCRIPT, 'text/javascript; charset=utf-8');
  private readonly style = asset(CONSOLE_STYLE, 'text/css; charset=utf-8');

  constructor(config: AppConfig) {
    this.page = asset(consolePage({ clientId: CONSOLE_CLIENT_ID, redirectUri: consoleRedirectUri(config) }), 'text/html; charset=utf-8');
  }

  @Get()
  index(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(request, reply, this.page, 'no-store');
  }

  @Get('console.js')
  script_(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(request, reply, this.script, 'no-cache');
  }

  @Get('console.css')
  style_(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    this.send(request, reply, this.style, 'no-cache');
  }

  private send(request: FastifyRequest, reply: FastifyReply, content: Asset, cacheControl: string): void {
    void reply.header('cache-control', cacheControl).header('etag', content.etag).header('content-type', content.type);
    if (request.headers['if-none-match'] === content.etag) {
      void reply.status(304).send();
      return;
    }
    void reply.status(200).send(content.body);
  }
}

/** Makes sure the console's OAuth client exists (and follows PUBLIC_URL) at start-up. */
@Injectable()
export class ConsoleClientBootstrap implements OnApplicationBootstrap {
  private readonly logger = new Logger('ComplianceConsole');

  constructor(
    private readonly clients: ClientRegistry,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const redirectUri = consoleRedirectUri(this.config);
    try {
      const outcome = await this.clients.ensureConsoleClient(redirectUri);
      this.logger.log({ clientId: CONSOLE_CLIENT_ID, redirectUri, outcome }, 'compliance console client');
    } catch (error) {
      // An http PUBLIC_URL that is not loopback cannot be a redirect URI: the console is off, the service is not.
      this.logger.warn({ err: error, redirectUri }, 'the compliance console is unavailable: its redirect URI is not allowed');
    }
  }
}
