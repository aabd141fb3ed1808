// Failed AUTH attempts per client address in one worker process: each failure makes the next 535 answer
// wait longer (failure_delay times the failures so far, at most 10 s), and an address that reaches
// max_failures within the lockout window is locked out for the lockout time (421 and close). A success
// forgets the address. Workers count separately; a cluster-wide count needs the shared store of a later issue.

export type FailurePolicy = { readonly maxFailures: number; readonly lockout: number; readonly failureDelay: number };

const MAX_DELAY = 10_000;

export class AuthFailures {
  private readonly policy: FailurePolicy;
  private readonly byAddress = new Map<string, { failures: number; first: number; lockedUntil: number }>();

  constructor(policy: FailurePolicy) {
    this.policy = policy;
  }

  isLockedOut(address: string, now = Date.now()): boolean {
    const entry = this.byAddress.get(address);
    return entry !== undefined && entry.lockedUntil > now;
  }

  /** Records a failure; returns how long to wait before answering. */
  failed(address: string, now = Date.now()): number {
    let entry = this.byAddress.get(address);
    if (entry === undefined || now - entry.first > this.policy.lockout) {
      entry = { failures: 0, first: now, lockedUntil: 0 };
      this.byAddress.set(address, entry);
    }
    entry.failures += 1;
    if (entry.failures >= this.policy.maxFailures) entry.lockedUntil = now + this.policy.lockout;
    this.forgetOld(now);
    return Math.min(MAX_DELAY, this.policy.failureDelay * entry.failures);
  }

  succeeded(address: string): void {
    this.byAddress.delete(address);
  }

  /** Keeps the table from growing without end under a distributed attack. */
  private forgetOld(now: number): void {
    if (this.byAddress.size < 10_000) return;
    for (const [address, entry] of this.byAddress) {
      if (entry.lockedUntil <= now && now - entry.first > this.policy.lockout) this.byAddress.delete(address);
    }
  }
}
