// A real DNS server for tests: dnsmasq on a free loopback port, answering from the records a test gives on its
// command line (--mx-host, --host-record, --dns-rr, --local...) and nothing else (no /etc/hosts, no upstream).
// Waits until it answers a query, never for a fixed time.

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

export type Dnsmasq = { readonly port: number; readonly server: string; stop(): Promise<void> };

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
  const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`dnsmasq exited with ${code}: ${output}`))));
  exited.catch(() => {});
  // It says "started" once its sockets are bound; then it is asked until it answers all the same.
  const started = new Promise<void>((resolve) => {
    const seen = (chunk: Buffer) => {
      output += chunk;
      if (/started, version/.test(output)) resolve();
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
  });
  await Promise.race([started, exited]);
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  for (let attempt = 1; ; attempt++) {
    try {
      await Promise.race([resolver.resolve4(probe), exited]);
      const stop = async (): Promise<void> => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.kill();
        await gone;
      };
      return { port, server: `127.0.0.1:${port}`, stop };
    } catch (error) {
      if (attempt === 50 || child.exitCode !== null) {
        child.kill();
        throw new Error(`dnsmasq does not answer: ${String(error)}\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
