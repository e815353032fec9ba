/**
 * Keeps only the last line of a byte stream (a task's status pipe: the last
 * line written is its status). Each chunk costs two searches for a newline,
 * never a split into lines, so a task that floods the pipe costs the reader
 * almost nothing. A line longer than `maxBytes` keeps its first `maxBytes`.
 */
export class LastLineReader {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lastLine: string | undefined;

  constructor(private readonly maxBytes: number) {}

  /** The last complete line (without its newline), or the tail once ended; undefined if none. */
  get last(): string | undefined {
    return this.lastLine;
  }

  push(chunk: Buffer): void {
    const end = chunk.lastIndexOf(10);
    if (end < 0) {
      this.keepPartial(chunk);
      return;
    }
    const previous = end === 0 ? -1 : chunk.lastIndexOf(10, end - 1);
    if (previous >= 0)
      this.lastLine = chunk.toString('utf8', previous + 1, Math.min(end, previous + 1 + this.maxBytes));
    else {
      this.keepPartial(chunk.subarray(0, end));
      this.lastLine = Buffer.concat(this.partial, this.partialBytes).toString('utf8');
    }
    this.partial = [];
    this.partialBytes = 0;
    this.keepPartial(chunk.subarray(end + 1));
  }

  /** The unterminated tail, if any, becomes the last line. */
  end(): void {
    if (this.partialBytes > 0)
      this.lastLine = Buffer.concat(this.partial, this.partialBytes).toString('utf8');
    this.partial = [];
    this.partialBytes = 0;
  }

  private keepPartial(piece: Buffer): void {
    const room = this.maxBytes - this.partialBytes;
    if (room <= 0 || piece.length === 0) return;
    const kept = piece.length > room ? piece.subarray(0, room) : piece;
    // A copy: the chunk's buffer may be reused by the stream.
    this.partial.push(Buffer.from(kept));
    this.partialBytes += kept.length;
  }
}
