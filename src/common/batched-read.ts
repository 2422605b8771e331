/**
 * Read coalescing, the read side of group commit: callers ask for one key each; the keys asked for
 * in the same turn of the event loop are read with one query (`WHERE id = ANY($1)`) instead of one
 * round trip each. It is not a cache: a key joins only a batch that has not been sent yet, so every
 * answer was read after its caller asked (a caller sees whatever was committed before it asked), and
 * nothing is kept once the batch is answered. Batches are independent: several may be in flight.
 */
export class BatchedRead<Value> {
  private pending: Map<string, { resolve: (value: Value | undefined) => void; reject: (error: unknown) => void }[]> | undefined;

  constructor(
    /** Reads the keys (distinct, at most `maxKeys`); a key missing from the answer reads as undefined. */
    private readonly read: (keys: string[]) => Promise<Map<string, Value>>,
    private readonly maxKeys: number,
  ) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new Error(`BatchedRead: maxKeys must be a positive integer, got ${maxKeys}`);
  }

  load(key: string): Promise<Value | undefined> {
    return new Promise((resolve, reject) => {
      if (this.pending === undefined) {
        this.pending = new Map();
        setImmediate(() => this.flush());
      }
      const waiters = this.pending.get(key);
      if (waiters !== undefined) waiters.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = undefined;
    if (batch === undefined) return;
    const keys = [...batch.keys()];
    for (let start = 0; start < keys.length; start += this.maxKeys) {
      const chunk = keys.slice(start, start + this.maxKeys);
      // Through a promise, so that a read that throws at once still answers its callers.
      Promise.resolve()
        .then(() => this.read(chunk))
        .then(
          (values) => {
            for (const key of chunk) for (const waiter of batch.get(key) ?? []) waiter.resolve(values.get(key));
          },
          (error: unknown) => {
            for (const key of chunk) for (const waiter of batch.get(key) ?? []) waiter.reject(error);
          },
        );
    }
  }
}
