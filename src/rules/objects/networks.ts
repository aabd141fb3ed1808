// Sets of IP networks for rules: `networks(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"])` answers `has(address)`
// for the client address of every connection. The entries are checked once, when the set is built; a lookup is
// one call into node:net's BlockList, which in the Node that package.json pins (24.21, with nodejs/node#64974)
// finds addresses in a hash set and subnets in a radix trie; older releases tried each rule in turn.
//
// IPv4 addresses live inside IPv6 as ::ffff:a.b.c.d, as BlockList sees them: a client that a dual-stack
// listener reports as ::ffff:10.1.2.3 is in 10.0.0.0/8, and ::ffff:0:0/96 (or ::/0) holds every IPv4 address.
// An entry whose host bits are set (10.0.0.1/8) is refused rather than silently widened, as Postfix does:
// it is usually a typo for a smaller network.

import { BlockList, isIP, SocketAddress } from "node:net";

export type Networks = {
  /** Whether the IP address is in one of the networks. Throws a TypeError for anything but an IP address. */
  has(address: string): boolean;
};

/** Builds the set; throws a TypeError naming the first entry that is not an address or a CIDR network. */
export function networks(entries: readonly string[]): Networks {
  const blocks = new BlockList();
  for (const entry of entries) add(blocks, entry);
  return Object.freeze({
    has(address: string): boolean {
      return blocks.check(socketAddress(address));
    },
  });
}

/**
 * The addresses looked up lately, parsed: BlockList.check(string) parses the address on every call, and a rule
 * set asks many lists about the same client (a few microseconds each, saved).
 */
const parsed = new Map<string, SocketAddress>();
const PARSED_LIMIT = 256;

function socketAddress(address: string): SocketAddress {
  let known = parsed.get(address);
  if (known !== undefined) return known;
  const family = isIP(address);
  if (family === 0) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
  known = new SocketAddress({ address, family: family === 4 ? "ipv4" : "ipv6" });
  if (parsed.size >= PARSED_LIMIT) parsed.delete(parsed.keys().next().value!);
  parsed.set(address, known);
  return known;
}

/** Whether the text is an IPv4 or IPv6 address (not a network), e.g. to tell an address literal in HELO. */
export function isIp(address: string): boolean {
  return isIP(address) !== 0;
}

function add(blocks: BlockList, entry: string): void {
  const slash = entry.indexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) invalid(entry, "not an IP address or CIDR network");
  if (address.includes("%")) invalid(entry, "a zone index (%name) has no place in a network list");
  const type = family === 4 ? "ipv4" : "ipv6";
  if (slash === -1) {
    blocks.addAddress(address, type);
    return;
  }
  const bits = family === 4 ? 32 : 128;
  const prefix = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) invalid(entry, `the prefix length must be 0 to ${bits}`);
  const hostMask = (1n << BigInt(bits - Number(prefix))) - 1n;
  if ((addressValue(address) & hostMask) !== 0n) invalid(entry, `bits past the /${prefix} prefix are set`);
  blocks.addSubnet(address, Number(prefix), type);
}

/** The address as a 32- or 128-bit number; `address` is a valid IPv4 or IPv6 address without a zone. */
function addressValue(address: string): bigint {
  if (!address.includes(":")) return words(address.split(".").map(Number), 8n);
  const [head = "", tail] = address.split("::");
  const first = groups(head);
  const last = tail === undefined ? [] : groups(tail);
  return words([...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last], 16n);
}

/** The 16-bit groups of one side of "::"; a dotted IPv4 tail counts as two groups. */
function groups(text: string): number[] {
  if (text === "") return [];
  return text.split(":").flatMap((group) => {
    if (!group.includes(".")) return [Number.parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
    return [(a << 8) | b, (c << 8) | d];
  });
}

function words(values: readonly number[], width: bigint): bigint {
  return values.reduce((total, value) => (total << width) | BigInt(value), 0n);
}

function invalid(entry: string, problem: string): never {
  throw new TypeError(`invalid network ${JSON.stringify(entry)}: ${problem}`);
}
