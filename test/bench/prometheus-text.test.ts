// metricTotal: the sum of a metric's samples in a Prometheus text exposition, as the bench scripts
// read a node's /metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricTotal } from '../../bench/prometheus-text.ts';

const TEXT = [
  '# HELP ringkv_grpc_server_handled_total Client calls answered.',
  '# TYPE ringkv_grpc_server_handled_total counter',
  'ringkv_grpc_server_handled_total{grpc_service="ringkv.v1.KVService",grpc_method="Put",grpc_code="OK"} 120',
  'ringkv_grpc_server_handled_total{grpc_service="ringkv.v1.KVService",grpc_method="Put",grpc_code="UNAVAILABLE"} 3',
  'ringkv_grpc_server_handled_total{grpc_service="ringkv.v1.KVService",grpc_method="Get",grpc_code="OK"} 40',
  'ringkv_grpc_server_handled_total_extra 1000',
  'ringkv_wal_fsync_duration_seconds_count 17',
  'ringkv_wal_fsync_duration_seconds_sum 0.25',
  'nodejs_heap_size_used_bytes 1048576 1700000000000',
].join('\n');

test('every sample of a labelled metric, and only those whose labels hold the filter', () => {
  assert.equal(metricTotal(TEXT, 'ringkv_grpc_server_handled_total'), 163);
  assert.equal(metricTotal(TEXT, 'ringkv_grpc_server_handled_total', 'grpc_method="Put"'), 123);
  assert.equal(metricTotal(TEXT, 'ringkv_grpc_server_handled_total', 'grpc_method="Delete"'), Number.NaN);
});

test('an unlabelled metric: its value, not a longer name sharing its start, nor a timestamp', () => {
  assert.equal(metricTotal(TEXT, 'ringkv_wal_fsync_duration_seconds_count'), 17);
  assert.equal(metricTotal(TEXT, 'nodejs_heap_size_used_bytes'), 1048576);
  assert.equal(metricTotal(TEXT, 'ringkv_wal_fsync_duration_seconds'), Number.NaN, 'no such metric');
});
