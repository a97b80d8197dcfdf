// A scan followed to its end: the pages of `scan` (each one gathered from every shard by the node
// that answers) chained by their continuations, one item at a time. Memory holds one page, whatever
// the range's size: the next page is asked for only once the caller has taken every item of this one.
import { CancelledError, ServerError } from './errors.ts';
import type { ScanAllOptions, ScanItem, ScanOptions, ScanResult } from './kv-types.ts';

/** Items per page when the caller does not say: the server's own default. */
export const SCAN_PAGE_SIZE_DEFAULT = 1000;

/** One page of a scan: RingkvClient.scan, or a namespace's. */
export type ScanPage = (opts: ScanOptions) => Promise<ScanResult>;

/**
 * Yields every item of the range in key order, asking `scanPage` for one page at a time. Each page
 * is one call with its own deadline (`timeoutMs`); `signal` ends the whole iteration (CancelledError
 * from the page under way, or before the next one). Leaving the loop early asks for nothing more.
 * A bad `limit` or `pageSize` throws here, before any iteration.
 */
export function scanAll(scanPage: ScanPage, opts: ScanAllOptions = {}): AsyncGenerator<ScanItem> {
  const { limit, pageSize = SCAN_PAGE_SIZE_DEFAULT, ...pageOpts } = opts;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new RangeError(`scan limit must be an integer >= 1, got ${limit}`);
  }
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1)) {
    throw new RangeError(`scan page size must be an integer >= 1, got ${pageSize}`);
  }
  return pages(scanPage, pageOpts, pageSize, limit ?? Number.POSITIVE_INFINITY);
}

async function* pages(
  scanPage: ScanPage,
  pageOpts: Omit<ScanOptions, 'limit' | 'continuation'>,
  pageSize: number,
  limit: number,
): AsyncGenerator<ScanItem> {
  let remaining = limit;
  let continuation: Uint8Array | undefined;
  // Bounded: every page that continues ends on a key past the previous page's last (checked below),
  // so the loop ends with the range.
  while (remaining > 0) {
    if (pageOpts.signal?.aborted === true) throw new CancelledError('scan was cancelled by the caller');
    const page = await scanPage({
      ...pageOpts,
      limit: Math.min(pageSize, remaining),
      ...(continuation === undefined ? {} : { continuation }),
    });
    for (const item of page.items.slice(0, remaining)) yield item;
    remaining -= Math.min(page.items.length, remaining);
    if (page.continuation === undefined) return;
    assertAdvanced(continuation, page);
    continuation = page.continuation;
  }
}

/** A page that continues must hold items and end past the previous one, or the scan would never end. */
function assertAdvanced(previous: Uint8Array | undefined, page: ScanResult): void {
  const next = page.continuation;
  const advanced =
    next !== undefined &&
    page.items.length > 0 &&
    (previous === undefined || Buffer.compare(Buffer.from(next), Buffer.from(previous)) > 0);
  if (!advanced) {
    throw new ServerError(
      `scan did not advance: a page of ${page.items.length} items continues from where the previous one did`,
    );
  }
}
