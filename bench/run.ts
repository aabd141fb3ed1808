// `npm run bench`: three parts, all by default, or the ones named (`npm run bench -- rules relay`).
// postfix: Petrel against a private Postfix 3.7 in one run on one machine. Starts both servers, checks
// Petrel's memory with 1,000 idle sessions and a 50 MiB message against their targets, then runs the
// smtp-source loads alternately on each server (median of the rounds) while sampling memory.
// rules: Petrel without rules against Petrel with bench/rules/twenty-per-stage.ts (issue 4), the same loads
// alternated the same way, the order swapped every other round.
// relay: Petrel against a relaying Postfix (issue 5): smtp-source → server → smtp-sink, timed until the sink has
// every message, each checked to arrive exactly once and the queues to be empty again.
// Each part prints Markdown tables. Exit status 1 when a message went missing, a step failed or a memory target
// was missed (throughput targets are reported, not enforced: this machine is too noisy for a verdict by exit
// status). It must never leave a server, a daemon or a temporary directory behind, also on error or Ctrl-C.

import { tmpdir } from "node:os";
import { resolve } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { measureBigMessage } from "./big-message.ts";
import { measureIdleSessions } from "./idle-sessions.ts";
import { describeMachine } from "./machine.ts";
import { PetrelServer } from "./petrel-server.ts";
import { PostfixInstance } from "./postfix-instance.ts";
import { freePort } from "../test/support/ports.ts";
import { measureRelay } from "./relay-load.ts";
import { SmtpSink } from "./smtp-sink.ts";
import {
  describeRun,
  type MemoryRow,
  meetsRelayTarget,
  meetsRulesTarget,
  meetsTarget,
  memoryTable,
  RELAY_TARGET_RATIO,
  relayTable,
  RULES_TARGET_RATIO,
  rulesTable,
  throughputTable,
} from "./report.ts";
import { type RssPeaks, sampleDuring } from "./rss-sampler.ts";
import { measureThroughput, measureTlsLoad, type ThroughputPlan } from "./throughput.ts";

const MiB = 2 ** 20;
const BIG_MESSAGE_BYTES = 50 * MiB;
const BIG_MESSAGE_GROWTH_TARGET = 32 * MiB;
const IDLE_SESSIONS = 1000;
const IDLE_SESSIONS_TARGET = 100 * MiB;
const IDLE_HOLD_MS = 2000;

/** The rule set of the rules part: 20 rules at each of connect, helo, mail, rcpt and preq, none deciding. */
const RULE_SET = resolve(import.meta.dirname, "rules/twenty-per-stage.ts");

/** The relay load's next hops, one per server: loopback addresses of their own, apart from the listeners'. */
const PETREL_SINK_ADDRESS = "127.0.0.2";
const POSTFIX_SINK_ADDRESS = "127.0.0.3";

const parts = ["postfix", "rules", "relay"] as const;
type Part = (typeof parts)[number];

const USAGE = `usage: npm run bench -- [part...] [options]
  parts: postfix  Petrel against Postfix: memory targets, loads (a), (b) and STARTTLS (c)
         rules    Petrel with 20 rules per stage against Petrel without rules: loads (a) and (b)
         relay    Petrel against Postfix relaying loads (a) and (b) to smtp-sink, end to end
         (default: all three, in that order)
  --messages N   messages per load run (default 5000, about 10 s a run here; 1000 with --quick)
  --rounds N     rounds of A/B runs per load, the median is reported (default 3; 1 with --quick)
  --quick        a smoke run of about a minute: few messages, one round
  --petrel DIR   the Petrel checkout to run (default: the one this benchmark is in)
  --dir DIR      where the temporary spools and Postfix instance go (default: ${tmpdir()})
  --cpu-prof DIR relay part: every Petrel process writes a V8 CPU profile into DIR when it stops
  --rules FILE   rules part: the rule set to measure (default bench/rules/twenty-per-stage.ts; the lightest:
                 bench/rules/one-liners.ts)
`;

function positiveInteger(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, not "${text}"`);
  return value;
}

type Options = {
  parts: readonly Part[];
  plan: ThroughputPlan;
  checkout: string;
  baseDir: string;
  ruleSet: string;
  cpuProfileDir?: string;
};

function readOptions(argv: string[]): Options | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      messages: { type: "string" },
      rounds: { type: "string" },
      quick: { type: "boolean", default: false },
      petrel: { type: "string" },
      dir: { type: "string" },
      "cpu-prof": { type: "string" },
      rules: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return null;
  for (const name of positionals) {
    if (!(parts as readonly string[]).includes(name)) throw new Error(`unknown part "${name}" (parts: ${parts.join(", ")})`);
  }
  return {
    parts: parts.filter((part) => positionals.length === 0 || positionals.includes(part)),
    plan: {
      messages: positiveInteger(values.messages, values.quick ? 1000 : 5000, "messages"),
      rounds: positiveInteger(values.rounds, values.quick ? 1 : 3, "rounds"),
      sessions: 20,
      bodyBytes: 4096,
    },
    checkout: resolve(values.petrel ?? resolve(import.meta.dirname, "..")),
    baseDir: resolve(values.dir ?? tmpdir()),
    ruleSet: values.rules === undefined ? RULE_SET : resolve(values.rules),
    ...(values["cpu-prof"] === undefined ? {} : { cpuProfileDir: resolve(values["cpu-prof"]) }),
  };
}

/** Every stop, in the reverse order of the starts; runs once, whoever asks first (the end, an error, a signal). */
const stops: (() => Promise<void>)[] = [];
let stopping: Promise<void> | null = null;
let interrupted = false;
function stopEverything(): Promise<void> {
  stopping ??= (async () => {
    for (const stop of stops.reverse()) {
      await stop().catch((error: Error) => console.error(`bench: while stopping: ${error.message}`));
    }
  })();
  return stopping;
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    interrupted = true;
    console.error(`bench: ${signal}: stopping the servers`);
    void stopEverything().finally(() => process.exit(code));
  });
}

/** Registers a server's stop for the end, an error or a signal; the returned stop may run earlier, once. */
function stopLater(stop: () => Promise<void>): () => Promise<void> {
  let stopped: Promise<void> | null = null;
  const once = () => (stopped ??= stop());
  stops.push(once);
  return once;
}

/** Petrel against Postfix; false when a memory target was missed. */
async function postfixPart({ plan, checkout, baseDir }: Options): Promise<boolean> {
  const petrel = new PetrelServer(checkout, baseDir);
  const stopPetrel = stopLater(() => petrel.stop());
  await petrel.start();
  const postfix = new PostfixInstance(baseDir, { tls: petrel.tlsFiles }); // the same certificate for the TLS load
  const stopPostfix = stopLater(() => postfix.stop());
  await postfix.start();
  console.log(`Petrel on 127.0.0.1:${petrel.port} (spool ${petrel.spoolDir}), Postfix on 127.0.0.1:${postfix.port}\n`);

  // The memory checks come first, on fresh processes: after the loads, garbage the collector frees while
  // the sessions open would hide what they cost.
  console.log(`idle sessions: ${IDLE_SESSIONS} to Petrel, held ${IDLE_HOLD_MS} ms`);
  const idle = await measureIdleSessions(petrel, IDLE_SESSIONS, IDLE_HOLD_MS);
  console.log(`large message: ${BIG_MESSAGE_BYTES / MiB} MiB to Petrel`);
  const big = await measureBigMessage(petrel, BIG_MESSAGE_BYTES);
  console.log(`  accepted in ${big.seconds.toFixed(2)} s (${(big.bytes / MiB / big.seconds).toFixed(0)} MiB/s)\n`);

  // Both servers are sampled during every run, so that the sampling costs each of them the same.
  const { result: throughput, peaks } = await sampleDuring([petrel.mainPid, postfix.mainPid], () =>
    measureThroughput([petrel, postfix], plan, (line) => console.log(line)),
  );
  const [petrelPeaks, postfixPeaks] = peaks as [RssPeaks, RssPeaks];
  const tls = await measureTlsLoad([petrel, postfix], plan, (line) => console.log(line));
  const rows = [...throughput, tls].map(({ title, rates, cpu }) => ({
    title,
    petrel: rates.get(petrel.label)!,
    postfix: rates.get(postfix.label)!,
    petrelCpu: cpu.get(petrel.label)!,
    postfixCpu: cpu.get(postfix.label)!,
  }));
  console.log(`\n${throughputTable(rows)}`);

  const memory: MemoryRow[] = [
    { measure: "Petrel peak RSS during the loads, all processes", bytes: petrelPeaks.peakTotal },
    { measure: "Postfix peak RSS during the loads, all processes", bytes: postfixPeaks.peakTotal },
    {
      measure: `${BIG_MESSAGE_BYTES / MiB} MiB message: RSS growth of the ${big.pid === petrel.mainPid ? "primary" : "worker"} that took it`,
      bytes: big.growth,
      targetBytes: BIG_MESSAGE_GROWTH_TARGET,
    },
    {
      measure: `${idle.sessions} idle sessions: RSS increase, all processes`,
      bytes: idle.increase,
      targetBytes: IDLE_SESSIONS_TARGET,
    },
  ];
  console.log(`\n${memoryTable(memory)}`);
  await stopPostfix();
  await stopPetrel();
  return memory.every(meetsTarget);
}

/**
 * Petrel without rules against Petrel with the rule set: two servers side by side, the same loads, A/B with
 * the order swapped every other round. Prints medians, spreads and the ratio against issue 4's target.
 */
async function rulesPart({ plan, checkout, baseDir, ruleSet }: Options): Promise<void> {
  const plain = new PetrelServer(checkout, baseDir, { label: "no rules" });
  const ruled = new PetrelServer(checkout, baseDir, { label: "rules", ruleFiles: [ruleSet] });
  const stopPlain = stopLater(() => plain.stop());
  const stopRuled = stopLater(() => ruled.stop());
  await plain.start();
  await ruled.start();
  console.log(`\nrules: Petrel without rules on 127.0.0.1:${plain.port}, with ${ruleSet} on 127.0.0.1:${ruled.port}`);
  const results = await measureThroughput([plain, ruled], plan, (line) => console.log(line), { swapOrder: true });
  const rows = results.map(({ title, rates, cpu }) => ({
    title,
    noRules: rates.get(plain.label)!,
    rules: rates.get(ruled.label)!,
    noRulesCpu: cpu.get(plain.label)!,
    rulesCpu: cpu.get(ruled.label)!,
  }));
  console.log(`\n${rulesTable(rows)}`);
  const met = rows.every(meetsRulesTarget);
  console.log(`\nrules: target (rules / no rules > ${RULES_TARGET_RATIO.toFixed(2)} in every load) ${met ? "met" : "NOT met"}`);
  await stopRuled();
  await stopPlain();
}

/**
 * Petrel against Postfix, both relaying everything from smtp-source to a smtp-sink of their own, A/B over the
 * rounds. Prints medians, spreads and the ratio against issue 5's target.
 */
async function relayPart({ plan, checkout, baseDir, cpuProfileDir }: Options): Promise<void> {
  const petrelSink = new SmtpSink(PETREL_SINK_ADDRESS, baseDir);
  const postfixSink = new SmtpSink(POSTFIX_SINK_ADDRESS, baseDir);
  const stopPetrelSink = stopLater(() => petrelSink.stop());
  const stopPostfixSink = stopLater(() => postfixSink.stop());
  await petrelSink.start(await freePort());
  await postfixSink.start(await freePort());
  const profiling = cpuProfileDir === undefined ? {} : { nodeOptions: `--cpu-prof --cpu-prof-dir=${cpuProfileDir}` };
  const petrel = new PetrelServer(checkout, baseDir, { relayTo: petrelSink.target, ...profiling });
  const postfix = new PostfixInstance(baseDir, { relayTo: postfixSink.target });
  const stopPetrel = stopLater(() => petrel.stop());
  const stopPostfix = stopLater(() => postfix.stop());
  await petrel.start();
  await postfix.start();
  console.log(
    `\nrelay: Petrel on 127.0.0.1:${petrel.port} → smtp-sink ${petrelSink.address}:${petrelSink.port}, ` +
      `Postfix on 127.0.0.1:${postfix.port} → smtp-sink ${postfixSink.address}:${postfixSink.port}`,
  );
  const results = await measureRelay(
    [
      { server: petrel, sink: petrelSink },
      { server: postfix, sink: postfixSink },
    ],
    plan,
    (line) => console.log(line),
  );
  const rows = results.map(({ title, rates, cpu }) => ({
    title,
    petrel: rates.get(petrel.label)!,
    postfix: rates.get(postfix.label)!,
    petrelCpu: cpu.get(petrel.label)!,
    postfixCpu: cpu.get(postfix.label)!,
  }));
  console.log(`\n${relayTable(rows)}`);
  const met = rows.every(meetsRelayTarget);
  console.log(`\nrelay: target (Petrel / Postfix >= ${RELAY_TARGET_RATIO.toFixed(2)} in every load) ${met ? "met" : "NOT met"}`);
  await stopPostfix();
  await stopPetrel();
  await stopPostfixSink();
  await stopPetrelSink();
}

/** Runs the parts asked for; false when a memory target was missed. */
async function bench(options: Options): Promise<boolean> {
  console.log(describeRun(await describeMachine(options.checkout, options.baseDir), options.plan));
  let targetsMet = true;
  if (options.parts.includes("postfix")) targetsMet = await postfixPart(options);
  if (options.parts.includes("rules")) await rulesPart(options);
  if (options.parts.includes("relay")) await relayPart(options);
  return targetsMet;
}

async function main(): Promise<void> {
  let options: Options | null;
  try {
    options = readOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return;
  }
  try {
    if (!(await bench(options))) {
      console.error("\nbench: a memory target was missed");
      process.exitCode = 1;
    }
  } catch (error) {
    if (!interrupted) console.error(`\nbench: ${(error as Error).stack ?? error}`);
    process.exitCode = 1;
  } finally {
    await stopEverything();
  }
}

await main();
