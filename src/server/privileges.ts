// Running with fewer privileges: the primary, started as root, hands the data Petrel writes (spool, TLS
// directory, AUTH secret and users file) to server.user/server.group, and each worker switches to them once
// it has bound its listeners, so that ports below 1024 work and nothing that parses mail runs as root.
// The primary stays root, like Postfix's master, to start workers again. Without server.user nothing changes.

import { execFileSync } from "node:child_process";
import { chown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/schema.ts";

export type Identity = { readonly uid: number; readonly gid: number; readonly user: string };

/** The uid and gid of server.user / server.group (group: the user's primary group when unset), or null. */
export function identity(config: Config): Identity | null {
  const { user, group } = config.server;
  if (user === undefined) return null;
  const id = (args: string[]) => Number(execFileSync("id", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim());
  try {
    const uid = id(["-u", user]);
    const gid = group === undefined ? id(["-g", user]) : Number(execFileSync("getent", ["group", group], { encoding: "utf8" }).split(":")[2]);
    if (!Number.isInteger(gid)) throw new Error(`no group "${group}"`);
    return { uid, gid, user };
  } catch (error) {
    const what = `${user}${group ? `/${group}` : ""}`;
    throw Object.assign(new Error(`server.user/server.group: ${what} not found (${(error as Error).message.trim()})`), {
      code: "PETREL_NO_USER",
    });
  }
}

async function chownTree(path: string, owner: Identity): Promise<void> {
  const info = await lstat(path).catch(() => null);
  if (info === null) return; // not made yet: whoever makes it later makes it as the user
  await chown(path, owner.uid, owner.gid);
  if (info.isDirectory()) for (const name of await readdir(path)) await chownTree(join(path, name), owner);
}

/** Primary, at start: the files the workers write or read become the user's. */
export async function handOver(config: Config, owner: Identity): Promise<void> {
  for (const path of [config.spool.dir, config.tls.directory, config.auth.secret, config.auth.users]) {
    await chownTree(path, owner);
  }
}

/** Worker, once its listeners are bound: from now on it is the user. */
export function dropPrivileges(owner: Identity): void {
  process.initgroups?.(owner.user, owner.gid);
  process.setgid?.(owner.gid);
  process.setuid?.(owner.uid);
}
