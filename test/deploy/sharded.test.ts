/** deploy/kubernetes/sharded.yaml: each replica probes its own shard of the targets, together all of them. */
import { LAUNCHER } from '../../support/start-dist.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_PORT } from '../../src/config/defaults.ts';
import { loadConfig } from '../../src/config/load.ts';
import { execFileP, CONFIG_PATH, type Obj, docs, only, byKind, envOf } from '../helpers/manifests.ts';

describe('deploy/kubernetes/sharded.yaml', () => {
  const SHARDED = 'deploy/kubernetes/sharded.yaml';
  const all = docs(SHARDED);
  const sts = byKind(all, 'StatefulSet');
  const container: Obj = only(
    (sts.spec.template.spec.containers as Obj[]).filter((c) => c.name === 'probex'),
    'probex container',
  );
  const shards = Number(envOf(container).PROBEX_SHARDS);

  it('PROBEX_SHARDS is the replica count, and the shell makes PROBEX_SHARD the pod ordinal of it', async () => {
    assert.equal(shards, sts.spec.replicas);
    const [sh, flag, script, argv0] = container.command as string[];
    assert.deepEqual([sh, flag], ['/bin/sh', '-c']);
    for (const ordinal of [0, sts.spec.replicas - 1]) {
      const { stdout } = await execFileP(sh!, [flag!, script!, argv0!, 'printenv', 'PROBEX_SHARD'], {
        env: { HOSTNAME: `${sts.metadata.name}-${ordinal}`, PROBEX_SHARDS: String(shards), PATH: process.env.PATH },
      });
      assert.equal(stdout.trim(), `${ordinal}/${shards}`);
    }
    assert.deepEqual(container.args, [`/app/${LAUNCHER}`, '--config', CONFIG_PATH], "the image's own command");
  });

  it("the replicas' shards of the ConfigMap's targets are disjoint and cover them all", () => {
    const yaml = String(byKind(all, 'ConfigMap').data['probex.yaml']);
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'probex-sharded-')), 'tokens');
    writeFileSync(tokenFile, String(byKind(all, 'Secret', 'probex-central-token').stringData.tokens), { mode: 0o600 });
    const whole = loadConfig({ yaml, env: { PROBEX_TOKEN_FILE: tokenFile } }).config;
    const seen: string[] = [];
    for (let i = 0; i < shards; i++) {
      const cfg = loadConfig({ yaml, env: { PROBEX_TOKEN_FILE: tokenFile, PROBEX_SHARD: `${i}/${shards}` } }).config;
      assert.equal(cfg.shard?.skippedTargets, whole.targets.length - cfg.targets.length);
      seen.push(...cfg.targets.map((t) => t.name));
    }
    assert.deepEqual(seen.sort(), whole.targets.map((t) => t.name).sort());
    assert.equal(whole.listen.port, DEFAULT_PORT);
  });

  it('the PodMonitor scrapes the metrics port of every pod with the token the pods accept', () => {
    const pm = byKind(all, 'PodMonitor');
    const podLabels = sts.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels as Record<string, string>))
      assert.equal(podLabels[k], v, `pod label ${k}`);
    assert.deepEqual(sts.spec.selector.matchLabels, pm.spec.selector.matchLabels);
    const ep = only(pm.spec.podMetricsEndpoints as Obj[], 'podMetricsEndpoint');
    assert.equal(ep.path, '/metrics');
    assert.equal((container.ports as Obj[]).find((p) => p.name === ep.port)?.containerPort, DEFAULT_PORT);
    const { name, key } = ep.authorization.credentials;
    const token = String(byKind(all, 'Secret', name).stringData[key]);
    const tokens = String(byKind(all, 'Secret', 'probex-central-token').stringData.tokens);
    assert.ok(tokens.split('\n').some((line) => line.split(/\s+/)[0] === token));
  });
});
