/**
 * Splits a byte stream into lines as Bistro stores them: each line keeps its
 * trailing newline; a line longer than the maximum is cut into pieces of at
 * most `maxBytes`; the unterminated tail is delivered at the end.
 */
export const MAX_LINE_BYTES = 65000;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  /** Calls `emit` for every complete line (and every full-size piece) in `chunk`. */
  push(chunk: Buffer, emit: (line: Buffer) => void): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(10, start);
      const end = newline < 0 ? chunk.length : newline + 1;
      let piece = chunk.subarray(start, end);
      start = end;
      // Cut over-long lines into maximum-size pieces.
      while (this.pendingBytes + piece.length > this.maxBytes) {
        const room = this.maxBytes - this.pendingBytes;
        this.append(piece.subarray(0, room));
        emit(this.take());
        piece = piece.subarray(room);
      }
      this.append(piece);
      if (newline >= 0) emit(this.take());
    }
  }

  /** Delivers the unterminated tail, if any. */
  end(emit: (line: Buffer) => void): void {
    if (this.pendingBytes > 0) emit(this.take());
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pending.push(piece);
    this.pendingBytes += piece.length;
  }

  private take(): Buffer {
    const line =
      this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return Buffer.from(line);
  }
}
