// The server's AUTH secret: 32 random bytes made once (mode 0600) and shared by every worker and restart.
// It keys the made-up salts given for unknown users (sasl.ts), so that they look the same every time, as a
// real user's salt does, and cannot be computed from outside.

import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export async function ensureSecret(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, randomBytes(32), { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}
