import { mulberry32 } from '../../fakes/itretail/faults.js';

/** A small seeded PRNG (the simulator's mulberry32), so randomised tests are reproducible. */
export const seeded = mulberry32;

export function shuffle<T>(items: T[], rnd: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
