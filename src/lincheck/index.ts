// Public entry of the linearizability checker: import from here, not from the files behind it.
export { type CheckOptions, type CheckResult, checkOperations, type PartitionResult } from './check.ts';
export { HistoryFormatError } from './formats/errors.ts';
export { parseEtcdLog } from './formats/etcd-log.ts';
export type { OperationLines, ParsedHistory } from './formats/history-builder.ts';
export { parseJepsenKv } from './formats/jepsen-kv.ts';
export {
  type KvState,
  kvModel,
  partitionByKey,
  type RegisterState,
  registerModel,
  stringKvModel,
  type TxnState,
  txnModel,
} from './models.ts';
export type * from './types.ts';
export {
  type FormatViolationOptions,
  formatViolation,
  type ReportedOperation,
  type ViolationReport,
} from './violation.ts';
