import { describe, expect, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { PeriodicTask } from './periodic-task.js';

describe('PeriodicTask', () => {
  it('never runs twice at once, logs a failure and answers undefined, and stop() waits for the run', async () => {
    const logger = new Logger('test');
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    let release: () => void = () => undefined;
    let calls = 0;
    const task = new PeriodicTask(
      'testing',
      () => {
        calls += 1;
        return new Promise<number>((resolve) => (release = () => resolve(calls)));
      },
      logger,
    );
    const first = task.runOnce();
    const second = task.runOnce();
    expect(calls).toBe(1);
    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    release();
    expect(await first).toBe(1);
    expect(await second).toBe(1);
    await stopping;
    expect(stopped).toBe(true);

    const failing = new PeriodicTask('failing work', () => Promise.reject(new Error('boom')), logger);
    expect(await failing.runOnce()).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ err: expect.any(Error) }), 'failing work failed; will try again');
  });
});
