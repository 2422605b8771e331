import type { Logger } from '@nestjs/common';

/**
 * Background work on a timer: runs `work` every `intervalMs` (0 or less: never; tests drive the work
 * themselves), never two runs at once (a tick that finds the last run still going is skipped), a
 * failure logged and left to the next tick, and `stop()` waits for the run in progress. The timer does
 * not keep the process alive.
 */
export class PeriodicTask<Result> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Result | undefined> | undefined;

  constructor(
    /** What failed, for the log line: `expiring pending transfers`. */
    private readonly what: string,
    private readonly work: () => Promise<Result>,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.runOnce(), intervalMs);
    this.timer.unref();
  }

  /** One run now, or the one in progress; resolves to its result, or undefined when it failed. Never rejects. */
  runOnce(): Promise<Result | undefined> {
    this.running ??= this.work()
      .catch((error: unknown): undefined => {
        this.logger.warn({ err: error }, `${this.what} failed; will try again`);
        return undefined;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
