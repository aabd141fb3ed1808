// `petrel queue` run by root on a spool that belongs to server.user: it becomes the spool's owner first, as
// Postfix's postsuper becomes mail_owner, so that every file it writes (a rewritten envelope) stays readable and
// writable by the server. Run by anyone else it changes nothing: the file system decides what they may do.

import { stat } from "node:fs/promises";

/** Switches this process to the owner and group of the spool directory when it runs as root and they differ. */
export async function actAsSpoolOwner(spoolDir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const owner = await stat(spoolDir).catch(() => null);
  if (owner === null || owner.uid === 0) return; // no spool: opening it reports that
  process.setgroups?.([owner.gid]);
  process.setgid?.(owner.gid);
  process.setuid?.(owner.uid);
}
