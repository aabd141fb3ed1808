// Admission of new connections in one worker process: at most so many open connections in all, so many from
// one client address, and so many new ones from one address per minute (a sliding window). The configured
// numbers are for the whole server; each worker enforces its share (rounded up), since the kernel spreads
// connections evenly over the workers. A count shared by all workers needs the cluster store of a later issue.

export type ConnectionPolicy = {
  readonly maxConnections: number;
  readonly maxPerClient: number;
  /** New connections per client address per minute; 0 for no limit. */
  readonly ratePerClient: number;
  readonly workers: number;
};

export type Admission = "admitted" | "server-full" | "client-full" | "client-rate";

const MINUTE = 60_000;

export class ConnectionLimits {
  private policy: ConnectionPolicy;
  private open = 0;
  private readonly perClient = new Map<string, number>();
  private readonly recent = new Map<string, number[]>();

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
    if (mine >= this.share(maxPerClient)) return "client-full";
    if (ratePerClient > 0) {
      const times = (this.recent.get(address) ?? []).filter((time) => now - time < MINUTE);
      if (times.length >= this.share(ratePerClient)) {
        this.recent.set(address, times);
        return "client-rate";
      }
      times.push(now);
      this.recent.set(address, times);
      if (this.recent.size > 10_000) this.forgetQuiet(now);
    }
    this.open += 1;
    this.perClient.set(address, mine + 1);
    return "admitted";
  }

  release(address: string): void {
    this.open -= 1;
    const mine = (this.perClient.get(address) ?? 1) - 1;
    if (mine > 0) this.perClient.set(address, mine);
    else this.perClient.delete(address);
  }

  private forgetQuiet(now: number): void {
    for (const [address, times] of this.recent) if (times.every((time) => now - time >= MINUTE)) this.recent.delete(address);
  }
}
