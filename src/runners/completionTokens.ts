/**
 * Completion tokens: a leader takes the status a completion notification
 * carries only if it names a token for that invocation that only the
 * worker which claimed the task could know. Anyone who can connect to the
 * database can send a notification, and a worker's role sees only its own
 * rows; the token (a MAC of the invocation id under a key this leader drew
 * at start, sent in the task's spec) keeps a worker from finishing another
 * worker's tasks in the leader's memory. A notice without a valid token
 * (forged, or a task another leader dispatched) only makes the leader read
 * the database.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export class CompletionTokens {
  private readonly key = randomBytes(32);

  /** The token of one invocation. */
  issue(invocationId: string): string {
    return createHmac('sha256', this.key).update(invocationId).digest('base64url').slice(0, 22);
  }

  /** Whether `token` is the one this leader issued for the invocation. */
  verify(invocationId: string, token: string | null): boolean {
    if (token === null) return false;
    const expected = Buffer.from(this.issue(invocationId));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
