/**
 * The faults the simulator injects (latency, 500, 429, hangs, writes applied and then failed or dropped),
 * their settings and checks, and the seeded PRNG that keeps every run with one seed the same.
 */
import type { CallName } from '../../src/itretail/errors.js';
import { SimulatorError } from './records.js';

export const CALL_NAMES: readonly CallName[] = [
  'token',
  'GetAllCustomers',
  'GetCustomerProductPurchases',
  'CreateCustomer',
  'GetCustomer',
  'UpdateCustomer',
];

export interface Faults {
  /** Added to every request (ms). */
  latencyMs: number;
  /** Uniform extra delay 0..jitterMs. */
  jitterMs: number;
  /** Share answered 500 without doing anything. */
  errorRate: number;
  /** Share answered 429 with Retry-After, nothing done. */
  throttleRate: number;
  /** Retry-After value of a 429, whole seconds. */
  retryAfterSeconds: number;
  /** Share that never answer (socket held until the client gives up or stop()). */
  hangRate: number;
  /** Share of CreateCustomer/UpdateCustomer that are applied, then answered 500. */
  writeAppliedThenErrorRate: number;
  /** Share of CreateCustomer/UpdateCustomer that are applied, then the socket is destroyed. */
  writeAppliedThenDropRate: number;
  /** Restrict faults (and latency) to these calls; default all calls incl. token. */
  calls?: CallName[];
}

/** A request held by holdCalls(), as tests see it. */
export interface HeldCall {
  call: CallName;
  customerId?: string;
  /** A write already applied whose answer is held back. */
  applied: boolean;
}

export type FaultKind = 'error' | 'throttle' | 'hang' | 'applied-then-error' | 'applied-then-drop';

export const DEFAULT_FAULTS: Readonly<Faults> = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  throttleRate: 0,
  retryAfterSeconds: 1,
  hangRate: 0,
  writeAppliedThenErrorRate: 0,
  writeAppliedThenDropRate: 0,
});

/** Deterministic PRNG (mulberry32) → [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `current` with the settings of `f` applied, each checked; a bad setting throws SimulatorError('INVALID'). */
export function mergeFaults(current: Faults, f: Partial<Faults>): Faults {
  if (f === null || typeof f !== 'object') throw new SimulatorError('INVALID', 'faults must be an object');
  const next: Faults = { ...current };
  const rates = [
    'errorRate',
    'throttleRate',
    'hangRate',
    'writeAppliedThenErrorRate',
    'writeAppliedThenDropRate',
  ] as const;
  for (const [key, value] of Object.entries(f)) {
    if (value === undefined) continue;
    if (key === 'calls') {
      if (value === null) {
        delete next.calls;
        continue;
      }
      if (!Array.isArray(value) || !value.every((c) => CALL_NAMES.includes(c as CallName))) {
        throw new SimulatorError('INVALID', `faults.calls must be a list of ${CALL_NAMES.join(', ')}`);
      }
      next.calls = [...(value as CallName[])];
      continue;
    }
    if (!(key in DEFAULT_FAULTS)) throw new SimulatorError('INVALID', `unknown fault setting: ${key}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new SimulatorError('INVALID', `fault setting ${key} must be a finite number >= 0`);
    }
    if ((rates as readonly string[]).includes(key) && value > 1) {
      throw new SimulatorError('INVALID', `fault setting ${key} must be between 0 and 1`);
    }
    if (key === 'retryAfterSeconds' && !Number.isInteger(value)) {
      throw new SimulatorError('INVALID', 'retryAfterSeconds must be a whole number of seconds');
    }
    (next as unknown as Record<string, number>)[key] = value;
  }
  if (next.hangRate + next.errorRate + next.throttleRate > 1) {
    throw new SimulatorError('INVALID', 'hangRate + errorRate + throttleRate must not exceed 1');
  }
  if (next.writeAppliedThenErrorRate + next.writeAppliedThenDropRate > 1) {
    throw new SimulatorError(
      'INVALID',
      'writeAppliedThenErrorRate + writeAppliedThenDropRate must not exceed 1',
    );
  }
  return next;
}
