// The built-in policy for recipients at the local domains, from two plain files (no code needed):
//
//   smtp.aliases — like /etc/aliases: `name: target, target` per line, `#` comments, continuation lines start
//     with whitespace. `name` is a local part (at every local domain) or a whole address; a target is an address,
//     or a local part at the domain the mail was sent to, or `:include:/path`: the targets listed in that file
//     (commas, spaces or lines between them, `#` comments), read with the aliases (so a change to it takes a
//     SIGHUP, where sendmail and Postfix read it at each delivery). Aliases expand recursively, and each target keeps
//     the original address as its ORCPT. An alias among its own targets (`alice: alice, bob`) keeps a copy in its
//     mailbox; a name met again further up ends that branch. A file in which mail for a name would reach no mailbox
//     (`a: b`, `b: a`: sendmail and Postfix bounce such mail as a forwarding loop) or pass through more than 10
//     aliases is refused when it is read, naming the round.
//     Delivery to a command (`|program`) or a file (`/path`) is not something Petrel does: such a target is refused
//     when the file is read, with its line, rather than found unusable at each message.
//   smtp.mailboxes — a list file (objects/list-file.ts) of the addresses that exist: `user@domain`, `@domain`
//     (all of that domain), `user@` (that local part at every local domain). With it, a recipient at a local
//     domain that is neither an alias nor a mailbox is refused (550 5.1.1). Without it, all are accepted.
//
// Both are read when a configuration is applied (start, SIGHUP). Errors name the file and line.

import { readDataFile } from "../config/data-file.ts";
import { addressesFromFile } from "./objects/list-file.ts";
import type { AddressList } from "./objects/addresses.ts";

export type Aliases = ReadonlyMap<string, readonly string[]>;

export type LocalRecipients = {
  readonly aliases: Aliases;
  /** null: every address at a local domain exists. */
  readonly mailboxes: AddressList | null;
};

export const NO_LOCAL_POLICY: LocalRecipients = { aliases: new Map(), mailboxes: null };

export async function readLocalRecipients(
  aliasesPath: string | undefined,
  mailboxesPath: string | undefined,
  localDomains: ReadonlySet<string>,
): Promise<LocalRecipients> {
  return {
    aliases: aliasesPath === undefined ? new Map() : await readAliases(aliasesPath, localDomains),
    mailboxes: mailboxesPath === undefined ? null : await addressesFromFile(mailboxesPath),
  };
}

const NAME = /^[^\s@:]+(@[^\s@:]+)?$/;
const TARGET = /^[^\s@,]+(@[^\s@,]+)?$/;

/** Reads the file; `localDomains` are those its local-part names apply to (the loop check follows them). */
export async function readAliases(path: string, localDomains: ReadonlySet<string>): Promise<Aliases> {
  const text = await readDataFile(path);
  const aliases = new Map<string, string[]>();
  const lines = new Map<string, number>();
  let current: { name: string; line: number } | null = null;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/(^|\s)#.*$/, "");
    if (line.trim() === "") continue;
    let targets: string;
    if (/^\s/.test(line)) {
      if (current === null) throw new Error(`${path}:${index + 1}: a continuation line without an alias before it`);
      targets = line;
    } else {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (colon < 0 || !NAME.test(name)) throw new Error(`${path}:${index + 1}: expected "name: target, target"`);
      if (aliases.has(name)) throw new Error(`${path}:${index + 1}: ${name} is defined twice`);
      current = { name, line: index + 1 };
      aliases.set(name, []);
      lines.set(name, index + 1);
      targets = line.slice(colon + 1);
    }
    for (const target of targets.split(",").map((each) => each.trim()).filter((each) => each !== "")) {
      const where = `${path}:${index + 1}`;
      if (target.toLowerCase().startsWith(":include:")) aliases.get(current!.name)!.push(...(await included(target.slice(9).trim(), where)));
      else aliases.get(current!.name)!.push(checkedTarget(target, where));
    }
  }
  for (const [name, targets] of aliases) if (targets.length === 0) throw new Error(`${path}: ${name} has no target`);
  checkExpansions(aliases, localDomains, (name, problem) => `${path}:${lines.get(name)}: ${problem}`);
  return aliases;
}

/** At most this many aliases on one path of an expansion (sendmail's MaxAliasRecursion is 10 as well). */
const MAX_ALIAS_DEPTH = 10;

/**
 * Throws when mail for some name would reach no mailbox, every path of its expansion leading back to a name
 * already on it (a forwarding loop), or would pass through more than MAX_ALIAS_DEPTH aliases. Each name is
 * expanded as the server expands it. A local-part name has the same targets at every local domain, so it is
 * expanded at one of them and at each local domain that has whole-address names, the only ones where its
 * expansion can differ (hundreds of virtual domains would otherwise multiply the work).
 */
function checkExpansions(aliases: Aliases, localDomains: ReadonlySet<string>, problemAt: (name: string, problem: string) => string): void {
  const domains = new Set<string>();
  for (const domain of localDomains) {
    domains.add(domain);
    break;
  }
  for (const name of aliases.keys()) {
    const domain = name.slice(name.lastIndexOf("@") + 1);
    if (name.includes("@") && localDomains.has(domain)) domains.add(domain);
  }
  for (const name of aliases.keys()) {
    for (const address of name.includes("@") ? [name] : [...domains].map((domain) => `${name}@${domain}`)) {
      const { targets, loop, tooDeep } = expansion(aliases, address, localDomains);
      if (targets.length === 0) {
        throw new Error(problemAt(name, `mail for ${address} reaches no mailbox: it goes round ${loop!.join(" → ")} (a forwarding loop)`));
      }
      if (tooDeep) throw new Error(problemAt(name, `${address} expands through more than ${MAX_ALIAS_DEPTH} aliases`));
    }
  }
}

/** A target as written, if Petrel can deliver to it; `where` names the file and line for the error. */
function checkedTarget(target: string, where: string): string {
  const bare = target.replace(/^"(.*)"$/, "$1");
  if (bare.startsWith("|") || bare.startsWith("/")) {
    throw new Error(`${where}: "${target}": delivery to a command or a file is not supported (alias it to a mailbox, or route it with a rule)`);
  }
  if (!TARGET.test(target)) throw new Error(`${where}: "${target}" is not an address or a local part`);
  return target;
}

/** The targets of an `:include:` file (absolute path; no include in it). */
async function included(path: string, where: string): Promise<string[]> {
  if (!path.startsWith("/")) throw new Error(`${where}: :include: needs an absolute path, not "${path}"`);
  const text = await readDataFile(path, `${where}: :include:${path}`);
  const targets: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    for (const target of raw.replace(/(^|\s)#.*$/, "").split(/[\s,]+/).filter((each) => each !== "")) {
      if (target.toLowerCase().startsWith(":include:")) throw new Error(`${path}:${index + 1}: an :include: file cannot include another`);
      targets.push(checkedTarget(target, `${path}:${index + 1}`));
    }
  }
  if (targets.length === 0) throw new Error(`${where}: :include:${path} lists no target`);
  return targets;
}

/** The alias entry for an address: the whole address first, then its local part if the domain is local. */
function aliasOf(aliases: Aliases, address: string, localDomains: ReadonlySet<string>): readonly string[] | undefined {
  const at = address.lastIndexOf("@");
  const lower = address.toLowerCase();
  return aliases.get(lower) ?? (at > 0 && localDomains.has(lower.slice(at + 1)) ? aliases.get(lower.slice(0, at)) : undefined);
}

/**
 * The addresses mail for `address` goes to after alias expansion: itself when it is no alias (or, from a file
 * read for other local domains, when its expansion reaches no mailbox). Targets without a domain take the domain
 * of the address they expand.
 */
export function expandAliases(aliases: Aliases, address: string, localDomains: ReadonlySet<string>): string[] {
  const { targets } = expansion(aliases, address, localDomains);
  return targets.length > 0 ? targets : [address];
}

/**
 * Where mail for `address` goes: a name among its own targets keeps a copy in its mailbox; a name met again
 * further up the path ends that branch (`loop`, the first such path), as its other targets are already on their
 * way; a name reached through MAX_ALIAS_DEPTH aliases is taken as a mailbox (`tooDeep`).
 */
function expansion(aliases: Aliases, address: string, localDomains: ReadonlySet<string>): { targets: string[]; loop: string[] | null; tooDeep: boolean } {
  const targets: string[] = [];
  const delivered = new Set<string>();
  let loop: string[] | null = null;
  let tooDeep = false;
  const deliver = (current: string): void => {
    if (delivered.has(current.toLowerCase())) return;
    delivered.add(current.toLowerCase());
    targets.push(current);
  };
  const walk = (current: string, path: readonly string[]): void => {
    const lower = current.toLowerCase();
    const back = path.indexOf(lower);
    if (back !== -1) {
      if (back === path.length - 1) deliver(current);
      else loop ??= [...path.slice(back), lower];
      return;
    }
    const next = aliasOf(aliases, current, localDomains);
    if (next === undefined || path.length === MAX_ALIAS_DEPTH) {
      tooDeep ||= next !== undefined;
      deliver(current);
      return;
    }
    const domain = current.slice(current.lastIndexOf("@") + 1);
    for (const target of next) walk(target.includes("@") ? target : `${target}@${domain}`, [...path, lower]);
  };
  walk(address, []);
  return { targets, loop, tooDeep };
}

/** Whether a recipient at a local domain exists: an alias or a listed mailbox (every one without a list). */
export function isKnownLocal(policy: LocalRecipients, address: string, localDomains: ReadonlySet<string>): boolean {
  if (policy.mailboxes === null) return true;
  if (aliasOf(policy.aliases, address, localDomains) !== undefined) return true;
  return policy.mailboxes.has(address);
}

export type Direction = "incoming" | "outgoing" | "internal";

/** Mail to a remote domain is outgoing; to a local one, internal from a local sender, else incoming. */
export function direction(senderDomain: string | null, recipientDomain: string, localDomains: ReadonlySet<string>): Direction {
  if (!localDomains.has(recipientDomain)) return "outgoing";
  return senderDomain !== null && localDomains.has(senderDomain) ? "internal" : "incoming";
}
