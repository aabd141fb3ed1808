// Which authenticated users may use which envelope senders on submission listeners (RFC 6409 §6.1). The
// default rule: a user named like an address owns that address; a plain user name owns that local part at every
// local domain. `auth.sender_logins` names a file that overrides it per sender, one line per address or domain:
//
//   alice@example.org   alice, bob      # these users may send as this address
//   @example.net        carol           # and as any address of this domain not listed itself
//   *                   postmaster      # and as any address at all (one per file)
//
// The most specific line that matches the sender decides (address, then @domain, then *): a listed user may use
// it, no one else may. A sender matched by no line falls back to the default rule.

import { readDataFile } from "../config/data-file.ts";
import type { Mailbox } from "../smtp/address.ts";

export type SenderLogins = ReadonlyMap<string, ReadonlySet<string>>;

const NO_LINES: SenderLogins = new Map();

/** Reads the file (a missing path in the configuration means no lines); throws naming the file and line. */
export async function readSenderLogins(path: string | undefined): Promise<SenderLogins> {
  if (path === undefined) return NO_LINES;
  const text = await readDataFile(path);
  const lines = new Map<string, ReadonlySet<string>>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [key, ...rest] = line.split(/\s+/);
    const users = rest.join(" ").split(/[\s,]+/).filter((user) => user !== "");
    if (key === undefined || users.length === 0 || !/^(\*|@[^@\s]+|[^@\s]+@[^@\s]+)$/.test(key)) {
      throw new Error(`${path}:${index + 1}: expected "address|@domain|* user[, user...]"`);
    }
    const sender = key.toLowerCase();
    if (lines.has(sender)) throw new Error(`${path}:${index + 1}: ${key} is listed twice`);
    lines.set(sender, new Set(users.map((user) => user.toLowerCase())));
  }
  return lines;
}

/** Whether the authenticated user may use this envelope sender. */
export function ownsSender(logins: SenderLogins, user: string, sender: Mailbox, localDomains: ReadonlySet<string>): boolean {
  const name = user.toLowerCase();
  const address = sender.address.toLowerCase();
  const listed = logins.get(address) ?? logins.get(`@${sender.domain}`) ?? logins.get("*");
  if (listed !== undefined) return listed.has(name);
  if (name.includes("@")) return address === name;
  return sender.local.toLowerCase() === name && localDomains.has(sender.domain);
}
