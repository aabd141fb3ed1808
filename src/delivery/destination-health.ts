// Destinations that are down. When no host of a destination could be reached (every connection refused or
// timed out, DNS failing), more mail for it waits without another try until retry_min has passed: the
// mail is deferred with the error that was seen, and one message at a time probes the destination again
// after that. A success marks it up. Memory only: a restart simply tries again.

import type { Outcome } from "./outcome.ts";

type Down = { until: number; outcome: Outcome; probing: boolean };

export class DestinationHealth {
  readonly #down = new Map<string, Down>();

  /** Marks `key` down until `until` with the outcome its mail gets meanwhile. */
  markDown(key: string, until: number, outcome: Outcome): void {
    this.#down.set(key, { until, outcome, probing: false });
  }

  markUp(key: string): void {
    this.#down.delete(key);
  }

  /**
   * The outcome for mail to a destination that is down, or undefined: try it. After `until`, the first caller
   * gets undefined (it probes), later callers the old outcome until the probe marks the destination up or down.
   */
  check(key: string, now: number): Outcome | undefined {
    const down = this.#down.get(key);
    if (down === undefined) return undefined;
    if (now >= down.until && !down.probing) {
      down.probing = true;
      return undefined;
    }
    return { ...down.outcome, diagnostic: `delivery to this destination is paused after an error: ${down.outcome.diagnostic}` };
  }
}
