import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';

/** Turns readiness off as soon as shutdown begins, so a load balancer stops sending new requests. */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  isShuttingDown = false;

  beforeApplicationShutdown(): void {
    this.isShuttingDown = true;
  }
}
