// Sets of IP networks for rules: `networks(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"])` answers `has(address)`
// for the client address of every connection. The entries are checked once, when the set is built. A lookup
// costs one hash-set probe per distinct prefix length in the set (an address is a /32 or /128), however many
// entries share it: a rule set asks several lists about each client, so this is on every connection's path.
//
// IPv4 addresses live inside IPv6 as ::ffff:a.b.c.d: a client that a dual-stack listener reports as
// ::ffff:10.1.2.3 is in 10.0.0.0/8, and ::ffff:0:0/96 (or ::/0) holds every IPv4 address. The deprecated
// IPv4-compatible form (::10.1.2.3) is an IPv6 address. An entry whose host bits are set (10.0.0.1/8) is refused
// rather than silently widened, as Postfix does: it is usually a typo for a smaller network.

import { isIP } from "node:net";

export type Networks = {
  /** Whether the IP address is in one of the networks. Throws a TypeError for anything but an IP address. */
  has(address: string): boolean;
};

/** An address as lookups use it: its 128-bit IPv6 form, and for an IPv4 (or IPv4-mapped) one its 32 bits. */
type Address = { readonly v6: bigint; readonly v4: number | null };

/** The networks of one family, by prefix length: each network is its address shifted right past the prefix. */
class PrefixSets<N extends number | bigint> {
  readonly #byLength = new Map<number, Set<N>>();
  #lengths: number[] = [];

  add(length: number, network: N): void {
    let set = this.#byLength.get(length);
    if (set === undefined) {
      set = new Set();
      this.#byLength.set(length, set);
      this.#lengths = [...this.#byLength.keys()].sort((a, b) => b - a);
    }
    set.add(network);
  }

  /** Whether `network(length)`, the address cut to that prefix, is in the set of that length, for some length. */
  matches(network: (length: number) => N): boolean {
    for (const length of this.#lengths) if (this.#byLength.get(length)!.has(network(length))) return true;
    return false;
  }
}

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96

/** Builds the set; throws a TypeError naming the first entry that is not an address or a CIDR network. */
export function networks(entries: readonly string[]): Networks {
  const v4 = new PrefixSets<number>();
  const v6 = new PrefixSets<bigint>();
  for (const entry of entries) {
    const { address, length } = parseEntry(entry);
    if (address.v4 !== null && length >= 96) v4.add(length - 96, v4Network(address.v4, length - 96));
    else {
      v6.add(length, v6Network(address.v6, length));
      // An IPv6 network around all of ::ffff:0:0/96 holds every IPv4 address.
      if (length <= 96 && v6Network(MAPPED_PREFIX, length) === v6Network(address.v6, length)) v4.add(0, 0);
    }
  }
  return Object.freeze({
    has(text: string): boolean {
      const address = lookedUp(text);
      if (address.v4 !== null) return v4.matches((length) => v4Network(address.v4!, length));
      return v6.matches((length) => v6Network(address.v6, length));
    },
  });
}

function v4Network(address: number, length: number): number {
  return length === 0 ? 0 : address >>> (32 - length);
}

function v6Network(address: bigint, length: number): bigint {
  return address >> BigInt(128 - length);
}

/** An entry as an address and a prefix length in IPv6 terms (an IPv4 /n is ::ffff:a.b.c.d/96+n). */
function parseEntry(entry: string): { address: Address; length: number } {
  const slash = entry.indexOf("/");
  const text = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(text);
  if (family === 0) invalid(entry, "not an IP address or CIDR network");
  if (text.includes("%")) invalid(entry, "a zone index (%name) has no place in a network list");
  const address = parse(text);
  const bits = family === 4 ? 32 : 128;
  if (slash === -1) return { address, length: 128 };
  const prefix = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) invalid(entry, `the prefix length must be 0 to ${bits}`);
  const length = Number(prefix) + 128 - bits;
  const hostMask = (1n << BigInt(128 - length)) - 1n;
  if ((address.v6 & hostMask) !== 0n) invalid(entry, `bits past the /${prefix} prefix are set`);
  return { address, length };
}

/**
 * The texts looked up lately, parsed (null: not an IP address): a rule set asks many lists about the same
 * client, and whether a HELO name is an address literal, and parsing is most of the cost of a lookup.
 */
const recent = new Map<string, Address | null>();
const RECENT_LIMIT = 256;

function parsedOrNull(text: string): Address | null {
  let address = recent.get(text);
  if (address !== undefined) return address;
  const percent = text.indexOf("%");
  // fe80::1%eth0 is fe80::1 on that link
  address = isIP(text) === 0 ? null : parse(percent === -1 ? text : text.slice(0, percent));
  if (recent.size >= RECENT_LIMIT) recent.delete(recent.keys().next().value!);
  recent.set(text, address);
  return address;
}

function lookedUp(text: string): Address {
  const address = parsedOrNull(text);
  if (address === null) throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
  return address;
}

/** Whether the text is an IPv4 or IPv6 address (not a network), e.g. to tell an address literal in HELO. */
export function isIp(text: string): boolean {
  return parsedOrNull(text) !== null;
}

/** A valid IPv4 or IPv6 address without a zone index, parsed. */
function parse(text: string): Address {
  if (!text.includes(":")) {
    const v4 = octets(text);
    return { v6: MAPPED_PREFIX | BigInt(v4), v4 };
  }
  const [head = "", tail] = text.split("::");
  const first = groups(head);
  const last = tail === undefined ? [] : groups(tail);
  const all = [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
  const v6 = all.reduce((total, group) => (total << 16n) | BigInt(group), 0n);
  return { v6, v4: v6 >> 32n === 0xffffn ? Number(v6 & 0xffffffffn) : null };
}

/** The 32 bits of a dotted IPv4 address. */
function octets(text: string): number {
  return text.split(".").reduce((total, octet) => total * 256 + Number(octet), 0);
}

/** The 16-bit groups of one side of "::"; a dotted IPv4 tail counts as two groups. */
function groups(text: string): number[] {
  if (text === "") return [];
  return text.split(":").flatMap((group) => {
    if (!group.includes(".")) return [Number.parseInt(group, 16)];
    const v4 = octets(group);
    return [Math.floor(v4 / 65536), v4 % 65536];
  });
}

function invalid(entry: string, problem: string): never {
  throw new TypeError(`invalid network ${JSON.stringify(entry)}: ${problem}`);
}
