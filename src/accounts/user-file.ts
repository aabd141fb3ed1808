// The users file: one line per user, `name:<credentials>` (credentials.ts), `#` comments, written with mode 0600
// by `petrel user add|remove` (write a temporary file, fsync, rename) and read by the workers, who look users
// up in what they read when they applied the configuration (a SIGHUP rereads it). A missing file means no users.

import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { type Credentials, formatCredentials, parseCredentials } from "./credentials.ts";
import type { AccountStore } from "./sasl.ts";

export type Users = ReadonlyMap<string, Credentials>;

/** Reads the file; throws with the file and line of a line it cannot read. */
export async function readUsers(path: string): Promise<Users> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw error;
  }
  const users = new Map<string, Credentials>();
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const credentials = colon > 0 ? parseCredentials(line.slice(colon + 1)) : null;
    if (credentials === null) throw new Error(`${path}:${index + 1}: not a user line (name:scrypt$...:scram-sha-256$...)`);
    users.set(line.slice(0, colon), credentials);
  }
  return users;
}

export async function writeUsers(path: string, users: Users): Promise<void> {
  const lines = [...users].map(([name, credentials]) => `${name}:${formatCredentials(credentials)}\n`);
  const temporary = `${path}.tmp-${process.pid}`;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file = await open(temporary, "w", 0o600);
  try {
    await file.writeFile(`# Petrel users: written by \`petrel user\`; no passwords, only salted hashes.\n${lines.join("")}`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}

export function userStore(users: Users): AccountStore {
  return { credentials: async (user) => users.get(user) };
}

/** A user name fit for the file and for SMTP AUTH: no colon, no control characters, not empty. */
export function validUserName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[:\s\x00-\x1f\x7f]/.test(name);
}
