/**
 * A worker's background chore: `run` after `firstMs`, then again `everyMs` after each run ends (never two
 * at once), until stopped. Timers are unref'd, so a chore never keeps a process alive; a failed run is
 * reported to `onError` and the next one is armed all the same. `run` is told whether stop() was called, so
 * a long sweep can end early.
 */
export interface Chore {
  /** No new run starts; resolves when the run under way (if any) has ended. */
  stop(): Promise<void>;
}

export function periodic(o: {
  firstMs: number;
  everyMs: number;
  run(stopped: () => boolean): Promise<void>;
  onError(err: unknown): void;
}): Chore {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const isStopped = () => stopped;
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      running = o
        .run(isStopped)
        .catch(o.onError)
        .finally(() => {
          running = undefined;
          if (!stopped) arm(o.everyMs);
        });
    }, ms);
    timer.unref();
  };
  arm(o.firstMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** A chore that never runs (a schedule turned off). */
export const noChore: Chore = { stop: async () => undefined };

/**
 * A chore that visits every known shop in turn, every `everyMs` (the first time after `firstMs`, by default
 * a random part of the period, so workers started together spread out). None without a shop list or a
 * period.
 */
export function eachShopPeriodically(o: {
  everyMs: number;
  firstMs?: number;
  listShops?: () => Promise<string[]>;
  visit(shop: string): Promise<void>;
  onError(err: unknown): void;
}): Chore {
  const listShops = o.listShops;
  if (o.everyMs <= 0 || !listShops) return noChore;
  return periodic({
    firstMs: o.firstMs ?? Math.random() * o.everyMs,
    everyMs: o.everyMs,
    onError: o.onError,
    async run(stopped) {
      for (const shop of await listShops()) {
        if (stopped()) return;
        await o.visit(shop);
      }
    },
  });
}
