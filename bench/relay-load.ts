// The relay load (issue 5): smtp-source sends N messages to a server under test, which relays every one to its
// own smtp-sink. A run's time goes from the start of smtp-source (its first connection) until the sink has
// received the Nth message. Each run is then checked: smtp-source had every message answered 250 (it stops and
// fails otherwise), the server's queue is empty again, and the sink got each of the N messages exactly once
// (smtp-source -N numbers the recipients; sink-dumps.ts compares). Both load modes of smtp-source.ts, every
// server in turn (A/B/A/B...) over the rounds, as throughput.ts does for receiving alone.
// It measures and checks; it must never start, stop or configure a server or a sink.

import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { cpuMilliseconds } from "./process-tree.ts";
import { checkArrivals } from "./sink-dumps.ts";
import type { SmtpSink } from "./smtp-sink.ts";
import { type Load, type LoadMode, loadModes, runSmtpSource } from "./smtp-source.ts";
import type { MailServer, ThroughputPlan, ThroughputResult } from "./throughput.ts";

/** Neither server is the destination of this domain: both relay it to their next hop. */
export const RELAY_RECIPIENT = "recipient@remote.test";
/** A run fails when the sink got nothing for this long (a deferred message would wait minutes for its retry). */
const STALL_MS = 30_000;
/** The queue must be empty this soon after the sink got the last message. */
const DRAIN_TIMEOUT_MS = 30_000;
const DRAIN_POLL_MS = 20;

/** A server under test and the sink it relays to. */
export type RelayPair = { readonly server: MailServer; readonly sink: SmtpSink };

async function waitUntilQueueEmpty(server: MailServer): Promise<void> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  for (let left = await server.countQueued(); left > 0; left = await server.countQueued()) {
    if (performance.now() > deadline) throw new Error(`${server.label}: ${left} messages still queued ${DRAIN_TIMEOUT_MS / 1000} s after the sink got them all`);
    await delay(DRAIN_POLL_MS);
  }
}

/**
 * One relayed run: its time (to the sink's last message), the time smtp-source took to send (the difference is
 * how far delivery lagged behind receiving), and the server's CPU until its queue was empty.
 */
async function relayedRun({ server, sink }: RelayPair, load: Load, what: string): Promise<{ seconds: number; sendSeconds: number; cpuMs: number }> {
  await sink.takeDump(); // the dump from here on is this run's
  const before = sink.received;
  const cpuBefore = await cpuMilliseconds(server.mainPid);
  const failed = new AbortController();
  const started = performance.now();
  const sending = runSmtpSource(server.port, load).catch((error: Error) => {
    failed.abort(error);
    throw error;
  });
  const [sendSeconds, arrivedAt] = await Promise.all([sending, sink.arrived(before + load.messages, STALL_MS, failed.signal)]);
  const seconds = (arrivedAt - started) / 1000;
  await waitUntilQueueEmpty(server);
  const cpuMs = (await cpuMilliseconds(server.mainPid)) - cpuBefore;
  // Nothing is left to deliver: whatever reached the sink is in its count and its dump by now.
  const counted = sink.received - before;
  const problems = [
    ...(counted === load.messages ? [] : [`the sink counted ${counted} messages`]),
    ...checkArrivals(await sink.takeDump(), load.messages, RELAY_RECIPIENT).problems,
  ];
  if (problems.length > 0) {
    throw new Error(`${server.label}, ${what}: smtp-source had ${load.messages} messages accepted, but ${problems.join("; ")}`);
  }
  return { seconds, sendSeconds, cpuMs };
}

export async function measureRelay(pairs: readonly RelayPair[], plan: ThroughputPlan, progress: (line: string) => void): Promise<ThroughputResult[]> {
  const load = (mode: LoadMode, messages: number): Load => ({ ...plan, mode, messages, recipient: RELAY_RECIPIENT, numbered: true });
  const labelWidth = Math.max(8, ...pairs.map(({ server }) => server.label.length));

  // One untimed run each first: Petrel's JIT warms up, Postfix spawns its smtpd and smtp processes.
  const warmUp = load("one-per-connection", Math.max(plan.sessions, Math.round(plan.messages / 10)));
  for (const pair of pairs) {
    const { seconds } = await relayedRun(pair, warmUp, "warm-up");
    progress(`relay warm-up ${pair.server.label.padEnd(labelWidth)} ${warmUp.messages} messages in ${seconds.toFixed(2)} s`);
  }

  const modes = Object.keys(loadModes) as LoadMode[];
  const results = modes.map((mode) => ({
    title: `relay ${loadModes[mode].title}`,
    rates: new Map(pairs.map(({ server }) => [server.label, [] as number[]])),
    cpu: new Map(pairs.map(({ server }) => [server.label, [] as number[]])),
  }));
  for (let round = 1; round <= plan.rounds; round++) {
    for (const [index, result] of results.entries()) {
      for (const pair of pairs) {
        const what = `round ${round}/${plan.rounds} ${result.title}`;
        const { seconds, sendSeconds, cpuMs } = await relayedRun(pair, load(modes[index]!, plan.messages), what);
        const rate = plan.messages / seconds;
        const cpu = (cpuMs * 1000) / plan.messages;
        result.rates.get(pair.server.label)!.push(rate);
        result.cpu.get(pair.server.label)!.push(cpu);
        progress(
          `${what.padEnd(36)} ${pair.server.label.padEnd(labelWidth)} ${rate.toFixed(0).padStart(6)} msg/s (${seconds.toFixed(2)} s, ` +
            `sent in ${sendSeconds.toFixed(2)} s), ${cpu.toFixed(0)} us CPU/msg`,
        );
      }
    }
  }
  return results;
}
