// Destinations that are down. When no host of a destination could be reached (every connection refused or
// timed out, DNS failing), more mail for it waits without another try until retry_min has passed: the
// mail is deferred with the error that was seen, and one message at a time probes the destination again
// after that. A success marks it up. Mail an administrator asked to be tried now (petrel queue flush, release,
// requeue) after the destination went down is tried anyway, as Postfix's flush wakes the sites it found dead;
// a failure then pauses the destination anew. Memory only: a restart simply tries again.

import type { Outcome } from "./outcome.ts";

type Down = { since: number; until: number; outcome: Outcome; probing: boolean };

export class DestinationHealth {
  readonly #down = new Map<string, Down>();

  /** Marks `key` down from `since` until `until`, with the outcome its mail gets meanwhile. */
  markDown(key: string, since: number, until: number, outcome: Outcome): void {
    this.#down.set(key, { since, until, outcome, probing: false });
  }

  markUp(key: string): void {
    this.#down.delete(key);
  }

  /**
   * The outcome for mail to a destination that is down, or undefined: try it. After `until`, the first caller
   * gets undefined (it probes), later callers the old outcome until the probe marks the destination up or down.
   * `retryAskedAt`: when an administrator asked for this message to be tried now; after `since`, it is tried.
   */
  check(key: string, now: number, retryAskedAt?: number): Outcome | undefined {
    const down = this.#down.get(key);
    if (down === undefined) return undefined;
    if (retryAskedAt !== undefined && retryAskedAt >= down.since) return undefined;
    if (now >= down.until && !down.probing) {
      down.probing = true;
      return undefined;
    }
    return { ...down.outcome, diagnostic: `delivery to this destination is paused after an error: ${down.outcome.diagnostic}` };
  }
}
