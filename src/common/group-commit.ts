import { setImmediate as nextTurn } from 'node:timers/promises';

export type Settled<Result> = { readonly ok: true; readonly value: Result } | { readonly ok: false; readonly error: unknown };

export interface GroupCommitOptions<Item> {
  /** The most an item batch may weigh (items count 1 each unless `weightOf` says otherwise). */
  readonly maxWeight: number;
  readonly weightOf?: (item: Item) => number;
}

/**
 * Group commit: callers submit items one at a time; whatever queued up while the previous batch was
 * being written goes into the next one, so that many callers share one database transaction (and one
 * fsync) instead of paying one each. One batch is written at a time. Before taking a batch the loop
 * lets the event loop turn once, so that callers whose previous item was just answered can queue their
 * next one and ride the same batch, instead of the batches alternating between one item and the rest.
 */
export class GroupCommitter<Item, Result> {
  private queue: { item: Item; weight: number; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    /** Writes a batch; answers each item, in order. Throwing rejects every item of the batch. */
    private readonly write: (items: Item[]) => Promise<Settled<Result>[]>,
    private readonly options: GroupCommitOptions<Item>,
  ) {}

  submit(item: Item): Promise<Result> {
    if (this.stopped) return Promise.reject(new Error('stopped: no more items are taken'));
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, weight: this.options.weightOf?.(item) ?? 1, resolve, reject });
      this.start();
    });
  }

  /** Takes no more items and waits for those taken to be written. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private start(): void {
    if (this.running !== undefined) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // An item that arrived after the loop's last look, before it was marked finished, would wait for ever.
      if (this.queue.length > 0) this.start();
    });
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      await nextTurn();
      const batch: typeof this.queue = [];
      let weight = 0;
      while (this.queue.length > 0 && (batch.length === 0 || weight + (this.queue[0]?.weight ?? 0) <= this.options.maxWeight)) {
        const next = this.queue.shift();
        if (next === undefined) break;
        batch.push(next);
        weight += next.weight;
      }
      try {
        const results = await this.write(batch.map((entry) => entry.item));
        batch.forEach((entry, index) => {
          const result = results[index];
          if (result === undefined) entry.reject(new Error('the batch writer gave no answer for an item'));
          else if (result.ok) entry.resolve(result.value);
          else entry.reject(result.error);
        });
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
  }
}
