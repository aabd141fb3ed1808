// Describes the machine a benchmark ran on (CPUs, memory, kernel, file system of the spools, Node and
// Postfix versions), so that every printed result carries the conditions it was measured under.
// It only asks; it must never change the machine.

import { execFile } from "node:child_process";
import { availableParallelism, cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type Machine = {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  fileSystem: string;
  node: string;
  postfix: string;
};

async function output(command: string, args: string[]): Promise<string> {
  return (await run(command, args)).stdout.trim();
}

/** `checkout` is the Petrel being measured (its pinned Node), `baseDir` where the spools are written. */
export async function describeMachine(checkout: string, baseDir: string): Promise<Machine> {
  const [node, postfix, fileSystem] = await Promise.all([
    output(join(checkout, "node_modules/.bin/node"), ["--version"]),
    output("postconf", ["-d", "-h", "mail_version"]),
    output("findmnt", ["--noheadings", "--output", "FSTYPE", "--target", baseDir]),
  ]);
  return {
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    fileSystem,
    node,
    postfix,
  };
}
