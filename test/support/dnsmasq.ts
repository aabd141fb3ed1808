// A real DNS server for tests: dnsmasq on a free loopback port, answering from the records a test gives on its
// command line (--mx-host, --host-record, --dns-rr, --local...) and nothing else (no /etc/hosts, no upstream).
// Waits until it answers a query, never for a fixed time. What it prints is kept: with --log-queries=extra,
// a test can tell which questions reached it (printed()).

import { type ChildProcess, spawn } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./petrel-process.ts";

/** The dnsmasq binary, or null when it is not installed (apt-get install dnsmasq-base). */
export function findDnsmasq(): string | null {
  for (const dir of [...(process.env["PATH"] ?? "").split(":"), "/usr/sbin", "/sbin"]) {
    if (dir !== "" && existsSync(join(dir, "dnsmasq"))) return join(dir, "dnsmasq");
  }
  return null;
}

export type Dnsmasq = {
  readonly port: number;
  readonly server: string;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves once what it printed matches `pattern`; rejects if it exits first. */
  printed(pattern: RegExp): Promise<void>;
  stop(): Promise<void>;
};

/** Starts dnsmasq with `records` (its options); `probe` is a name with an A record it must answer. */
export async function startDnsmasq(records: readonly string[], probe: string): Promise<Dnsmasq> {
  const binary = findDnsmasq();
  if (binary === null) throw new Error("dnsmasq is not installed (apt-get install dnsmasq-base)");
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    ["--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-", `--port=${port}`, "--listen-address=127.0.0.1", "--bind-interfaces", ...records],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const waiters = new Set<() => void>();
  const seen = (chunk?: Buffer) => {
    if (chunk !== undefined) output += chunk;
    for (const waiter of waiters) waiter();
  };
  child.stdout!.on("data", seen);
  child.stderr!.on("data", seen);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => seen());
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const printed = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output)) resolve();
        else if (gone()) reject(new Error(`dnsmasq exited with ${child.exitCode}: ${output}`));
        else return;
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const stop = async (): Promise<void> => {
    if (gone()) return;
    child.kill();
    await exited;
  };
  // It says "started" once its sockets are bound; then it is asked until it answers all the same.
  await printed(/started, version/);
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  for (let attempt = 1; ; attempt++) {
    try {
      await resolver.resolve4(probe);
      return { port, server: `127.0.0.1:${port}`, output: () => output, printed, stop };
    } catch (error) {
      if (attempt === 50 || gone()) {
        await stop();
        throw new Error(`dnsmasq does not answer: ${String(error)}\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
