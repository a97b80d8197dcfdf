// Where the client port's HTTP/2 work runs (`serve --client_api_thread`). Its own module so that
// the CLI can check the flag without loading the server.

/** `inline`: the node's own thread (the default); `worker`: a worker thread. */
export type ClientApiThread = 'worker' | 'inline';
export const CLIENT_API_THREADS: readonly ClientApiThread[] = ['worker', 'inline'];
export const DEFAULT_CLIENT_API_THREAD: ClientApiThread = 'inline';

export function isClientApiThread(s: string): s is ClientApiThread {
  return (CLIENT_API_THREADS as readonly string[]).includes(s);
}
