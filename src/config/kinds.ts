/**
 * TARGET_KINDS: every kind's part of the config (its keys and how an entry becomes its target), one line
 * per kind, as the registry (probes/registry.ts) has one line per probe. The mapped type makes a kind the
 * registry has and this table lacks, or one whose config yields another kind's target, a compile error.
 * config/schema.ts builds the targets' discriminated union from it.
 */
import type { KindConfig, KindShape } from './fields.ts';
import { amqpConfig, mqttConfig, natsConfig } from '../probes/broker-config.ts';
import { dnsConfig } from '../probes/dns-config.ts';
import { grpcConfig } from '../probes/grpc-config.ts';
import { httpConfig } from '../probes/http-config.ts';
import { mysqlConfig } from '../probes/mysql-config.ts';
import { postgresConfig } from '../probes/postgres-config.ts';
import { redisConfig } from '../probes/redis-config.ts';
import type { ProbeKind, TargetOfKind } from '../probes/registry.ts';
import { sqliteConfig } from '../probes/sqlite-config.ts';
import { storageConfig } from '../probes/storage-config.ts';
import { syntheticConfig } from '../probes/synthetic-config.ts';
import { tcpConfig } from '../probes/tcp-config.ts';

/** TARGET_KINDS maps every kind to its config. */
export const TARGET_KINDS: { readonly [K in ProbeKind]: KindConfig<KindShape<TargetOfKind<K>>, TargetOfKind<K>> } = {
  mysql: mysqlConfig,
  redis: redisConfig,
  storage: storageConfig,
  http: httpConfig,
  tcp: tcpConfig,
  synthetic: syntheticConfig,
  postgres: postgresConfig,
  sqlite: sqliteConfig,
  dns: dnsConfig,
  grpc: grpcConfig,
  amqp: amqpConfig,
  mqtt: mqttConfig,
  nats: natsConfig,
};
