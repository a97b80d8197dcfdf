// The one expected failure of the history parsers: a line that is an event but cannot be read.

/** A history file line that looks like an event but is malformed, or breaks the call/return pairing. */
export class HistoryFormatError extends Error {
  override readonly name = 'HistoryFormatError';
  readonly code = 'HISTORY_FORMAT';
  /** The file name given to the parser (or '<input>'). */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** What was wrong, without the file and line. */
  readonly reason: string;

  constructor(file: string, line: number, reason: string) {
    super(`${file}, line ${line}: ${reason}`);
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}
