// Postfix's smtp-sink as a receiving server for delivery tests: listens on a loopback address and port, takes
// every message (or refuses commands as its options say: -r soft, -f hard, -q disconnect) and dumps each one
// into a folder, where a test reads what arrived. Waits until the port accepts connections.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acceptsConnections } from "./petrel-process.ts";

export const SMTP_SINK = ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"].find((path) => existsSync(path)) ?? null;

export type SmtpSink = {
  readonly host: string;
  readonly port: number;
  /** The messages received so far, as smtp-sink dumped them (its own header lines, then the message). */
  messages(): Promise<Buffer[]>;
  stop(): Promise<void>;
};

/** Starts smtp-sink on host:port with `options` (e.g. ["-r", "RCPT"]); ESMTP with every extension it has. */
export async function startSmtpSink(host: string, port: number, options: readonly string[] = []): Promise<SmtpSink> {
  if (SMTP_SINK === null) throw new Error("smtp-sink is not installed (apt-get install postfix)");
  const dumps = await mkdtemp(join(tmpdir(), "petrel-sink-"));
  await chmod(dumps, 0o777); // smtp-sink writes as nobody
  const listen = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const child: ChildProcess = spawn(SMTP_SINK, ["-u", "nobody", "-d", `${dumps}/%Y%m%d%H%M%S.`, ...options, listen, "100"], { stdio: ["ignore", "ignore", "pipe"] });
  let errors = "";
  child.stderr!.on("data", (chunk: Buffer) => (errors += chunk));
  for (let attempt = 0; !(await acceptsConnections(host, port)); attempt++) {
    if (child.exitCode !== null || attempt > 200) throw new Error(`smtp-sink did not start: ${errors}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    host,
    port,
    async messages() {
      const names = (await readdir(dumps)).sort();
      return Promise.all(names.map((name) => readFile(join(dumps, name))));
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill();
      if (child.exitCode === null) await exited;
      await rm(dumps, { recursive: true, force: true });
    },
  };
}
