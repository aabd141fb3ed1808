// Lists of mail addresses and of domains for rules, e.g. senders to refuse or recipients to accept:
//
//   addressList(["alice@example.org",  // that address
//                "@example.net",       // any address at exactly example.net
//                ".example.com",       // any address at example.com or at any domain under it
//                "postmaster@"])       // that local part at any domain
//   domainList(["example.org",         // exactly example.org
//               ".example.com"])       // example.com and any domain under it
//
// A lookup costs a few hash-set probes, one per label of the domain, however long the list (the folded forms
// of the addresses and domains asked about lately are kept, so asking many lists costs little more). Comparisons
// ignore case in the domain and, by choice, in the local part as well: RFC 5321 §2.4 lets a local part be
// case-sensitive but discourages relying on it, hardly any mail system does, Postfix's access tables fold it
// too, and a list that missed Alice@example.org for alice@example.org would be a hole. A quoted local part is
// compared by its value ("alice"@example.org is alice@example.org), a trailing dot on a domain is ignored, and
// a non-ASCII domain is compared in its ASCII form (bücher.example is xn--bcher-kva.example), so none of them
// slips past a list. An address without a domain (RCPT TO:<Postmaster>) matches only local-part entries.

import { asciiDomain } from "../../smtp/domain-forms.ts";

export type AddressList = {
  /** Whether `local@domain` (or a bare local part) matches an entry. */
  has(address: string): boolean;
};

export type DomainList = {
  /** Whether the domain matches an entry. */
  has(domain: string): boolean;
};

/** Builds the list; throws a TypeError naming the first entry that is empty or not one of the four forms. */
export function addressList(entries: readonly string[]): AddressList {
  const addresses = new Set<string>();
  const locals = new Set<string>();
  const domains = new Set<string>();
  const parents = new Set<string>();
  for (const entry of entries) {
    const problem = (text: string): never => invalid("address", entry, text);
    if (entry.startsWith(".")) parents.add(domainEntry(entry.slice(1), false, problem));
    else if (entry.startsWith("@")) domains.add(domainEntry(entry.slice(1), true, problem));
    else {
      const at = entry.lastIndexOf("@");
      if (at === -1) problem("expected user@domain, @domain, .domain or user@");
      const local = localEntry(entry.slice(0, at), problem);
      if (at === entry.length - 1) locals.add(local);
      else addresses.add(`${local}@${domainEntry(entry.slice(at + 1), true, problem)}`);
    }
  }
  return Object.freeze({
    has(address: string): boolean {
      const folded = foldedAddress(address);
      if (locals.has(folded.local)) return true;
      if (folded.domain === null) return false;
      return addresses.has(folded.whole) || domains.has(folded.domain[0]!) || under(parents, folded.domain);
    },
  });
}

/** Builds the list; throws a TypeError naming the first entry that is not `domain` or `.domain`. */
export function domainList(entries: readonly string[]): DomainList {
  const domains = new Set<string>();
  const parents = new Set<string>();
  for (const entry of entries) {
    const problem = (text: string): never => invalid("domain", entry, text);
    if (entry.startsWith(".")) parents.add(domainEntry(entry.slice(1), false, problem));
    else domains.add(domainEntry(entry, true, problem));
  }
  return Object.freeze({
    has(domain: string): boolean {
      const folded = foldedDomain(domain);
      return domains.has(folded[0]!) || under(parents, folded);
    },
  });
}

/** Whether the domain (its folded form and parents, from foldedDomain) is one of `parents` or under one. */
function under(parents: ReadonlySet<string>, domain: FoldedDomain): boolean {
  if (parents.size === 0) return false;
  for (const suffix of domain) if (parents.has(suffix)) return true;
  return false;
}

/** A domain folded (first) and each of its parents in turn: a.b.example, b.example, example. */
type FoldedDomain = readonly string[];
/** An address folded: the local part and, when it has a domain, `local@domain` and the domain. */
type FoldedAddress =
  | { readonly local: string; readonly domain: null }
  | { readonly local: string; readonly whole: string; readonly domain: FoldedDomain };

/**
 * The domains and addresses looked up lately, folded: a rule set asks many lists about the same sender,
 * recipient and HELO name, and folding (and cutting a domain into its parents) is most of a lookup's cost.
 */
const recentDomains = new Map<string, FoldedDomain>();
const recentAddresses = new Map<string, FoldedAddress>();
const RECENT_LIMIT = 256;

function remembered<T>(recent: Map<string, T>, key: string, value: T): T {
  if (recent.size >= RECENT_LIMIT) recent.delete(recent.keys().next().value!);
  recent.set(key, value);
  return value;
}

function foldedDomain(domain: string): FoldedDomain {
  const known = recentDomains.get(domain);
  if (known !== undefined) return known;
  const suffixes = [asciiDomain(domain)];
  for (let dot = suffixes[0]!.indexOf("."); dot !== -1; dot = suffixes[0]!.indexOf(".", dot + 1)) suffixes.push(suffixes[0]!.slice(dot + 1));
  return remembered(recentDomains, domain, Object.freeze(suffixes));
}

function foldedAddress(address: string): FoldedAddress {
  const known = recentAddresses.get(address);
  if (known !== undefined) return known;
  const at = address.lastIndexOf("@");
  const local = foldLocal(at === -1 ? address : address.slice(0, at));
  if (at === -1) return remembered(recentAddresses, address, Object.freeze({ local, domain: null }));
  const domain = foldedDomain(address.slice(at + 1));
  return remembered(recentAddresses, address, Object.freeze({ local, whole: `${local}@${domain[0]}`, domain }));
}

function foldLocal(local: string): string {
  const quoted = local.length >= 2 && local.startsWith('"') && local.endsWith('"');
  return (quoted ? local.slice(1, -1).replace(/\\(.)/gs, "$1") : local).toLowerCase();
}

const NON_ASCII = /[^\x00-\x7f]/;

const LABELS = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const ADDRESS_LITERAL = /^\[[^\s[\]@]+\]$/;

/** The folded domain of an entry; an address literal (`[192.0.2.1]`) only where the domain must match exactly. */
function domainEntry(domain: string, exact: boolean, problem: (text: string) => never): string {
  if (domain.startsWith("*.")) problem("wildcards are not supported: write .domain for a domain and those under it");
  const folded = asciiDomain(domain);
  if (folded === "") problem(NON_ASCII.test(domain) ? "not a valid internationalised domain" : "empty domain");
  if (exact && ADDRESS_LITERAL.test(folded)) return folded;
  if (!LABELS.test(folded)) problem("a domain is labels of letters, digits, - and _ separated by single dots");
  return folded;
}

function localEntry(local: string, problem: (text: string) => never): string {
  if (local === "") problem("empty local part");
  if (local === "*") problem("wildcards are not supported: write @domain for any address at a domain");
  const quoted = local.length >= 2 && local.startsWith('"') && local.endsWith('"');
  if (!quoted && /[\s"(),:;<>@[\\\]]/.test(local)) problem("a local part with spaces or specials must be quoted");
  return foldLocal(local);
}

function invalid(kind: "address" | "domain", entry: string, problem: string): never {
  throw new TypeError(`invalid ${kind} entry ${JSON.stringify(entry)}: ${problem}`);
}
