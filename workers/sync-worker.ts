import { pathToFileURL } from 'node:url';
import { runWorkerProcess } from '../src/worker/from-config.js';

/**
 * The sync worker process (`npm run worker`): takes jobs off the sync queue and runs them (src/worker); it
 * builds its dependencies from the environment and stops gracefully on SIGTERM/SIGINT (active jobs finish,
 * nothing is lost). Flags: see parseWorkerFlags in src/worker/from-config.ts.
 */
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runWorkerProcess(process.argv.slice(2)).catch((err) => {
    // loadConfig's message names variables, never their values.
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
