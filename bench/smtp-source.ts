// Drives Postfix's smtp-source load generator against one loopback port and times it by the wall clock.
// smtp-source stops with a non-zero status at the first reply it did not expect, so a server that refuses
// or drops mail fails the run here. It must never point smtp-source at anything but 127.0.0.1.

import { spawn } from "node:child_process";
import { once } from "node:events";
import { performance } from "node:perf_hooks";

/** How messages map onto connections: (a) one message per connection, (b) many per connection (-d). */
export const loadModes = {
  "one-per-connection": { flags: [] as string[], title: "(a) 1 msg/conn" },
  "many-per-connection": { flags: ["-d"], title: "(b) many msg/conn" },
} as const;

export type LoadMode = keyof typeof loadModes;

/**
 * `recipient`: the envelope recipient (default recipient@bench.test, a local domain of both servers);
 * `numbered`: smtp-source -N, which puts a sequence number before it (1recipient@..., 2recipient@...), one
 * per message, so that a receiving end can tell every message of a run apart.
 */
export type Load = { mode: LoadMode; messages: number; sessions: number; bodyBytes: number; recipient?: string; numbered?: boolean };

/** Runs one load against 127.0.0.1:port and returns its wall time in seconds. */
export async function runSmtpSource(port: number, load: Load): Promise<number> {
  const args = [
    ...loadModes[load.mode].flags,
    ...["-s", String(load.sessions), "-l", String(load.bodyBytes), "-m", String(load.messages)],
    ...(load.numbered === true ? ["-N"] : []),
    ...["-M", "client.bench.test", "-f", "sender@bench.test", "-t", load.recipient ?? "recipient@bench.test"],
    `127.0.0.1:${port}`,
  ];
  const started = performance.now();
  const child = spawn("smtp-source", args, { stdio: ["ignore", "ignore", "pipe"] });
  let errors = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    errors = (errors + text).slice(-2048);
  });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    throw new Error(`smtp-source ${args.join(" ")} failed (exit ${code ?? signal}): ${errors.trim()}`);
  }
  return seconds;
}
