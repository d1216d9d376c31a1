/**
 * The status page in a real browser: Debian's headless Chromium, driven by playwright-core, loads the page
 * from a node:http server that sends it with STATUS_PAGE_CSP, at a phone and a laptop viewport. Every row
 * and plot must be there and visible, the hostile error text must stay text, the CSP must block nothing
 * (Chromium reports each violation on the console), and the page must not scroll sideways. Screenshots go
 * to test-artifacts/ (gitignored) for a person to look at.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { renderStatusPage, STATUS_PAGE_CONTENT_TYPE, STATUS_PAGE_CSP } from '../../src/render/status-page.ts';
import { fixtureModel, HOSTILE_ERROR, LONG_NAME, SPECS } from './status-fixtures.ts';
import { ARTIFACTS, HAS_CHROMIUM, launchChromium, openPage, requireChromium } from '../helpers/chromium.ts';

const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
] as const;

let server: Server | undefined;
let url = '';
let browser: Browser | undefined;

before(async () => {
  if (!HAS_CHROMIUM) return;
  const html = Buffer.from(renderStatusPage(fixtureModel()));
  const gz = gzipSync(html);
  server = createServer((req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res
      .writeHead(200, {
        'content-type': STATUS_PAGE_CONTENT_TYPE,
        'content-security-policy': STATUS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      })
      .end(gzip ? gz : html);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
});

describe('status page in headless Chromium', () => {
  for (const vp of VIEWPORTS) {
    test(`${vp.name} ${vp.width}x${vp.height}: rows and plots visible, no CSP violation, no sideways scroll`, async (t) => {
      if (!requireChromium(t)) return;
      const { page, messages: console, requests } = await openPage(browser!, t, vp);
      const res = await page.goto(url, { waitUntil: 'load' });
      assert.equal(res?.status(), 200);
      assert.equal(res?.headers()['content-encoding'], 'gzip', 'the browser got the gzip body');

      // Every target has a visible row; every probed one's card has both plots.
      const rows = page.locator('tr.row');
      assert.equal(await rows.count(), SPECS.length);
      for (let i = 0; i < SPECS.length; i++) assert.ok(await rows.nth(i).isVisible(), `row ${SPECS[i]!.name}`);
      const cards = page.locator('section.card');
      assert.equal(await cards.count(), SPECS.length);
      for (const spec of SPECS) {
        const card = page.locator(`section.card[id="t-${spec.name}"]`);
        const svgs = card.locator('svg');
        assert.equal(await svgs.count(), 2, `${spec.name}: two plots`);
        for (let i = 0; i < 2; i++) {
          const box = await svgs.nth(i).boundingBox();
          assert.ok(
            box !== null && box.width > 250 && box.height > 60,
            `${spec.name} plot ${i}: ${JSON.stringify(box)}`,
          );
          assert.ok(await svgs.nth(i).isVisible());
        }
        const curve = card.locator('path.curve');
        const hasCurve = spec.latency !== undefined && spec.runs > 0;
        assert.equal(await curve.count(), hasCurve ? 1 : 0, `${spec.name}: a curve exactly when it has successes`);
        if (hasCurve) {
          const box = await curve.boundingBox();
          assert.ok(box !== null && box.width > 200, `${spec.name}: the curve spans the plot (${JSON.stringify(box)})`);
        }
      }

      // The hostile error text is shown as text: no element, no script ran, no request for x.
      assert.equal(
        await page.locator('tr.detail code').filter({ hasText: 'ECONNREFUSED' }).textContent(),
        HOSTILE_ERROR,
      );
      assert.equal(await page.locator('main img, main script').count(), 0);
      assert.deepEqual(requests, [url], 'the page loads nothing but itself');

      // Colors come from the stylesheet: if the CSP had blocked it, the DOWN badge would be unstyled.
      const badge = await page
        .locator('tr.row .badge.down')
        .first()
        .evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).borderTopStyle);
      assert.equal(badge, 'solid', 'the <style> block applied under the CSP');
      assert.deepEqual(
        console.filter((m) => /Content Security Policy|Refused to/i.test(m) || m.startsWith('pageerror')),
        [],
      );
      assert.deepEqual(
        console.filter((m) => m.startsWith('error')),
        [],
        'no console errors',
      );

      // No sideways scrolling: the document is as wide as the viewport.
      const widths = await page.locator('html').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
      assert.ok(
        widths.scroll <= widths.client,
        `${vp.name}: scrollWidth ${widths.scroll} > clientWidth ${widths.client}`,
      );
      const table = await page
        .locator('.tablewrap')
        .evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
      assert.ok(
        table.scroll <= table.client,
        `${vp.name}: the table is ${table.scroll}px wide in a ${table.client}px panel`,
      );
      const longName = await page.locator(`tr.row td.name`).filter({ hasText: LONG_NAME }).boundingBox();
      assert.ok(
        longName !== null && longName.x + longName.width <= vp.width,
        'the longest target name stays on screen',
      );

      await page.screenshot({ path: join(ARTIFACTS, `status-page-${vp.name}.png`), fullPage: true });
      await page.screenshot({ path: join(ARTIFACTS, `status-page-${vp.name}-top.png`) });
    });
  }
});
