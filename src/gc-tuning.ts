import v8 from 'node:v8';

/**
 * The V8 garbage-collector settings the service runs with, applied by main.ts before anything else is
 * loaded, so that `npm start`, the container and the benchmarks all run the same way.
 *
 * - `--no-allocation-site-pretenuring`: V8 learns, per allocation site, whether its objects tend to
 *   survive a young-generation collection and, if they do, allocates them straight into the old
 *   generation. Under load most of a request's objects outlive one or two scavenges (a request waits
 *   for its database round trips), so V8 pretenured them: the old generation grew by about 20 MB a
 *   second at 2,000 waiver decisions a second and a full mark-compact ran every 7 to 10 seconds. Without
 *   pretenuring, those objects die young and the old generation grows by about 3 MB a second.
 * - `--heap-growing-percent=300`: after a full collection the next one starts when the old generation
 *   has grown to four times what survived (about 55 MB live here, so near 220 MB, what it reached under
 *   load before). Without it V8 chose a small factor once the old generation grew slowly, and ran a full
 *   collection every 3 to 5 seconds: each one a pause of 10 to 15 ms and a helper thread busy marking,
 *   which on two cores set the p99 of the benchmarks' constant-rate runs.
 *
 * Measured in bench/ (README, Benchmarks): three full collections in the service's life instead of ten
 * to twelve, and about 13% less service CPU a waiver decision (0.27 ms instead of 0.31).
 *
 * A flag the operator gave on node's command line wins: it is left as given (for instance
 * `node --allocation-site-pretenuring dist/src/main.js` restores V8's default).
 */
export const GC_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring', '--heap-growing-percent=300'];

/** A V8 flag's name: without leading dashes, `no-` or a value; V8 reads `_` and `-` alike. */
function flagName(flag: string): string {
  const bare = flag.replace(/^--?/, '').split('=')[0]?.replace(/_/g, '-') ?? '';
  return bare.startsWith('no-') ? bare.slice(3) : bare;
}

/** The flags of GC_FLAGS that `execArgv` (node's own command-line options) does not already set. */
export function gcFlagsToApply(execArgv: readonly string[]): string[] {
  const given = new Set(execArgv.filter((argument) => argument.startsWith('-')).map(flagName));
  return GC_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** Applies the flags the command line did not set; before the heap holds much (main.ts imports this first). */
export function applyGcTuning(execArgv: readonly string[] = process.execArgv): string[] {
  const applied = gcFlagsToApply(execArgv);
  for (const flag of applied) v8.setFlagsFromString(flag);
  return applied;
}
