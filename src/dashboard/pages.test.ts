// The dashboard's paths: its static files with their content types and validators (304 when the
// browser's copy is current), /api/status as JSON (503 with the reason when the cluster cannot be
// asked), and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadAssets } from './assets.ts';
import { dashboardPages, type PageReply } from './pages.ts';
import type { DashboardStatus } from './status.ts';

const assets = loadAssets();

function pages(current: () => Promise<DashboardStatus>) {
  return dashboardPages(assets, { current }, () => {});
}

async function get(path: string, ifNoneMatch?: string): Promise<PageReply | undefined> {
  const p = pages(() => Promise.reject(new Error('cannot reach any of h:1')));
  return p.get(new URL(path, 'http://admin'), ifNoneMatch);
}

describe('dashboard pages', () => {
  it('serves the page, its script and style, and uPlot, with their content types', async () => {
    for (const [path, type, body] of [
      ['/', 'text/html; charset=utf-8', /<script src="\/dashboard.js" defer><\/script>/],
      ['/index.html', 'text/html; charset=utf-8', /<title>ringkv dashboard<\/title>/],
      ['/dashboard.js', 'text/javascript; charset=utf-8', /fetch\('\/api\/status'/],
      ['/dashboard.css', 'text/css; charset=utf-8', /\.member/],
      ['/vendor/uPlot.iife.min.js', 'text/javascript; charset=utf-8', /uPlot/],
      ['/vendor/uPlot.min.css', 'text/css; charset=utf-8', /\.uplot/],
    ] as const) {
      const r = await get(path);
      assert.equal(r?.status, 200, path);
      assert.equal(r?.contentType, type, path);
      assert.match(Buffer.from(r?.body ?? '').toString('utf8'), body, path);
      assert.match(r?.headers?.etag ?? '', /^"[\w-]{22}"$/, path);
    }
    assert.equal((await get('/'))?.headers?.['cache-control'], 'no-cache');
    assert.equal(
      (await get('/vendor/uPlot.iife.min.js'))?.headers?.['cache-control'],
      'public, max-age=3600',
    );
    assert.match((await get('/'))?.headers?.['content-security-policy'] ?? '', /default-src 'none'/);
  });

  it('answers 304 with no body when the ETag matches, 200 when it does not', async () => {
    const etag = (await get('/dashboard.js'))?.headers?.etag ?? '';
    const same = await get('/dashboard.js', `"other", ${etag}`);
    assert.deepEqual([same?.status, same?.body], [304, '']);
    assert.equal((await get('/dashboard.js', '"other"'))?.status, 200);
  });

  it('/api/status: the status as JSON; 503 with the reason when no member answered', async () => {
    const s = { servedBy: 'n1', members: [] } as unknown as DashboardStatus;
    const ok = await pages(() => Promise.resolve(s)).get(new URL('http://admin/api/status'), undefined);
    assert.deepEqual([ok?.status, ok?.contentType], [200, 'application/json; charset=utf-8']);
    assert.deepEqual(JSON.parse(String(ok?.body)), s);
    const failed = await get('/api/status');
    assert.equal(failed?.status, 503);
    assert.deepEqual(JSON.parse(String(failed?.body)), { error: 'cannot reach any of h:1' });
  });

  it('is not asked about any other path', () => {
    const p = pages(() => Promise.reject(new Error('unused')));
    for (const path of ['/metrics-not', '/api', '/api/status/x', '/vendor/', '/../package.json']) {
      assert.equal(p.get(new URL(path, 'http://admin'), undefined), undefined, path);
    }
  });
});
