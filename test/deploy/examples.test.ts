/** examples/probex.yaml loads and shows every top-level setting, every probe kind and target option. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load as parse } from 'js-yaml';
import { DEFAULT_PORT } from '../../src/config/defaults.ts';
import { loadConfig } from '../../src/config/load.ts';
import { PROBE_KINDS } from '../../src/probes/registry.ts';
import { type Obj, read } from '../helpers/manifests.ts';

const EXAMPLE = 'examples/probex.yaml';

describe('examples/probex.yaml', () => {
  const text = read(EXAMPLE);
  const raw = parse(text) as Obj;

  it('is a valid probex config on DEFAULT_PORT', () => {
    const cfg = loadConfig({ yaml: text, file: EXAMPLE, env: {} }).config;
    assert.equal(cfg.listen.port, DEFAULT_PORT);
  });

  it('covers every top-level setting', () => {
    for (const k of [
      'listen',
      'publishInterval',
      'profile',
      'agentId',
      'threads',
      'snapshotBytes',
      'nativeHistograms',
      'log',
      'auth',
      'targets',
    ]) {
      assert.ok(k in raw, `missing ${k}`);
    }
    assert.ok(
      raw.auth.tokens.length > 0 && raw.auth.tokens.every((t: Obj) => t.permissions),
      'tokens with permissions',
    );
    assert.match(text, /^\s*#?\s*tokenFile:/m, 'documents auth.tokenFile');
  });

  it('covers every probe kind, target option and synthetic distribution', () => {
    const cfg = loadConfig({ yaml: text, env: {} }).config;
    assert.deepEqual([...new Set(cfg.targets.map((t) => t.kind))].sort(), [...PROBE_KINDS].sort());
    const keys = new Set((raw.targets as Obj[]).flatMap((t) => Object.keys(t)));
    for (const k of [
      'name',
      'kind',
      'interval',
      'timeout',
      'concurrency',
      'labels',
      'buckets',
      'url',
      'query',
      'path',
      'location',
      'expectStatus',
      'bodyMatch',
      'headers',
      'address',
      'distribution',
      'errorRate',
    ]) {
      assert.ok(keys.has(k), `no target sets ${k}`);
    }
    const types = new Set(cfg.targets.flatMap((t) => (t.kind === 'synthetic' ? [t.distribution.type] : [])));
    assert.deepEqual([...types].sort(), ['constant', 'exponential', 'lognormal', 'uniform']);
  });
});
