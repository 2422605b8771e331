import { describe, expect, it } from '@jest/globals';
import { Clock, ManualClock, SystemClock } from './clock.js';

describe('ManualClock', () => {
  it('starts at 2026-01-01T00:00:00.000Z unless told otherwise', () => {
    const clock = new ManualClock();
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(clock.nowMs()).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
  });

  it('starts at the time it is given, as a string or a Date', () => {
    expect(new ManualClock('2026-03-01T08:00:00.000Z').now().toISOString()).toBe('2026-03-01T08:00:00.000Z');
    expect(new ManualClock(new Date('2030-12-31T23:59:59.999Z')).nowMs()).toBe(Date.parse('2030-12-31T23:59:59.999Z'));
  });

  it('stands still until it is told to move', () => {
    const clock = new ManualClock();
    const first = clock.nowMs();
    expect(clock.nowMs()).toBe(first);
    expect(clock.now().getTime()).toBe(first);
  });

  it('hands out copies: changing a returned Date does not move the clock', () => {
    const clock = new ManualClock();
    const date = clock.now();
    date.setUTCFullYear(1999);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('advances by the milliseconds it is told, step after step', () => {
    const clock = new ManualClock('2026-03-01T08:00:00.000Z');
    clock.advance(1_500);
    expect(clock.now().toISOString()).toBe('2026-03-01T08:00:01.500Z');
    clock.advance(24 * 3_600_000);
    expect(clock.now().toISOString()).toBe('2026-03-02T08:00:01.500Z');
  });

  it('allows an advance of zero', () => {
    const clock = new ManualClock();
    clock.advance(0);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it.each([-1, -3_600_000, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'refuses to advance by %p and keeps its time',
    (milliseconds) => {
      const clock = new ManualClock('2026-03-01T08:00:00.000Z');
      expect(() => clock.advance(milliseconds)).toThrow('a clock only moves forward');
      expect(clock.now().toISOString()).toBe('2026-03-01T08:00:00.000Z');
    },
  );

  it('jumps to the time it is set to, as a string or a Date', () => {
    const clock = new ManualClock();
    clock.set('2026-06-15T12:00:00.000Z');
    expect(clock.now().toISOString()).toBe('2026-06-15T12:00:00.000Z');
    clock.set(new Date('2027-01-01T00:00:00.000Z'));
    expect(clock.nowMs()).toBe(Date.parse('2027-01-01T00:00:00.000Z'));
    clock.advance(1);
    expect(clock.now().toISOString()).toBe('2027-01-01T00:00:00.001Z');
  });

  it('can stand in wherever a Clock is expected', () => {
    const clock: Clock = new ManualClock('2026-03-01T08:00:00.000Z');
    expect(clock).toBeInstanceOf(Clock);
    expect(clock.nowMs()).toBe(clock.now().getTime());
  });
});

describe('SystemClock', () => {
  it('tells the real time', () => {
    const clock = new SystemClock();
    const before = Date.now();
    const now = clock.nowMs();
    const after = Date.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(after);
    expect(clock.now()).toBeInstanceOf(Date);
  });
});
