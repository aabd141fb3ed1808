// Crash safety of delivery end to end: a Petrel relays a batch of messages (delivery.relay) to Postfix's smtp-sink,
// which holds each reply to the end of the message for a second, so that a batch is always in the middle of
// being delivered. Then the delivery process alone is killed with SIGKILL (the primary restarts it), or the whole
// server is (process group) and a new Petrel is started on the same directory. Checked at the end: every message
// reached the sink, the spool is empty (bodies a killed delivery process left go at the next start's recovery),
// and no message whose "delivered" log line the killed process wrote came again; also, as each line arrives, that
// the spool no longer holds as pending a recipient the log calls delivered. A message in flight at the kill (the
// sink has it, its 250 was not heard yet) may legitimately come twice: counted and reported (t.diagnostic).

import { after, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { freePort, type LogLine, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";
import { SMTP_SINK, type SmtpSink, startSmtpSink } from "./support/smtp-sink.ts";

const skip = SMTP_SINK === null ? "smtp-sink is not installed (postfix)" : false;

const MESSAGES = 200;
const CLIENTS = 4;
/** Deliveries at once: the sink answers them in waves of this many a second. */
const CONCURRENCY = 20;
/**
 * The kill comes with the delivered line that makes this count: a few lines into the third wave, whose other
 * messages are then being recorded and removed (log lines leave in 4 KiB batches, mid-wave).
 */
const KILL_AFTER = 2 * CONCURRENCY + 5;

const sinks: SmtpSink[] = [];
after(() => Promise.all(sinks.map((sink) => sink.stop())));

/** A sink that waits a second before its reply to each message (-W .:1): deliveries overlap the kill. */
async function slowSink(host: string): Promise<SmtpSink> {
  const sink = await startSmtpSink(host, await freePort(host), ["-W", ".:1"]);
  sinks.push(sink);
  return sink;
}

function relayingPetrel(sink: SmtpSink, options: { dir?: string; detached?: boolean } = {}): Promise<Petrel> {
  return Petrel.start({
    ...options,
    toml: [
      `[smtp]\nrelay_networks = ["127.0.0.0/8"]`,
      `[delivery]\nrelay = "smtp://${sink.host}:${sink.port}"\nretry_min = "1s"\nretry_max = "2s"\ndestination_concurrency = ${CONCURRENCY}`,
    ].join("\n"),
  });
}

/** Sends MESSAGES messages over CLIENTS connections; queue id → Message-ID. */
async function sendBatch(petrel: Petrel, tag: string): Promise<Map<string, string>> {
  const sent = new Map<string, string>();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const smtp = await RawClient.greeted(petrel.port, { ehlo: "batch.example" });
      for (let index = client; index < MESSAGES; index += CLIENTS) {
        const messageId = `<${tag}-${index}@petrel.test>`;
        const content = `Subject: batch ${index}\r\nMessage-ID: ${messageId}\r\n\r\nmessage ${index} of the ${tag} batch\r\n`;
        sent.set(queueIdOf(await smtp.sendMail("sender@petrel.test", ["rcpt@remote.example"], content)), messageId);
      }
      await smtp.command("QUIT");
      smtp.close();
    }),
  );
  return sent;
}

const delivered = (line: LogLine) => line["event"] === "delivery" && line["result"] === "delivered";
const ofDelivery = (line: LogLine) => line["role"] === "delivery" && typeof line["pid"] === "number";

/**
 * Queue ids whose "delivered" line the test read while the spool still held the recipient as pending: a kill at
 * that moment would deliver again what the log already calls delivered. Checked as each line arrives.
 */
function watchRecordedBeforeLogged(petrel: Petrel, early: string[] = []): string[] {
  void petrel.waitFor((line) => {
    if (!delivered(line)) return false;
    let text: string;
    try {
      text = readFileSync(join(petrel.spool, "active", String(line["queueId"])), "utf8");
    } catch {
      return false; // removed: every recipient final
    }
    const envelope = JSON.parse(text) as { recipients: { address: string; status: string }[] };
    if (envelope.recipients.some((r) => r.address === line["recipient"] && r.status === "pending")) early.push(String(line["queueId"]));
    return false;
  });
  return early;
}

/** Message-ID → how many copies the sink holds. */
async function copies(sink: SmtpSink): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const dump of await sink.messages()) {
    const id = /^Message-ID: (<[^>]+>)/im.exec(dump.toString("latin1"))?.[1] ?? "(none)";
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Waits (polling, at most a minute) until `done` holds. */
async function until(what: string, done: () => Promise<boolean>): Promise<void> {
  for (const started = Date.now(); !(await done()); ) {
    if (Date.now() - started > 60_000) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Names left in the spool's folders (envelopes per state, and bodies). */
async function spoolLeft(petrel: Petrel): Promise<{ envelopes: string[]; bodies: string[] }> {
  const [incoming, active, deferred, bodies] = await Promise.all(["incoming", "active", "deferred", "body"].map((folder) => readdir(join(petrel.spool, folder))));
  return { envelopes: [...incoming!, ...active!, ...deferred!], bodies: bodies! };
}

/**
 * The end of the story: every message once at least, no envelope left, no second copy of a message whose
 * delivery the killed process had logged (`recorded`: queue ids), no delivered line read before the spool said
 * so (`early`); reports the copies of the others. Returns the bodies left behind.
 */
async function checkOutcome(t: TestContext, petrel: Petrel, sink: SmtpSink, sent: Map<string, string>, recorded: Set<string>, early: string[]): Promise<string[]> {
  await until("every message reached the sink", async () => (await copies(sink)).size >= MESSAGES);
  await until("no envelope is left in the spool", async () => (await spoolLeft(petrel)).envelopes.length === 0);
  const counts = await copies(sink);
  assert.deepEqual([...counts.keys()].sort(), [...sent.values()].sort(), "the sink holds every message sent, and nothing else");
  const twice = [...recorded].map((id) => sent.get(id)!).filter((messageId) => counts.get(messageId) !== 1);
  assert.deepEqual(twice, [], "a message logged as delivered before the kill was delivered again");
  assert.deepEqual(early, [], "a delivered line was logged while the spool still held the recipient as pending");
  const again = [...counts.values()].filter((count) => count > 1).length;
  t.diagnostic(`${recorded.size} deliveries logged before the kill; ${again} message(s) in flight at the kill delivered twice`);
  return (await spoolLeft(petrel)).bodies;
}

test("no duplicate after a kill -9 of the delivery process in the middle of a batch; the primary restarts it", { skip }, async (t) => {
  const sink = await slowSink("127.0.0.21");
  const petrel = await relayingPetrel(sink);
  t.after(() => petrel.remove());
  const early = watchRecordedBeforeLogged(petrel);
  const sent = await sendBatch(petrel, "worker");
  await petrel.waitForCount(delivered, KILL_AFTER);
  const pid = Number((await petrel.waitFor(ofDelivery))["pid"]);
  process.kill(pid, "SIGKILL");
  const beforeKill = petrel.lines.filter(delivered).length;
  assert.ok(beforeKill < MESSAGES, `the batch was over before the kill (${beforeKill} delivered)`);

  await petrel.waitFor((line) => line.msg === "worker restarted" && line["role"] === "delivery");
  const restarted = await petrel.waitFor((line) => line.msg === "delivery started" && line["pid"] !== pid);
  assert.ok(Number(restarted["active"]) > 0, "the new delivery process takes the active/ leftovers again");
  // Every delivered line of the killed process was written before the kill.
  const recorded = new Set(petrel.lines.filter((line) => delivered(line) && line["pid"] === pid).map((line) => String(line["queueId"])));
  const bodies = await checkOutcome(t, petrel, sink, sent, recorded, early);

  // A kill between a message's envelope and its body being removed leaves the body: only the primary's recovery
  // at the next start may remove bodies (an SMTP worker may be writing one that has no envelope yet).
  assert.ok(bodies.every((id) => sent.has(id)), "only bodies of delivered messages are left");
  t.diagnostic(`${bodies.length} orphan bodies left until the next start`);
  await petrel.stop();
  const next = await relayingPetrel(sink, { dir: petrel.dir });
  t.after(() => next.stop());
  const recovered = await next.waitForMessage("spool recovered");
  assert.deepEqual([...(recovered["removedOrphanBodies"] as string[])].sort(), [...bodies].sort());
  assert.deepEqual(await spoolLeft(next), { envelopes: [], bodies: [] }, "the spool is empty");
});

test("no duplicate after a kill -9 of the whole server; a new Petrel on the same directory resumes every message", { skip }, async (t) => {
  const sink = await slowSink("127.0.0.22");
  const first = await relayingPetrel(sink, { detached: true });
  const early = watchRecordedBeforeLogged(first);
  const sent = await sendBatch(first, "server");
  await first.waitForCount(delivered, KILL_AFTER);
  process.kill(-first.process.pid!, "SIGKILL");
  await first.exited;
  const recorded = new Set(first.lines.filter(delivered).map((line) => String(line["queueId"])));
  assert.ok(recorded.size < MESSAGES, `the batch was over before the kill (${recorded.size} delivered)`);

  const second = await relayingPetrel(sink, { dir: first.dir });
  t.after(() => second.remove());
  watchRecordedBeforeLogged(second, early);
  const started = await second.waitForMessage("delivery started");
  assert.ok(Number(started["active"]) > 0, "active/ leftovers are taken again");
  assert.deepEqual(await checkOutcome(t, second, sink, sent, recorded, early), [], "the spool is empty");
});
