// The resolver delivery asks: MX of a domain and the A/AAAA addresses of a host, read from the replies of
// dns-client.ts and kept in a cache keyed by (name, type). The cache honours each answer's TTL: the smallest
// TTL of the RRset and of the CNAMEs that led to it, capped at one day. Negative answers (NXDOMAIN, NODATA)
// are kept for the SOA minimum of the authority section (RFC 2308 §5: the smaller of the SOA's TTL and its
// MINIMUM field), capped at one hour, and not at all without an SOA. Temporary failures (SERVFAIL, REFUSED,
// timeouts) are kept for FAILURE_SECONDS, so a burst of deliveries to a broken domain waits out the
// timeouts once rather than once per message, while the next retry asks again (RFC 9520 asks resolvers to
// keep failures at least 1 s). Concurrent identical questions share one query. This file decides what a
// reply means (mx / null MX / no MX, addresses or "no address"); what that means for a message is
// delivery/mx-destination.ts's job.

import { domainToASCII } from "node:url";
import type { Answer, RecordType } from "dns-packet";
import { DnsClient, DnsError, type DnsReply } from "./dns-client.ts";

export { DnsError } from "./dns-client.ts";

export type AddressFamily = "ipv4" | "ipv6";
export type HostAddress = { address: string; family: 4 | 6 };
export type MxHost = { exchange: string; preference: number };
export type MxAnswer = { kind: "mx"; hosts: MxHost[] } | { kind: "null-mx" } | { kind: "no-mx" };

export type DnsResolverOptions = {
  /** "address", "address:port", "[ipv6]:port"; absent or empty: the system's servers. */
  readonly servers?: readonly string[];
  /** Milliseconds to wait for one server's reply (default 5000). */
  readonly timeout?: number;
  /** Rounds over the servers (default 2). */
  readonly attempts?: number;
  /** Answers kept at most (default 10000); 0 turns the cache off (identical concurrent queries still share). */
  readonly cacheEntries?: number;
  /** The clock of the cache, in milliseconds (default Date.now). */
  readonly now?: () => number;
};

const MAX_TTL_SECONDS = 86_400;
const MAX_NEGATIVE_TTL_SECONDS = 3_600;
const FAILURE_SECONDS = 5;
const MAX_CNAME_HOPS = 16;

/** The records of the asked type at the end of the CNAME chain; `exists` false for NXDOMAIN. */
type RRset = { readonly exists: boolean; readonly records: readonly Answer[] };
type CacheEntry = { readonly expires: number; readonly outcome: RRset | DnsError };

/** Answers by (name, type), each until its expiry; the least recently used goes first when full. */
class AnswerCache {
  readonly #entries = new Map<string, CacheEntry>();
  readonly #limit: number;
  readonly #now: () => number;

  constructor(limit: number, now: () => number) {
    this.#limit = limit;
    this.#now = now;
  }

  get(key: string): RRset | DnsError | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.outcome;
  }

  set(key: string, outcome: RRset | DnsError, seconds: number): void {
    if (this.#limit === 0 || seconds <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { expires: this.#now() + seconds * 1000, outcome });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#limit) break;
      this.#entries.delete(oldest);
    }
  }
}

export class DnsResolver {
  readonly #client: DnsClient;
  readonly #cache: AnswerCache;
  readonly #pending = new Map<string, Promise<RRset>>();

  constructor(options: DnsResolverOptions = {}) {
    this.#client = new DnsClient({ servers: options.servers, timeout: options.timeout ?? 5000, attempts: options.attempts ?? 2 });
    this.#cache = new AnswerCache(options.cacheEntries ?? 10_000, options.now ?? Date.now);
  }

  /** The MX records of `domain` as published (unordered); NXDOMAIN is a permanent DnsError. */
  async mx(domain: string): Promise<MxAnswer> {
    const name = dnsName(domain, "MX");
    const rrset = await this.#lookup(name, "MX");
    if (!rrset.exists) {
      throw new DnsError(`${name}: no such domain (NXDOMAIN)`, { code: "NXDOMAIN", temporary: false, domain: name, type: "MX" });
    }
    const hosts: MxHost[] = [];
    for (const record of rrset.records) {
      if (record.type === "MX") hosts.push({ exchange: record.data.exchange.toLowerCase().replace(/\.$/, ""), preference: record.data.preference ?? 0 });
    }
    if (hosts.length === 0) return { kind: "no-mx" };
    // RFC 7505: a single MX whose exchange is the root says "no mail here". A root exchange next to others
    // (which the RFC forbids publishing) can take no mail either: it is left out and the others kept.
    const deliverable = hosts.filter((host) => host.exchange !== "");
    return deliverable.length === 0 ? { kind: "null-mx" } : { kind: "mx", hosts: deliverable };
  }

  /**
   * The addresses of `name`, A and AAAA asked at once, in the order of `families`. None at all is a DnsError
   * "no address": temporary when a lookup failed temporarily, else permanent (code NXDOMAIN or NODATA).
   */
  async addresses(name: string, families: readonly AddressFamily[] = ["ipv4", "ipv6"]): Promise<HostAddress[]> {
    const asked = [...new Set(families)];
    if (asked.length === 0) throw new TypeError("addresses() needs at least one address family");
    const types = asked.map((family) => (family === "ipv4" ? "A" : "AAAA"));
    const query = dnsName(name, types.join("/"));
    const outcomes = await Promise.allSettled(types.map((type) => this.#lookup(query, type)));
    const found: HostAddress[] = [];
    const failures: DnsError[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === "rejected") {
        if (!(outcome.reason instanceof DnsError)) throw outcome.reason;
        failures.push(outcome.reason);
        continue;
      }
      for (const record of outcome.value.records) {
        if (record.type === "A") found.push({ address: record.data, family: 4 });
        else if (record.type === "AAAA") found.push({ address: record.data, family: 6 });
      }
    }
    if (found.length > 0) return found;
    const type = types.join("/");
    const temporary = failures.find((failure) => failure.temporary);
    if (temporary !== undefined) {
      throw new DnsError(`${query}: no address (${temporary.message})`, { code: temporary.code, temporary: true, domain: query, type });
    }
    const nowhere = outcomes.every((outcome) => outcome.status === "fulfilled" && !outcome.value.exists);
    const code = nowhere ? "NXDOMAIN" : "NODATA";
    throw new DnsError(`${query}: no address (${nowhere ? "no such domain" : `no ${type} record`})`, { code, temporary: false, domain: query, type });
  }

  /** The cached answer, the query already on its way, or a new query. */
  #lookup(name: string, type: RecordType): Promise<RRset> {
    const key = `${name} ${type}`;
    const cached = this.#cache.get(key);
    if (cached instanceof DnsError) return Promise.reject(cached);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#ask(name, type, key).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #ask(name: string, type: RecordType, key: string): Promise<RRset> {
    let reply: DnsReply;
    try {
      reply = await this.#client.query(name, type);
    } catch (error) {
      if (error instanceof DnsError && error.temporary) this.#cache.set(key, error, FAILURE_SECONDS);
      throw error;
    }
    const { rrset, seconds } = readReply(reply, name, type);
    this.#cache.set(key, rrset, seconds);
    return rrset;
  }
}

/** The name as asked on the wire: lower case, no final dot, IDNA A-labels; a name DNS cannot carry is BADNAME. */
function dnsName(text: string, type: string): string {
  const plain = text.replace(/\.$/, "").toLowerCase();
  const name = /^[\x00-\x7f]*$/.test(plain) ? plain : domainToASCII(plain);
  const labels = name.split(".");
  if (name === "" || name.length > 253 || labels.some((label) => label.length === 0 || label.length > 63)) {
    throw new DnsError(`"${text}" is not a domain name DNS can look up`, { code: "BADNAME", temporary: false, domain: text, type });
  }
  return name;
}

/** Follows the CNAME chain from `name` within the answer section; returns the RRset and its cache lifetime. */
function readReply(reply: DnsReply, name: string, type: RecordType): { rrset: RRset; seconds: number } {
  let owner = name;
  let seconds = MAX_TTL_SECONDS;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const records = reply.answers.filter((record) => record.type === type && sameName(record.name, owner));
    if (records.length > 0) {
      for (const record of records) seconds = Math.min(seconds, ttlOf(record));
      return { rrset: { exists: true, records }, seconds };
    }
    const alias = reply.answers.find((record) => record.type === "CNAME" && sameName(record.name, owner));
    if (alias === undefined || alias.type !== "CNAME") break;
    seconds = Math.min(seconds, ttlOf(alias));
    owner = alias.data;
  }
  const rrset = { exists: reply.rcode !== "NXDOMAIN", records: [] };
  return { rrset, seconds: Math.min(seconds, negativeSeconds(reply)) };
}

/** RFC 2308 §5: min(SOA TTL, SOA MINIMUM) from the authority section, capped; 0 (do not keep) without an SOA. */
function negativeSeconds(reply: DnsReply): number {
  const soa = reply.authorities.find((record) => record.type === "SOA");
  if (soa === undefined || soa.type !== "SOA") return 0;
  return Math.min(ttlOf(soa), soa.data.minimum ?? 0, MAX_NEGATIVE_TTL_SECONDS);
}

function ttlOf(record: Answer): number {
  return record.type === "OPT" ? 0 : (record.ttl ?? 0);
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, "") === b.toLowerCase().replace(/\.$/, "");
}
