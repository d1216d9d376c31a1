/**
 * startDist reads bin/probex-dist, the one place that says how the build runs in production (`npm run
 * start:dist`, the container image and deploy/kubernetes/ run it): the variables it exports
 * (`export NAME="${NAME:-value}"`) and its `exec node [node flags ...] "$here/<entry>" "$@"` line. The e2e
 * helper and the benches start dist/ with the same flags under the node that runs them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** LAUNCHER is the production command's path, relative to the repository root. */
export const LAUNCHER = 'bin/probex-dist';

/** StartDist is the production command, taken apart. */
export interface StartDist {
  /** env holds the variables the launcher sets for node (their defaults). */
  readonly env: Readonly<Record<string, string>>;
  /** nodeFlags are node's own flags, in order. */
  readonly nodeFlags: readonly string[];
  /** entry is the script node runs, relative to the repository root. */
  readonly entry: string;
}

export function startDist(): StartDist {
  const lines = readFileSync(`${ROOT}${LAUNCHER}`, 'utf8').split('\n');
  const env: Record<string, string> = {};
  for (const line of lines) {
    const set = /^export (\w+)="\$\{(\w+):-([^}"]*)\}"$/.exec(line);
    if (set !== null && set[1] === set[2]) env[set[1]!] = set[3]!;
  }
  const exec = lines.find((line) => line.startsWith('exec node '));
  const words = exec?.split(/\s+/) ?? [];
  const entry = /^"\$here\/\.\.\/(.+)"$/.exec(words.at(-2) ?? '')?.[1];
  if (exec === undefined || entry === undefined || words.at(-1) !== '"$@"')
    throw new Error(`${LAUNCHER} has no line 'exec node [flags ...] "$here/../<entry>" "$@"'`);
  return { env, nodeFlags: words.slice(2, -2), entry };
}
