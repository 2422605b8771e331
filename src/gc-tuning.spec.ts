import v8 from 'node:v8';
import { jest } from '@jest/globals';
import { applyGcTuning, GC_FLAGS, gcFlagsToApply } from './gc-tuning.js';

describe('gcFlagsToApply', () => {
  it('applies every flag when node was started without any', () => {
    expect(gcFlagsToApply([])).toEqual([...GC_FLAGS]);
    expect(gcFlagsToApply(['--enable-source-maps', '--max-old-space-size=512'])).toEqual([...GC_FLAGS]);
  });

  it('leaves a flag the command line sets, in either sense and spelling', () => {
    expect(gcFlagsToApply(['--allocation-site-pretenuring'])).toEqual(['--heap-growing-percent=300']);
    expect(gcFlagsToApply(['--no-allocation-site-pretenuring'])).toEqual(['--heap-growing-percent=300']);
    expect(gcFlagsToApply(['--allocation_site_pretenuring'])).toEqual(['--heap-growing-percent=300']);
    expect(gcFlagsToApply(['--heap-growing-percent=50'])).toEqual(['--no-allocation-site-pretenuring']);
    expect(gcFlagsToApply(['--heap_growing_percent=50', '--no-allocation-site-pretenuring'])).toEqual([]);
  });

  it('does not take a value or an import path for a flag', () => {
    expect(gcFlagsToApply(['--import', 'allocation-site-pretenuring'])).toEqual([...GC_FLAGS]);
    expect(gcFlagsToApply(['--title=heap-growing-percent'])).toEqual([...GC_FLAGS]);
  });
});

describe('applyGcTuning', () => {
  afterEach(() => jest.restoreAllMocks());

  it('sets, through V8, exactly the flags the command line did not', () => {
    const set = jest.spyOn(v8, 'setFlagsFromString').mockImplementation(() => undefined);
    expect(applyGcTuning(['--heap-growing-percent=50'])).toEqual(['--no-allocation-site-pretenuring']);
    expect(set.mock.calls).toEqual([['--no-allocation-site-pretenuring']]);
    set.mockClear();
    expect(applyGcTuning([])).toEqual([...GC_FLAGS]);
    expect(set.mock.calls).toEqual(GC_FLAGS.map((flag) => [flag]));
  });
});
