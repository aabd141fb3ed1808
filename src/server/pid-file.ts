// The primary's process id in server.pid_file, for `petrel rules reload` and init scripts: written once the
// server runs, removed when it stops. A file naming a live process stops a second server from starting on the
// same configuration; a stale one (no such process) is replaced.

import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** The pid in the file, if the file exists and that process is alive. */
export async function runningPid(path: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  // After a crash the pid may have been given to another program: only a `petrel serve` counts.
  const command = await readFile(`/proc/${pid}/cmdline`, "latin1").catch(() => "serve");
  return command.split("\0").includes("serve") ? pid : null;
}

export async function writePidFile(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFile(path, `${process.pid}\n`, { mode: 0o644 });
}

export async function removePidFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
