// The admin port's dashboard in a real browser (chromium, browser.ts) against 3 real `serve`
// processes: the page lists the 3 members up; a burst of puts shows in the throughput chart's data
// (what uPlot holds, not pixels); after kill -9 of a member the page shows it down within 5 s and
// names it among the problems. Also the endpoints themselves over plain fetch: content types,
// caching (ETag, 304) and /api/status. The browser and every node are stopped in `after`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { closeBrowser, launchChromium, type RunningBrowser } from './browser.ts';
import { ProcessCluster, type ProcessNode, waitUntil, within } from './harness.ts';

/** The requirement: a member killed with SIGKILL shows as down within this. */
const DOWN_WITHIN_MS = 5000;
const REQUEST_TIMEOUT_MS = 3000;

/** What the test reads of the page's state (dashboard.js: window.ringkvDashboard). */
interface PageState {
  polls: number;
  charts: { throughput: { data: (number | null)[][]; series: { label?: string }[] } | null };
}

/** Per node of the throughput chart, its largest value (req/s); null before the chart exists. */
async function throughputPeaks(page: Page): Promise<Record<string, number> | null> {
  const peaks = await within(page.evaluate(readPeaks), REQUEST_TIMEOUT_MS);
  if (peaks === undefined) throw new Error(`the page did not answer within ${REQUEST_TIMEOUT_MS} ms`);
  return peaks;
}

/** Runs in the page. */
function readPeaks(): Record<string, number> | null {
  const chart = (globalThis as unknown as { ringkvDashboard: PageState }).ringkvDashboard.charts.throughput;
  if (chart === null) return null;
  const peaks: Record<string, number> = {};
  chart.series.slice(1).forEach((s, i) => {
    const values = (chart.data[i + 1] ?? []).filter((v): v is number => v !== null);
    peaks[s.label ?? `series ${i}`] = Math.max(0, ...values);
  });
  return peaks;
}

async function get(node: ProcessNode, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${node.adminUrl}${path}`, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

describe('the dashboard of a 3-node cluster, in chromium', { timeout: 120_000 }, () => {
  let c: ProcessCluster | undefined;
  let browser: RunningBrowser | undefined;
  let page: Page;

  before(async () => {
    browser = await launchChromium();
    c = await ProcessCluster.start({ nodes: 3 });
    page = await browser.browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${c.nodes[0]!.adminUrl}/`, { timeout: 10_000 });
    assert.deepEqual(errors, [], 'the page loads without a script error');
  });

  after(async () => {
    await closeBrowser(browser);
    await c?.cleanup();
  });

  test('the page lists the three members, up, with their addresses', async () => {
    const cards = page.locator('.member[data-up="true"]');
    await cards.nth(2).waitFor({ timeout: 10_000 });
    assert.equal(await cards.count(), 3);
    for (const n of c!.nodes) {
      const card = page.locator(`.member[data-node="${n.name}"]`);
      assert.match((await card.textContent()) ?? '', new RegExp(`${n.name}[\\s\\S]*localhost:${n.port}`));
    }
    // The placement grid: a row per member, and every data shard led by one of them.
    assert.equal(await page.locator('#grid tbody tr').count(), 3);
    assert.ok((await page.locator('#grid .cell.leader').count()) >= 9, 'metadata + 8 shards, each led');
  });

  test('a burst of puts shows in the throughput chart', async () => {
    const idle = await waitUntil(
      'the throughput chart to exist',
      10_000,
      async () => (await throughputPeaks(page)) ?? undefined,
    );
    assert.deepEqual(Object.keys(idle).sort(), ['node1', 'node2', 'node3']);
    const client = c!.client({ defaultTimeoutMs: 10_000 });
    // 400 puts, 8 at a time (a few seconds here): spread over the shards' leaders on every node.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < 400; i = next++) await client.put(`dash-${i}`, `value-${i}`);
      }),
    );
    const peaks = await waitUntil('the puts to show in the chart', 10_000, async () => {
      const p = await throughputPeaks(page);
      return p !== null && Object.values(p).some((v) => v >= 5) ? p : undefined;
    });
    const before = Math.max(...Object.values(idle));
    assert.ok(before < 5, `the chart was near 0 before the puts: ${JSON.stringify(idle)}`);
    assert.ok(Math.max(...Object.values(peaks)) >= 5, `req/s per node: ${JSON.stringify(peaks)}`);
  });

  test('a member killed with SIGKILL shows as down within 5 s, and among the problems', async (t) => {
    const node3 = c!.nodes[2]!;
    const started = performance.now();
    await node3.kill('SIGKILL');
    await page
      .locator('.member[data-node="node3"][data-up="false"]')
      .waitFor({ timeout: DOWN_WITHIN_MS - (performance.now() - started) });
    const tookMs = performance.now() - started;
    t.diagnostic(`node3 shown down ${tookMs.toFixed(0)} ms after kill -9`);
    assert.ok(tookMs < DOWN_WITHIN_MS, `shown down after ${tookMs.toFixed(0)} ms`);
    assert.match(
      (await page.locator('#problems').textContent()) ?? '',
      /node3 \(localhost:\d+\) did not answer/,
    );
    assert.equal(await page.locator('.member[data-up="true"]').count(), 2);
  });

  test('the endpoints: content types, ETag revalidation, and /api/status as JSON', async () => {
    const node1 = c!.nodes[0]!;
    const page1 = await get(node1, '/');
    assert.equal(page1.status, 200);
    assert.equal(page1.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page1.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const etag = page1.headers.get('etag') ?? '';
    assert.notEqual(etag, '');
    assert.equal((await get(node1, '/', { 'if-none-match': etag })).status, 304);
    for (const [path, type] of [
      ['/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard.css', 'text/css; charset=utf-8'],
      ['/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ]) {
      const r = await get(node1, path!);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), type, path);
      assert.match(r.headers.get('cache-control') ?? '', /no-cache|max-age/, path);
    }
    const api = await get(node1, '/api/status');
    assert.equal(api.headers.get('cache-control'), 'no-store');
    const status = (await api.json()) as { members: { nodeId: string; up: boolean }[]; shardCount: number };
    assert.deepEqual(
      status.members.map((m) => [m.nodeId, m.up]),
      [
        ['node1', true],
        ['node2', true],
        ['node3', false],
      ],
    );
    assert.equal(status.shardCount, 8);
    assert.equal((await get(node1, '/nothing-here')).status, 404);
  });
});
