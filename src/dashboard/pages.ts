// The dashboard's paths on the admin port: the static files (assets.ts) and /api/status (the
// cluster's status as JSON, status-source.ts). Shaped as the admin server's AdminPages
// (src/server/admin/admin-server.ts), which src/cli hands it: this layer does not import src/server.
import type { Asset } from './assets.ts';
import type { StatusSource } from './status-source.ts';

export interface PageReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface DashboardPages {
  get(url: URL, ifNoneMatch: string | undefined): Promise<PageReply> | undefined;
  close(): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** The page itself: scripts, styles, images and fetches from the admin port only, no inline script. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function dashboardPages(
  assets: ReadonlyMap<string, Asset>,
  source: Pick<StatusSource, 'current'>,
  close: () => void,
): DashboardPages {
  return {
    get(url, ifNoneMatch) {
      if (url.pathname === '/api/status') return apiStatus(source);
      const asset = assets.get(url.pathname);
      return asset === undefined ? undefined : Promise.resolve(assetReply(asset, ifNoneMatch));
    },
    close,
  };
}

function assetReply(a: Asset, ifNoneMatch: string | undefined): PageReply {
  const headers: Record<string, string> = { etag: a.etag, 'cache-control': a.cacheControl };
  if (a.contentType.startsWith('text/html')) headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
  const matches = ifNoneMatch?.split(',').some((t) => t.trim() === a.etag || t.trim() === '*') ?? false;
  if (matches) return { status: 304, contentType: a.contentType, body: '', headers };
  return { status: 200, contentType: a.contentType, body: a.body, headers };
}

/** 200 with the status; 503 with `{ error }` when not even the member list could be had. */
async function apiStatus(source: Pick<StatusSource, 'current'>): Promise<PageReply> {
  try {
    return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(await source.current()) };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    return { status: 503, contentType: JSON_TYPE, body: JSON.stringify({ error }) };
  }
}
