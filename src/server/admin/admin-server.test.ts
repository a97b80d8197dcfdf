// The admin port with pages handed in (the dashboard's shape, AdminPages): a page's answer goes out
// with its headers (cache-control defaulting to no-store), a 304 without a body, a failed page as
// 500, a path no page has as 404 naming the dashboard, and the pages are closed with the port.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AdminPages, type AdminReply, AdminServer } from './admin-server.ts';

describe('the admin port with pages', () => {
  let server: AdminServer;
  let base = '';
  let closed = 0;
  const pages: AdminPages = {
    get(url, ifNoneMatch): Promise<AdminReply> | undefined {
      if (url.pathname === '/') {
        if (ifNoneMatch === '"v1"')
          return Promise.resolve({ status: 304, contentType: 'text/html', body: '' });
        return Promise.resolve({
          status: 200,
          contentType: 'text/html; charset=utf-8',
          body: new TextEncoder().encode('<p>hi</p>'),
          headers: { etag: '"v1"', 'cache-control': 'no-cache' },
        });
      }
      if (url.pathname === '/api/status' && url.searchParams.has('fail'))
        return Promise.reject(new Error('boom'));
      if (url.pathname === '/api/status')
        return Promise.resolve({ status: 200, contentType: 'application/json', body: '{"ok":true}' });
      return undefined;
    },
    close() {
      closed++;
    },
  };
  const errors: unknown[] = [];

  before(async () => {
    server = new AdminServer({
      metrics: { text: () => Promise.resolve(''), contentType: 'text/plain' },
      readiness: () => [],
      pages,
      onError: (e) => errors.push(e),
    });
    base = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  });
  after(() => server.close());

  it("serves a page's answer with its headers; cache-control is no-store unless the page says", async () => {
    const page = await fetch(`${base}/`);
    assert.deepEqual(
      [
        page.status,
        page.headers.get('content-type'),
        page.headers.get('etag'),
        page.headers.get('cache-control'),
      ],
      [200, 'text/html; charset=utf-8', '"v1"', 'no-cache'],
    );
    assert.equal(await page.text(), '<p>hi</p>');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const api = await fetch(`${base}/api/status`);
    assert.deepEqual(
      [api.status, api.headers.get('cache-control'), await api.text()],
      [200, 'no-store', '{"ok":true}'],
    );
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.deepEqual([head.status, await head.text()], [200, '']);
  });

  it('a 304 carries no body; a page that fails is a 500, reported', async () => {
    const cached = await fetch(`${base}/`, { headers: { 'if-none-match': '"v1"' } });
    assert.deepEqual([cached.status, await cached.text()], [304, '']);
    const failed = await fetch(`${base}/api/status?fail`);
    assert.deepEqual([failed.status, await failed.text()], [500, '/api/status failed\n']);
    assert.match(String(errors.at(-1)), /boom/);
  });

  it('a path of no page is 404 naming the dashboard; a POST is 405; closing the port closes the pages', async () => {
    const missing = await fetch(`${base}/nothing`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /try \/metrics, \/livez, \/readyz, \/ for the dashboard/);
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
    await server.close();
    await server.close();
    assert.equal(closed, 1);
  });
});
