/** The time, injected, so that expiry, retention and timeouts can be tested without waiting. */
export abstract class Clock {
  abstract now(): Date;

  nowMs(): number {
    return this.now().getTime();
  }
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}

/** A clock that only moves when told to: for tests. */
export class ManualClock extends Clock {
  private currentMs: number;

  constructor(start: Date | string = '2026-01-01T00:00:00.000Z') {
    super();
    this.currentMs = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.currentMs);
  }

  advance(milliseconds: number): void {
    if (!Number.isFinite(milliseconds) || milliseconds < 0) throw new Error('a clock only moves forward');
    this.currentMs += milliseconds;
  }

  set(time: Date | string): void {
    const next = new Date(time).getTime();
    if (Number.isNaN(next)) throw new Error('not a valid time');
    this.currentMs = next;
  }
}
