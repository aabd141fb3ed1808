// End-to-end: the life of a Petrel process as an administrator sees it: a bad configuration stops `config check`
// and `serve` with the same file:line message, SIGTERM drains (idle sessions get 421, a transaction in flight
// is finished and answered first, exit code 0), SIGHUP reloads (new sessions take the new settings, sessions
// already open keep theirs, a bad file keeps the old configuration), several workers share the port, the
// `queue` commands show what was received, and an IPv6 listener works.

import { test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, Petrel, runPetrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient, type ServerReply } from "./support/smtp-client.ts";

function codes(reply: ServerReply | null): string {
  return reply === null ? "closed" : reply.lines[0]!.split(" ").slice(0, 2).join(" ");
}

const SHUTTING_DOWN = ["421 4.3.2 service shutting down, closing connection"];

test("a bad configuration: `config check` and `serve` both print file:line: key and exit 1", async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-badconfig-"));
  try {
    const file = join(dir, "petrel.toml");
    await writeFile(file, '[server]\nworkers = 1\n\n[smtp]\nmax_recipients = "many"\n');
    const check = await runPetrel(["config", "check", "--config", file]);
    assert.equal(check.code, 1);
    assert.equal(check.stdout, "");
    const [problem, summary] = check.stderr.split("\n");
    assert.equal(problem, `${file}:5: smtp.max_recipients: expected an integer, got "many"`);
    assert.equal(summary, `petrel config: 1 problem in ${file}`);

    const serve = await runPetrel(["serve", "--config", file]);
    assert.equal(serve.code, 1);
    assert.ok(serve.stderr.includes(problem!), serve.stderr);
    await assert.rejects(access(join(dir, "var")), { code: "ENOENT" }, "no spool was created");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("SIGTERM: an idle session gets 421 at once, a DATA transfer finishes (250, spooled) then 421; exit code 0", async () => {
  const petrel = await Petrel.start();
  try {
    const sender = await RawClient.greeted(petrel.port, { ehlo: "busy.test" });
    assert.equal(codes(await sender.command("MAIL FROM:<busy@example.org>")), "250 2.1.0");
    assert.equal(codes(await sender.command("RCPT TO:<busy@localhost>")), "250 2.1.5");
    assert.equal(codes(await sender.command("DATA")), "354 End");
    const [first, second] = ["Subject: drain\r\n\r\nfirst half, sent before SIGTERM\r\n", "second half, sent after\r\n"];
    sender.write(first);
    const idle = await RawClient.greeted(petrel.port, { ehlo: "idle.test" });

    petrel.process.kill("SIGTERM");
    // The idle session's 421 shows the worker is draining; only then does the message end.
    assert.deepEqual((await idle.read())?.lines, SHUTTING_DOWN);
    assert.equal(await idle.read(), null);
    await assert.rejects(RawClient.open(petrel.port), { code: "ECONNREFUSED" }, "no longer accepting");
    sender.write(`${second}.\r\n`);
    const id = queueIdOf(await sender.read());
    assert.deepEqual((await sender.read())?.lines, SHUTTING_DOWN);
    assert.equal(await sender.read(), null);
    await petrel.waitForMessage("petrel stopped");
    assert.deepEqual(await petrel.exited, { code: 0, signal: null });

    const message = await petrel.spooled(id);
    assert.equal(message.content.toString(), first + second);
  } finally {
    await petrel.remove();
  }
});

test("SIGHUP reloads: new sessions take the new settings, open ones keep theirs; a bad file keeps the old", async () => {
  const petrel = await Petrel.start({ toml: '[smtp]\nlocal_domains = ["localhost"]' });
  try {
    const opened = await RawClient.greeted(petrel.port, { ehlo: "before.test" });
    await petrel.writeConfig('[smtp]\nlocal_domains = ["localhost", "new.example"]');
    petrel.process.kill("SIGHUP");
    await petrel.waitForMessage("configuration reloaded");

    const fresh = await RawClient.greeted(petrel.port, { ehlo: "after.test" });
    assert.equal(codes(await fresh.command("MAIL FROM:<a@example.org>")), "250 2.1.0");
    assert.equal(codes(await fresh.command("RCPT TO:<someone@new.example>")), "250 2.1.5");
    fresh.close();
    assert.equal(codes(await opened.command("MAIL FROM:<a@example.org>")), "250 2.1.0");
    assert.equal(codes(await opened.command("RCPT TO:<someone@new.example>")), "550 5.7.1");
    assert.equal(codes(await opened.command("RCPT TO:<someone@localhost>")), "250 2.1.5");
    opened.close();

    // A broken file: logged with its line, the running configuration (with new.example) stays.
    await petrel.writeConfig('[smtp]\nlocal_domains = ["new.example"]\nmax_errors = 0');
    petrel.process.kill("SIGHUP");
    const refused = await petrel.waitFor((line) => line.msg.startsWith("configuration not reloaded"));
    const badLine = (await readFile(petrel.configPath, "utf8")).split("\n").indexOf("max_errors = 0") + 1;
    const why = String(refused["error"]);
    assert.ok(why.includes(`${petrel.configPath}:${badLine}: smtp.max_errors: 0 is too small`), why);
    assert.equal(petrel.lines.filter((line) => line.msg === "configuration reloaded").length, 1);

    const later = await RawClient.greeted(petrel.port, { ehlo: "later.test" });
    assert.equal(codes(await later.command("MAIL FROM:<a@example.org>")), "250 2.1.0");
    assert.equal(codes(await later.command("RCPT TO:<someone@new.example>")), "250 2.1.5");
    assert.equal(codes(await later.command("RCPT TO:<someone@localhost>")), "250 2.1.5");
    later.close();

    // A file that parses but that no worker can apply (its aliases file is missing): the current configuration
    // stays, also for a worker restarted after it.
    await petrel.writeConfig(`[smtp]\nlocal_domains = ["gone.example"]\naliases = "${petrel.dir}/no-such-aliases"`);
    petrel.process.kill("SIGHUP");
    await petrel.waitFor((line) => line.msg === "configuration not reloaded: no SMTP worker could apply it; keeping the current one");
    const workerPid = Number(petrel.lines.findLast((line) => line["worker"] === 0)?.["pid"]);
    process.kill(workerPid, "SIGKILL");
    await petrel.waitFor((line) => line.msg === "worker restarted" && line["worker"] === 0);
    const restarted = await RawClient.greeted(petrel.port, { ehlo: "restarted.test" });
    assert.equal(codes(await restarted.command("MAIL FROM:<a@example.org>")), "250 2.1.0");
    assert.equal(codes(await restarted.command("RCPT TO:<someone@new.example>")), "250 2.1.5");
    restarted.close();
  } finally {
    await petrel.remove();
  }
});

test("SIGHUP with other [log] settings: the workers and the delivery process both log by the new ones", async () => {
  const quiet = '[delivery]\nretry_min = "1s"\n\n[log.modules]\nsmtp = "warn"\ndelivery = "warn"';
  const petrel = await Petrel.start({ toml: quiet });
  const send = async (subject: string): Promise<string> => {
    const client = await RawClient.greeted(petrel.port, { ehlo: "client.test" });
    const id = queueIdOf(await client.sendMail("a@example.org", ["postmaster@localhost"], `Subject: ${subject}\r\n\r\nx\r\n`));
    client.close();
    return id;
  };
  const delivered = (id: string) => (line: { [key: string]: unknown }) => line["event"] === "delivery" && line["queueId"] === id && line["result"] === "delivered";
  try {
    const before = await send("before");
    // Its copy arrives, without an info line from either: both modules log warnings only.
    const mailbox = join(petrel.dir, "var", "mail", "localhost", "postmaster", "new");
    while ((await readdir(mailbox).catch(() => [])).length < 1) await new Promise((resolve) => setTimeout(resolve, 20));
    await petrel.writeConfig('[delivery]\nretry_min = "1s"');
    petrel.process.kill("SIGHUP");
    await petrel.waitForMessage("configuration reloaded");
    assert.equal(petrel.lines.some(delivered(before)), false, "no info line under the first settings");
    const after = await send("after");
    await petrel.waitFor((line) => line["event"] === "queued" && line["queueId"] === after);
    await petrel.waitFor(delivered(after));
  } finally {
    await petrel.remove();
  }
});

test("workers = 2: both workers serve connections; queue list and queue show (text and --json)", async () => {
  const petrel = await Petrel.start({ workers: 2 });
  try {
    assert.equal((await petrel.waitForMessage("petrel started"))["workers"], 2);
    const sessions = Array.from({ length: 40 }, async () => {
      const client = await RawClient.greeted(petrel.port, { ehlo: "spread.test" });
      assert.equal(codes(await client.command("QUIT")), "221 2.0.0");
    });
    await Promise.all(sessions);
    const isConnect = (line: { [field: string]: unknown }) => line["event"] === "connect";
    await petrel.waitForCount(isConnect, 40);
    const workers = new Set(petrel.lines.filter(isConnect).map((line) => line["worker"]));
    assert.deepEqual([...workers].sort(), [0, 1]);

    const ids: string[] = [];
    const client = await RawClient.greeted(petrel.port, { ehlo: "queue.test" });
    for (const n of [1, 2, 3]) {
      const content = `Subject: queued ${n}\r\n\r\nbody\r\n`;
      ids.push(queueIdOf(await client.sendMail(`s${n}@example.org`, [`r${n}@localhost`], content)));
    }
    client.close();

    // The commands run side by side: each is a Node start-up.
    const [list, listedJson, shown, shownJson] = await Promise.all([
      petrel.queue("list"),
      petrel.queue("list", "--json"),
      petrel.queue("show", ids[1]!),
      petrel.queue("show", ids[1]!, "--json"),
    ]);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trimEnd().split("\n");
    assert.match(rows[0]!, /^ID +STATE +AGE +SIZE +SENDER +RECIPIENTS$/);
    for (const [index, id] of ids.entries()) {
      const row = new RegExp(`^${id} +incoming +\\d+s +\\d+ +<s${index + 1}@example\\.org> +r${index + 1}@localhost$`);
      assert.ok(rows.some((each) => row.test(each)), list.stdout);
    }
    assert.match(rows.at(-1)!, /^-- 3 messages, \d+ bytes$/);

    const listed = JSON.parse(listedJson.stdout) as Array<{ id: string; state: string }>;
    assert.deepEqual(listed.map((entry) => entry.id).sort(), [...ids].sort());
    assert.ok(listed.every((entry) => entry.state === "incoming"));

    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^id: +${ids[1]}$`, "m"));
    assert.match(shown.stdout, /^sender: +<s2@example\.org>$/m);
    assert.match(shown.stdout, /^client: +localhost \[127\.0\.0\.1\]:\d+ helo=queue\.test protocol=ESMTP$/m);
    assert.match(shown.stdout, /^recipients: +r2@localhost \(pending\)$/m);
    assert.match(shown.stdout, /-- header section --\nReceived: from queue\.test /);
    assert.match(shown.stdout, /\r\nSubject: queued 2\r\n/);

    type Shown = { id: string; envelope: unknown; headers: string };
    const json = JSON.parse(shownJson.stdout) as Shown;
    assert.equal(json.id, ids[1]);
    assert.deepEqual(json.envelope, JSON.parse(await readFile(join(petrel.spool, "incoming", ids[1]!), "utf8")));
    assert.match(json.headers, /^Received: from queue\.test [\s\S]*\r\nSubject: queued 2\r\n$/);
  } finally {
    await petrel.remove();
  }
});

/** Whether this machine lets us listen on the IPv6 loopback (containers without IPv6 do not). */
const ipv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "::1", () => probe.close(() => resolve(true)));
});

test("an IPv6 listener on [::1] receives mail", { skip: ipv6Loopback ? false : "::1 cannot be bound here" }, async () => {
  const port6 = await freePort("::1");
  const petrel = await Petrel.start({ toml: `[[listener]]\naddress = "::1"\nport = ${port6}\nrole = "mta"` });
  try {
    const started = await petrel.waitForMessage("petrel started");
    assert.ok((started["listeners"] as string[]).includes(`[::1]:${port6} (mta)`));
    const client = await RawClient.greeted(port6, { host: "::1", ehlo: "six.test" });
    const id = queueIdOf(await client.sendMail("six@example.org", ["six@localhost"], "Subject: over IPv6\r\n\r\nx\r\n"));
    client.close();
    const message = await petrel.spooled(id);
    assert.equal(message.envelope.client.address, "::1");
    assert.match(message.received, /^Received: from six\.test \(localhost \[IPv6:::1\]\)\r\n/);
  } finally {
    await petrel.remove();
  }
});
