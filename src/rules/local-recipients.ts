// The built-in policy for recipients at the local domains, from two plain files (no code needed):
//
//   smtp.aliases — like /etc/aliases: `name: target, target` per line, `#` comments, continuation lines start
//     with whitespace. `name` is a local part (at every local domain) or a whole address; a target is an address,
//     or a local part at the domain the mail was sent to, or `:include:/path`: the targets listed in that file
//     (commas, spaces or lines between them, `#` comments), read with the aliases (so a change to it takes a
//     SIGHUP, where sendmail and Postfix read it at each delivery). Aliases expand recursively (at most 10 levels;
//     a name met twice on one path stays as it is), and each target keeps the original address as its ORCPT.
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

export async function readLocalRecipients(aliasesPath: string | undefined, mailboxesPath: string | undefined): Promise<LocalRecipients> {
  return {
    aliases: aliasesPath === undefined ? new Map() : await readAliases(aliasesPath),
    mailboxes: mailboxesPath === undefined ? null : await addressesFromFile(mailboxesPath),
  };
}

const NAME = /^[^\s@:]+(@[^\s@:]+)?$/;
const TARGET = /^[^\s@,]+(@[^\s@,]+)?$/;

export async function readAliases(path: string): Promise<Aliases> {
  const text = await readDataFile(path);
  const aliases = new Map<string, string[]>();
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
      targets = line.slice(colon + 1);
    }
    for (const target of targets.split(",").map((each) => each.trim()).filter((each) => each !== "")) {
      const where = `${path}:${index + 1}`;
      if (target.toLowerCase().startsWith(":include:")) aliases.get(current!.name)!.push(...(await included(target.slice(9).trim(), where)));
      else aliases.get(current!.name)!.push(checkedTarget(target, where));
    }
  }
  for (const [name, targets] of aliases) if (targets.length === 0) throw new Error(`${path}: ${name} has no target`);
  return aliases;
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
 * The addresses mail for `address` goes to after alias expansion: itself when it is no alias. Targets without a
 * domain take the domain of the address they expand.
 */
export function expandAliases(aliases: Aliases, address: string, localDomains: ReadonlySet<string>): string[] {
  const result: string[] = [];
  const walk = (current: string, path: readonly string[], depth: number): void => {
    const targets = depth < 10 && !path.includes(current.toLowerCase()) ? aliasOf(aliases, current, localDomains) : undefined;
    if (targets === undefined) {
      if (!result.some((seen) => seen.toLowerCase() === current.toLowerCase())) result.push(current);
      return;
    }
    const domain = current.slice(current.lastIndexOf("@") + 1);
    for (const target of targets) walk(target.includes("@") ? target : `${target}@${domain}`, [...path, current.toLowerCase()], depth + 1);
  };
  walk(address, [], 0);
  return result;
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
