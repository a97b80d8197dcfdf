// The public entry of the consensus core. Everything a driver, simulator or test needs is
// exported here; deeper modules are internal.

export { decodeConfChange, encodeConfChange } from './confchange-codec.ts';
export type { Config, PlantedBug, ReadOnlyOption } from './config.ts';
export {
  CompactedError,
  ConfChangeError,
  ConfigError,
  EntriesTemporarilyUnavailableError,
  ProposalDroppedError,
  type ProposalDropReason,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from './errors.ts';
export { emptyMessage, entrySizeBytes, isLocalMessage, isResponseMessage } from './messages.ts';
export { type ProgressStatus, RawNode, type Status } from './rawnode.ts';
export {
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  initialSnapshot,
  MemoryStorage,
  type Storage,
} from './storage.ts';
export type { ProgressState } from './tracker/progress.ts';
export * from './types.ts';
