// The dashboard's static files: its own page, script and stylesheet (static/, served as they are
// in the repository: no bundler) and uPlot's (the npm package, pinned in package.json). Read once
// when the dashboard is built, so a request never touches the disk; each answered with its content
// type and an ETag, revalidated by the browser (a 304 when unchanged).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface Asset {
  readonly contentType: string;
  readonly body: Uint8Array;
  /** A strong validator of `body`, quoted as the header carries it. */
  readonly etag: string;
  readonly cacheControl: string;
}

/** Bound on one asset (the largest, uPlot's script, is about 50 KB). */
export const ASSET_BYTES_MAX = 512 * 1024;

/** Our own files: always revalidated, so a new build's page is seen at the next load. */
const OWN = 'no-cache';
/** uPlot's: its version is pinned; an hour before asking again. */
const VENDOR = 'public, max-age=3600';

const here = import.meta.dirname;
const require = createRequire(import.meta.url);

/** Path on the admin port → where the file is and how it is served. */
const FILES: readonly (readonly [string, () => string, string, string])[] = [
  ['/', () => join(here, 'static', 'index.html'), 'text/html; charset=utf-8', OWN],
  ['/dashboard.js', () => join(here, 'static', 'dashboard.js'), 'text/javascript; charset=utf-8', OWN],
  ['/dashboard.css', () => join(here, 'static', 'dashboard.css'), 'text/css; charset=utf-8', OWN],
  [
    '/vendor/uPlot.iife.min.js',
    () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    'text/javascript; charset=utf-8',
    VENDOR,
  ],
  [
    '/vendor/uPlot.min.css',
    () => require.resolve('uplot/dist/uPlot.min.css'),
    'text/css; charset=utf-8',
    VENDOR,
  ],
];

/** Every asset by its path (`/index.html` is `/` too). Throws when a file is missing or too large. */
export function loadAssets(): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [path, file, contentType, cacheControl] of FILES) {
    const where = file();
    const body = readFileSync(where);
    if (body.byteLength > ASSET_BYTES_MAX) {
      throw new RangeError(`dashboard asset ${where} is ${body.byteLength} bytes, over ${ASSET_BYTES_MAX}`);
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(path, { contentType, body, etag, cacheControl });
  }
  const index = assets.get('/');
  if (index !== undefined) assets.set('/index.html', index);
  return assets;
}
