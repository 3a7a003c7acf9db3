/** Types of scripts/redis-cluster.mjs (a plain Node script, used by the benchmarks). */
export function startCluster(opts?: { masters?: number }): Promise<{
  ports: number[];
  /** `127.0.0.1:P1,127.0.0.1:P2,…`, as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  stop(): Promise<void>;
}>;
/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number>;
