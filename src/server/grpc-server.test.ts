// The response encoders the client server hands its dispatcher must be the very types the service
// definitions serialize: a wrong one (say PutResponse for Get, which accepts a GetResponse object
// and drops its fields) would compile and answer with garbage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as kv from '../gen/ringkv/v1/kv.ts';
import { CLUSTER_RESPONSES, KV_RESPONSES } from './grpc-server.ts';

/** The name under which the generated module exports `value`. */
function exportName(value: unknown): string | undefined {
  return Object.entries(kv).find(([, v]) => v === value)?.[0];
}

describe('client server response encoders', () => {
  for (const [service, encoders] of [
    [kv.KVServiceService, KV_RESPONSES],
    [kv.ClusterServiceService, CLUSTER_RESPONSES],
  ] as const) {
    it(`match the serializers of ${Object.values(service)[0]?.path.split('/')[1]}`, () => {
      // The unary methods: Watch, server-streaming, is encoded by its own handler (watch.ts).
      const unary = Object.entries(service).filter(([, def]) => !def.responseStream);
      assert.deepEqual(Object.keys(encoders).sort(), unary.map(([name]) => name).sort());
      for (const [name, def] of unary) {
        const type = exportName((encoders as Record<string, unknown>)[name]);
        assert.ok(type !== undefined, `${name}: the encoder is not a generated type`);
        assert.match(
          def.responseSerialize.toString(),
          new RegExp(`\\b${type}\\.encode\\(`),
          `${name}: ${type}`,
        );
      }
    });
  }
});
