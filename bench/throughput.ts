// The throughput loads: every load mode runs against each server in turn (A/B/A/B...) for a number of
// rounds in one process, so that both servers see the same noise of this shared machine. After each run
// the server's queue is counted: every message smtp-source got a 250 for must be there.
// It measures and checks; it must never start, stop or configure a server itself.

import { type Load, type LoadMode, loadModes, runSmtpSource } from "./smtp-source.ts";
import { cpuMilliseconds } from "./process-tree.ts";
import { runTlsLoad } from "./tls-load.ts";

/** What the loads need of a server under test (PetrelServer and PostfixInstance both are one). */
export type MailServer = {
  readonly label: string;
  readonly port: number;
  readonly mainPid: number;
  countQueued(): Promise<number>;
};

export type ThroughputPlan = { messages: number; rounds: number; sessions: number; bodyBytes: number };

/**
 * Messages per second of each run, and the server's CPU time per message in microseconds (all its processes,
 * user + system: steadier than wall time on a shared machine), per server label, in round order.
 */
export type ThroughputResult = { title: string; rates: Map<string, number[]>; cpu: Map<string, number[]> };

/** Runs one load and checks that the server queued exactly the messages it was sent. */
async function queuedRun(server: MailServer, load: Load, what: string): Promise<{ seconds: number; cpuMs: number }> {
  const before = await server.countQueued();
  const cpuBefore = await cpuMilliseconds(server.mainPid);
  const seconds = await runSmtpSource(server.port, load);
  const cpuMs = (await cpuMilliseconds(server.mainPid)) - cpuBefore;
  const queued = (await server.countQueued()) - before;
  if (queued !== load.messages) {
    throw new Error(
      `${server.label}, ${what}: smtp-source had ${load.messages} messages accepted but ${queued} were queued ` +
        `(${before} before the run). A message answered 250 must be in the queue.`,
    );
  }
  return { seconds, cpuMs };
}

/**
 * `swapOrder`: every other round runs the servers in the reverse order (A B, B A, A B...), so that neither
 * always runs right after the other; for comparisons of a few per cent (rules against no rules).
 */
export async function measureThroughput(
  servers: readonly MailServer[],
  plan: ThroughputPlan,
  progress: (line: string) => void,
  options: { swapOrder?: boolean } = {},
): Promise<ThroughputResult[]> {
  const load = (mode: LoadMode, messages: number): Load => ({ ...plan, mode, messages });
  const labelWidth = Math.max(8, ...servers.map((server) => server.label.length));

  // One untimed run each first: Petrel's JIT compiles its hot path, Postfix spawns its smtpd processes.
  const warmUp = load("one-per-connection", Math.max(plan.sessions, Math.round(plan.messages / 10)));
  for (const server of servers) {
    const { seconds } = await queuedRun(server, warmUp, "warm-up");
    progress(`warm-up      ${server.label.padEnd(labelWidth)} ${warmUp.messages} messages in ${seconds.toFixed(2)} s`);
  }

  const modes = Object.keys(loadModes) as LoadMode[];
  const results = modes.map((mode) => ({
    title: loadModes[mode].title,
    rates: new Map(servers.map((server) => [server.label, [] as number[]])),
    cpu: new Map(servers.map((server) => [server.label, [] as number[]])),
  }));
  for (let round = 1; round <= plan.rounds; round++) {
    const order = options.swapOrder && round % 2 === 0 ? [...servers].reverse() : servers;
    for (const [index, result] of results.entries()) {
      for (const server of order) {
        const what = `round ${round}/${plan.rounds} ${result.title}`;
        const { seconds, cpuMs } = await queuedRun(server, load(modes[index]!, plan.messages), what);
        const rate = plan.messages / seconds;
        const cpu = (cpuMs * 1000) / plan.messages;
        result.rates.get(server.label)!.push(rate);
        result.cpu.get(server.label)!.push(cpu);
        progress(
          `${what.padEnd(30)} ${server.label.padEnd(labelWidth)} ${rate.toFixed(0).padStart(6)} msg/s (${seconds.toFixed(2)} s), ` +
            `${cpu.toFixed(0)} us CPU/msg`,
        );
      }
    }
  }
  return results;
}

/**
 * The STARTTLS load (tls-load.ts), a fifth of the messages, A/B over the same rounds; every message must be
 * queued, as with the other loads.
 */
export async function measureTlsLoad(
  servers: readonly MailServer[],
  plan: ThroughputPlan,
  progress: (line: string) => void,
): Promise<ThroughputResult> {
  const messages = Math.max(plan.sessions, Math.round(plan.messages / 5));
  const result: ThroughputResult = {
    title: "(c) STARTTLS, 1 msg/conn",
    rates: new Map(servers.map((server) => [server.label, [] as number[]])),
    cpu: new Map(servers.map((server) => [server.label, [] as number[]])),
  };
  for (let round = 1; round <= plan.rounds; round++) {
    for (const server of servers) {
      const before = await server.countQueued();
      const cpuBefore = await cpuMilliseconds(server.mainPid);
      const seconds = await runTlsLoad(server.port, { messages, sessions: plan.sessions, bodyBytes: plan.bodyBytes });
      const cpu = (((await cpuMilliseconds(server.mainPid)) - cpuBefore) * 1000) / messages;
      const queued = (await server.countQueued()) - before;
      if (queued !== messages) throw new Error(`${server.label}, STARTTLS load: ${messages} sent, ${queued} queued`);
      result.rates.get(server.label)!.push(messages / seconds);
      result.cpu.get(server.label)!.push(cpu);
      progress(`${`round ${round}/${plan.rounds} ${result.title}`.padEnd(30)} ${server.label.padEnd(8)} ${(messages / seconds).toFixed(0).padStart(6)} msg/s, ${cpu.toFixed(0)} us CPU/msg`);
    }
  }
  return result;
}
