/**
 * The IT Retail simulator in its own process (so its memory and CPU are not the measured process's).
 * BENCH_SIM_LATENCY_MS sets the latency added to every call. Besides setup commands, it keeps the time
 * each UpdateCustomer (Put) was applied, read from the simulator's call log every 200 ms (the log is
 * bounded, so it is drained often): `puts` returns and forgets them.
 */
import { type CallLogEntry, ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { serve } from './child.js';

interface PutRecord {
  customerId: string;
  /** When the Put was applied and answered (ms since the epoch): the log entry's start + duration. */
  doneAt: number;
  status: CallLogEntry['status'];
}

async function main(): Promise<void> {
  const latencyMs = Number(process.env.BENCH_SIM_LATENCY_MS ?? 0);
  const sim = await ITRetailSimulator.start({ randomSeed: 42, faults: { latencyMs } });

  const puts: PutRecord[] = [];
  let lastSeen: CallLogEntry | undefined;
  let missed = 0;
  const drain = () => {
    const log = sim.calls;
    let from = 0;
    if (lastSeen) {
      const i = log.lastIndexOf(lastSeen);
      if (i < 0) missed++;
      from = i + 1;
    }
    for (let i = from; i < log.length; i++) {
      const e = log[i]!;
      if (e.call === 'UpdateCustomer' && e.customerId) {
        puts.push({ customerId: e.customerId, doneAt: e.at + e.durationMs, status: e.status });
      }
    }
    if (log.length) lastSeen = log[log.length - 1];
  };
  const timer = setInterval(drain, 200);

  serve({
    url: () => sim.url,
    generate: (a: { n: number; emailDomain?: string }) => {
      sim.generateCustomers(a.n, { emailDomain: a.emailDomain ?? 'example.com', deletedShare: 0.02 });
      return sim.customerCount;
    },
    seed: (a: {
      customers: { Email: string; FirstName: string; LastName: string; LoyaltyPoints?: number }[];
    }) => sim.seedCustomers(a.customers).map((c) => ({ id: c.Id, email: c.Email })),
    count: () => sim.customerCount,
    points: (ids: string[]) => ids.map((id) => sim.getCustomer(id)?.LoyaltyPoints ?? null),
    setLatency: (ms: number) => {
      sim.setFaults({ latencyMs: ms });
      return sim.faults.latencyMs;
    },
    callCounts: () => sim.callCounts(),
    clearCalls: () => {
      drain();
      sim.clearCalls();
      lastSeen = undefined;
      puts.length = 0;
      return true;
    },
    puts: () => {
      drain();
      const out = puts.splice(0);
      return { puts: out, missedDrains: missed };
    },
    memory: () => ({ rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 }),
    cpu: () => process.cpuUsage(),
    stop: async () => {
      clearInterval(timer);
      await sim.stop();
    },
  });
}

main().catch((e) => {
  console.error(`simulator child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
