import { defineConfig } from 'vitest/config';

// `npm test` runs through `scripts/with-redis.mjs --cluster`, which starts a throw-away 3-master Redis Cluster
// and passes its seeds as TEST_REDIS_CLUSTER_NODES. The 'single' project runs every test on the one Redis;
// the 'cluster' project runs the tests that prove the app on a cluster (the sync and admin suites, the chaos,
// exactness and SIGKILL tests, the one-slot check, fairness) again with REDIS_CLUSTER_NODES set.
const clusterNodes = process.env.TEST_REDIS_CLUSTER_NODES;
const CLUSTER_TESTS = [
  'test/sync/**/*.test.ts',
  'test/worker/**/*.test.ts',
  'test/queue/fairness.test.ts',
  'test/admin/**/*.test.ts',
  'test/scenarios/chaos.test.ts',
  'test/scenarios/exactness.test.ts',
  'test/web/status-api.test.ts',
  'test/web/webhook-ingress.test.ts',
  'test/cluster/**/*.test.ts',
];

const common = {
  environment: 'node',
  testTimeout: 30_000,
  hookTimeout: 30_000,
  // Test files share one Redis; each uses its own key prefix, so files may run in parallel.
  pool: 'forks',
  fileParallelism: true,
  maxWorkers: 2,
} as const;

export default defineConfig({
  test: {
    ...common,
    projects: [
      {
        test: {
          ...common,
          name: 'single',
          include: ['test/**/*.test.ts'],
          // The cluster-only tests say so and do nothing without a cluster; with one they run in 'cluster'.
          exclude: clusterNodes ? ['test/cluster/**'] : [],
          env: { REDIS_CLUSTER_NODES: '' },
        },
      },
      ...(clusterNodes
        ? [
            {
              test: {
                ...common,
                name: 'cluster',
                include: CLUSTER_TESTS,
                // Every script/transaction site of src/ must run here, none across two slots.
                setupFiles: ['test/cluster/slot-guard.setup.ts'],
                globalSetup: ['test/cluster/slot-guard.global.ts'],
                env: { REDIS_CLUSTER_NODES: clusterNodes },
              },
            },
          ]
        : []),
    ],
  },
});
