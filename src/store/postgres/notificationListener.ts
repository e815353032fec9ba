/**
 * Wakes a poller on a notification channel (DISTRIBUTED: LISTEN/NOTIFY).
 * A notification only says "look": on every connect and reconnect the
 * listener LISTENs first and then wakes the poller once, so nothing sent
 * while it was away is missed; the poller also runs on its own timer, so a
 * lost notification only delays. A broken connection is reopened after a
 * second.
 */
import type pg from 'pg';
import type { Logger } from '../../logging/logger.js';
import { openClient } from './connection.js';

const RECONNECT_MS = 1000;

export class NotificationListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    /** A notification came (with its payload), or the listener (re)connected (no payload). */
    private readonly wake: (payload?: string) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = await openClient(this.url, {
        queryTimeoutMs: 5000,
        applicationName: `bistro listen ${this.channel}`,
      });
      if (this.stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      client.on('notification', (message) => this.wake(message.payload ?? ''));
      client.on('error', (error) => this.reconnect(client, error));
      client.on('end', () => this.reconnect(client, undefined));
      await client.query(`LISTEN ${this.channel}`);
      this.client = client;
      this.wake();
    } catch (error) {
      this.logger.debug({ err: error, channel: this.channel }, 'cannot listen for notifications yet');
      this.retry();
    }
  }

  private reconnect(client: pg.Client, error: Error | undefined): void {
    if (this.client !== client) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    if (error) this.logger.debug({ err: error, channel: this.channel }, 'notification connection lost');
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.connect(), RECONNECT_MS);
    this.timer.unref();
  }
}
