/**
 * startDist reads package.json's `start:dist` script, the one place that says how the build runs:
 * `[NAME=value ...] exec node [node flags ...] <entry>` (exec: npm's shell must not stay between npm and
 * node, or npm's SIGTERM stops at the shell). The e2e helper starts dist/ that way, and the
 * manifests test checks the container image does the same.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** StartDist is the `start:dist` command, taken apart. */
export interface StartDist {
  /** env holds the variables the script sets for node. */
  readonly env: Readonly<Record<string, string>>;
  /** nodeFlags are node's own flags, in order. */
  readonly nodeFlags: readonly string[];
  /** entry is the script node runs, relative to the repository root. */
  readonly entry: string;
}

export function startDist(): StartDist {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts['start:dist']!.trim().split(/\s+/);
  const node = words.indexOf('node');
  if (node < 1 || words[node - 1] !== 'exec' || node === words.length - 1) {
    throw new Error(`start:dist is not "[NAME=value ...] exec node [flags ...] <entry>": ${words.join(' ')}`);
  }
  const env: Record<string, string> = {};
  for (const word of words.slice(0, node - 1)) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new Error(`start:dist: "${word}" before node is not NAME=value`);
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return { env, nodeFlags: words.slice(node + 1, -1), entry: words.at(-1)! };
}
