// Reads the Linux process table under /proc for the benchmark: which processes descend from a server's
// main process, how much resident memory and CPU time each one holds, and whether a process still runs.
// It only reads /proc; it must never signal or otherwise touch the processes it looks at.

import { readdir, readFile } from "node:fs/promises";

/** `cpuTicks`: user + system time of the process and of its children that have exited and been waited for. */
export type ProcessEntry = { pid: number; parentPid: number; state: string; cpuTicks: number };

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Parses /proc/<pid>/stat. The command name sits in parentheses and may itself hold spaces or ")". */
export function parseProcStat(text: string): ProcessEntry {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error(`unreadable /proc stat line: ${text.slice(0, 80)}`);
  const rest = text.slice(close + 2).split(" ");
  // Fields 14-17 of proc(5): utime, stime, cutime, cstime; rest[0] is field 3.
  const cpuTicks = [11, 12, 13, 14].reduce((sum, field) => sum + Number(rest[field] ?? 0), 0);
  return { pid: Number(text.slice(0, open - 1)), state: rest[0] ?? "?", parentPid: Number(rest[1]), cpuTicks };
}

/** Parses the VmRSS line of /proc/<pid>/status into bytes; a kernel thread or a zombie has none (0). */
export function parseResidentBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The stat of one process, or null when it has gone (processes come and go between readdir and read). */
async function readProcess(pid: number): Promise<ProcessEntry | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return null;
  }
}

/** `root` and every live process below it, root first. */
export async function processTree(root: number): Promise<number[]> {
  const names = await readdir("/proc");
  const entries = await Promise.all(names.filter((name) => /^\d+$/.test(name)).map((name) => readProcess(Number(name))));
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    if (!entry || entry.state === "Z") continue;
    const siblings = children.get(entry.parentPid) ?? [];
    siblings.push(entry.pid);
    children.set(entry.parentPid, siblings);
  }
  const tree: number[] = [];
  const pending = [root];
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    tree.push(pid);
    pending.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * CPU time used so far by `root` and every process below it, in milliseconds. Children that exited count
 * through their parent's cutime/cstime once reaped (Postfix's master reaps its daemons).
 */
export async function cpuMilliseconds(root: number): Promise<number> {
  let ticks = 0;
  for (const pid of await processTree(root)) ticks += (await readProcess(pid))?.cpuTicks ?? 0;
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** Resident bytes of one process; 0 when it has exited. */
export async function residentBytes(pid: number): Promise<number> {
  try {
    return parseResidentBytes(await readFile(`/proc/${pid}/status`, "latin1"));
  } catch {
    return 0;
  }
}

/** True while the process exists and is not a zombie (a zombie has finished; only its exit status remains). */
export async function isRunning(pid: number): Promise<boolean> {
  const entry = await readProcess(pid);
  return entry !== null && entry.state !== "Z";
}
