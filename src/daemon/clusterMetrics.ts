/** Metrics of a scheduler on a shared database: its role and term, and the shared config's version. */
import { Gauge, type Registry } from 'prom-client';
import type { DatabaseConfigLoader } from '../cluster/databaseConfigLoader.js';
import type { Cluster } from './cluster.js';
import { workerCounts } from '../store/postgres/remoteTasks.js';

export function registerClusterMetrics(registry: Registry, cluster: Cluster): void {
  new Gauge({
    name: 'bistro_leader',
    help: '1 while this scheduler leads, 0 while it stands by',
    registers: [registry],
    collect() {
      this.set(cluster.leads ? 1 : 0);
    },
  });
  new Gauge({
    name: 'bistro_leader_term',
    help: 'The leader term this scheduler last saw (its own while it leads)',
    registers: [registry],
    collect() {
      this.set(cluster.leader()?.term ?? 0);
    },
  });
  new Gauge({
    name: 'bistro_workers',
    help: 'Worker incarnations registered on the database, by state (healthy, lost, stopped)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await workerCounts(cluster.storage.pool).catch(() => undefined);
      if (!counts) return;
      for (const state of ['healthy', 'lost', 'stopped']) this.set({ state }, counts.get(state) ?? 0);
    },
  });
  new Gauge({
    name: 'bistro_worker_lease_fresh',
    help: "1 while this scheduler's worker lease is fresh (its tasks may run)",
    registers: [registry],
    collect() {
      this.set(cluster.incarnation !== undefined ? 1 : 0);
    },
  });
}

/** With --config-in-database: the version in force, equal on every scheduler once a change reached them all. */
export function registerConfigVersionMetric(registry: Registry, loader: DatabaseConfigLoader): void {
  new Gauge({
    name: 'bistro_config_version',
    help: 'The version of the config in the database this scheduler has in force',
    registers: [registry],
    collect() {
      this.set(loader.versionInForce);
    },
  });
}
