/**
 * The error registry: each part of the scheduler reports
 * under a fixed key; a report replaces the key's messages, an empty report
 * clears it. The `errors` API handler and the UI banner read it.
 */
export class ErrorRegistry {
  private readonly entries = new Map<string, readonly string[]>();

  set(key: string, messages: readonly string[]): void {
    if (messages.length === 0) this.entries.delete(key);
    else this.entries.set(key, messages);
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  /** `{key: "message.\nmessage"}` as the `errors` handler returns it. */
  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.entries].map(([key, messages]) => [key, messages.join('.\n')]));
  }

  get size(): number {
    return this.entries.size;
  }
}
