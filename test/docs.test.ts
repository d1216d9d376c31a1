/**
 * The user-facing documents stay what they are meant to be: README at most 16 KB (the rest lives in
 * docs/), no document speaks of work sessions or issue numbers, and every relative link in README and
 * docs/ points at a file that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');
/** README_MAX_BYTES: README is for users; how it works, benchmarks, tuning and decisions go to docs/. */
const README_MAX_BYTES = 16 * 1024;
/** FORBIDDEN_PHRASES: documents say what is, not when or in which ticket it was done. */
const FORBIDDEN_PHRASES = [/this session/i, /issue #/i];

/** documents lists README.md and every .md file under docs/. */
function documents(): string[] {
  const out = [README];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) out.push(path);
    }
  };
  if (existsSync(DOCS)) walk(DOCS);
  return out;
}

/**
 * relativeLinks returns the targets of the Markdown links in text that point into the repository:
 * inline `[text](target)` and reference `[label]: target`, outside fenced code blocks, without the
 * `#fragment`. Absolute URLs (`scheme:`), pure fragments and site-absolute paths are left out.
 */
export function relativeLinks(text: string): string[] {
  const prose = text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  const targets: string[] = [];
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) targets.push(m[1]!);
  return targets
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#') && !t.startsWith('/'))
    .map((t) => decodeURIComponent(t.split('#')[0]!.split('?')[0]!));
}

/** brokenLinks lists `file: target` for every relative link of file that names no existing path. */
function brokenLinks(file: string): string[] {
  return relativeLinks(readFileSync(file, 'utf8'))
    .filter((target) => !existsSync(join(dirname(file), target)))
    .map((target) => `${relative(ROOT, file)}: ${target}`);
}

describe('documents', () => {
  it('README is at most 16 KB', () => {
    const size = statSync(README).size;
    assert.ok(size <= README_MAX_BYTES, `README.md is ${size} bytes, over ${README_MAX_BYTES}: move detail to docs/`);
  });

  it('docs/ exists and holds the documents README links to', () => {
    const names = documents().map((f) => relative(ROOT, f));
    for (const name of [
      'docs/design.md',
      'docs/benchmarks.md',
      'docs/tuning.md',
      'docs/decisions.md',
      'docs/json-api.md',
      'docs/metrics.md',
      'docs/native-histograms.md',
    ]) {
      assert.ok(names.includes(name), `${name} is missing`);
    }
  });

  it('no document speaks of sessions or issue numbers', () => {
    const hits: string[] = [];
    for (const file of documents()) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const phrase of FORBIDDEN_PHRASES)
            if (phrase.test(line)) hits.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(hits, []);
  });

  it('every relative link in README and docs/ points at an existing file', () => {
    assert.deepEqual(documents().flatMap(brokenLinks), []);
  });

  it('the link check finds relative links and skips URLs, fragments and code blocks', () => {
    const text = [
      'See [the design](docs/design.md#threads), [a ref][r] and [`code`](../src/main.ts "title").',
      '[r]: ./missing.md',
      'Not links: [web](https://example.com/x.md), [here](#endpoints), [mail](mailto:a@b.c).',
      '```sh',
      'echo "[not](a/link.md)"',
      '```',
    ].join('\n');
    assert.deepEqual(relativeLinks(text).sort(), ['../src/main.ts', './missing.md', 'docs/design.md']);
  });
});
