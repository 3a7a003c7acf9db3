/**
 * `npm run simulator`: runs the IT Retail simulator on SIMULATOR_PORT (default 4010) with
 * SIMULATOR_SEED_CUSTOMERS generated customers (default 25) and prints how to reach it.
 */
import { ITRetailSimulator } from './simulator.js';

function intFromEnv(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    console.error(`${name} must be a whole number between 0 and ${max} (got "${raw}")`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const port = intFromEnv('SIMULATOR_PORT', 4010, 65535);
  const count = intFromEnv('SIMULATOR_SEED_CUSTOMERS', 25, 2_000_000);
  const host = process.env.SIMULATOR_HOST || '127.0.0.1';
  const seedRaw = process.env.SIMULATOR_RANDOM_SEED;
  const randomSeed = seedRaw && Number.isInteger(Number(seedRaw)) ? Number(seedRaw) : undefined;

  let sim: ITRetailSimulator;
  try {
    sim = await ITRetailSimulator.start({ port, host, randomSeed });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    console.error(
      code === 'EADDRINUSE'
        ? `Port ${port} is already in use; set SIMULATOR_PORT to another port.`
        : `Could not start the simulator: ${(err as Error).message}`,
    );
    process.exit(1);
  }
  sim.generateCustomers(count, { emailDomain: 'example.com', deletedShare: 0.04 });

  const customers = sim.listCustomers();
  const withPoints = customers.filter((c) => (c.LoyaltyPoints ?? 0) > 0).length;
  console.log(`IT Retail simulator listening on ${sim.url}`);
  console.log(`  base URL (client baseUrl): ${sim.url}`);
  console.log('  demo credentials:          username "demo" / password "demo"');
  console.log(`  customers:                 ${customers.length} (${withPoints} with loyalty points)`);
  for (const c of customers.slice(0, 3)) {
    console.log(`    e.g. ${c.FirstName} ${c.LastName} <${c.Email}> ${c.LoyaltyPoints} points`);
  }
  console.log(`  control:                   GET ${sim.url}/__sim/state, POST ${sim.url}/__sim/faults, ...`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received, stopping the simulator`);
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`Simulator failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
