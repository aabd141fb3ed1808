// Admission of new connections in one worker process: at most so many open connections in all, so many from
// one client address, and so many new ones from one address per minute (a sliding window); and of new
// messages: so many MAIL commands from one address per minute. max_connections is for the whole server: each
// worker enforces its share (rounded up), as the kernel spreads many connections evenly over the workers.
// The per-client numbers are counted in each worker: the kernel's spread of one client's few connections is
// uneven, and a share would refuse a client below its limit; so a client may get up to `workers` times as
// many in all. Counts shared by all workers need the cluster store of a later issue.

export type ConnectionPolicy = {
  readonly maxConnections: number;
  readonly maxPerClient: number;
  /** New connections per client address per minute; 0 for no limit. */
  readonly ratePerClient: number;
  /** Messages (MAIL commands) per client address per minute; 0 for no limit. */
  readonly messageRatePerClient: number;
  readonly workers: number;
};

export type Admission = "admitted" | "server-full" | "client-full" | "client-rate";

const MINUTE = 60_000;

export class ConnectionLimits {
  private policy: ConnectionPolicy;
  private open = 0;
  private readonly perClient = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();
  private readonly recentMessages = new Map<string, number[]>();

  constructor(policy: ConnectionPolicy) {
    this.policy = policy;
  }

  /** New numbers (a reload); connections already admitted stay counted. */
  configure(policy: ConnectionPolicy): void {
    this.policy = policy;
  }

  private share(limit: number): number {
    return Math.ceil(limit / this.policy.workers);
  }

  admit(address: string, now = Date.now()): Admission {
    const { maxConnections, maxPerClient, ratePerClient } = this.policy;
    if (this.open >= this.share(maxConnections)) return "server-full";
    const mine = this.perClient.get(address) ?? 0;
    if (mine >= maxPerClient) return "client-full";
    if (!this.withinRate(this.recent, address, ratePerClient, now)) return "client-rate";
    this.open += 1;
    this.perClient.set(address, mine + 1);
    return "admitted";
  }

  /** A new message (MAIL) from `address`: false when it is over its rate (the client should retry later). */
  admitMessage(address: string, now = Date.now()): boolean {
    return this.withinRate(this.recentMessages, address, this.policy.messageRatePerClient, now);
  }

  /** Counts one more event of `address` in the last minute unless that would pass `limit` (0: no limit). */
  private withinRate(window: Map<string, number[]>, address: string, limit: number, now: number): boolean {
    if (limit === 0) return true;
    const times = (window.get(address) ?? []).filter((time) => now - time < MINUTE);
    window.set(address, times);
    if (times.length >= limit) return false;
    times.push(now);
    if (window.size > 10_000) forgetQuiet(window, now);
    return true;
  }

  release(address: string): void {
    this.open -= 1;
    const mine = (this.perClient.get(address) ?? 1) - 1;
    if (mine > 0) this.perClient.set(address, mine);
    else this.perClient.delete(address);
  }

}

function forgetQuiet(window: Map<string, number[]>, now: number): void {
  for (const [address, times] of window) if (times.every((time) => now - time >= MINUTE)) window.delete(address);
}
