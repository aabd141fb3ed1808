import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, test } from "node:test";
import { parseConfig } from "../config/load.ts";
import { createLogs } from "./logs.ts";
import { syslogPriority } from "./syslog.ts";

const tmp = await mkdtemp(path.join(os.tmpdir(), "petrel-syslog-"));
after(() => rm(tmp, { recursive: true, force: true }));

/** A syslog daemon of our own: a Unix datagram socket that prints each message it receives on one line. */
async function listenSyslog(socket: string) {
  const receiver = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    print(s.recv(262144).decode("utf-8", "replace"), flush=True)
`;
  const child = spawn("python3", ["-c", receiver, socket], { stdio: ["ignore", "pipe", "inherit"] });
  after(() => child.kill());
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, "ready");
  return {
    async take(count: number): Promise<string[]> {
      const received: string[] = [];
      while (received.length < count) {
        const next = await lines.next();
        if (next.done) break;
        received.push(next.value);
      }
      return received;
    },
  };
}

test("pino levels map onto syslog priorities", () => {
  assert.equal(syslogPriority("mail", 30), 22); // mail.info
  assert.equal(syslogPriority("mail", 20), 23); // mail.debug
  assert.equal(syslogPriority("mail", 10), 23);
  assert.equal(syslogPriority("local3", 40), 156); // local3.warning
  assert.equal(syslogPriority("kern", 50), 3); // kern.err
  assert.equal(syslogPriority("daemon", 60), 26); // daemon.crit
});

test("the mail log goes to syslog, one message per record with its priority; the system log stays in its file", async () => {
  const socket = path.join(tmp, "log.sock");
  const syslog = await listenSyslog(socket);
  const systemFile = path.join(tmp, "system.log");
  const config = parseConfig(
    `[log.system]\ndestination = "file"\npath = "${systemFile}"\n` +
      `[log.mail]\ndestination = "syslog"\nfacility = "local3"\nsocket = "${socket}"\n`,
    path.join(tmp, "petrel.toml"),
  );
  const logs = createLogs(config.log, { worker: 2 });
  logs.mail.info({ event: "connect", client: "192.0.2.7" }, "connect");
  logs.mail.error({ event: "spool", note: "two\nlines" }, "spool write failed");
  logs.system.info("system line");
  await logs.close(); // waits for logger to have sent everything and exited
  const messages = await syslog.take(2);
  assert.equal(messages.length, 2);
  const shape = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d petrel\[(\d+)\]: (\{.*\})$/;
  const [info, error] = messages.map((message) => {
    const match = shape.exec(message);
    assert.ok(match, `not a syslog message from petrel: ${message}`);
    return { priority: Number(match[1]), pid: Number(match[2]), record: JSON.parse(match[3]!) };
  });
  assert.deepEqual([info!.priority, error!.priority], [19 * 8 + 6, 19 * 8 + 3]);
  assert.equal(info!.pid, process.pid);
  assert.equal(info!.record.msg, "connect");
  assert.equal(info!.record.client, "192.0.2.7");
  assert.equal(info!.record.worker, 2);
  assert.equal(error!.record.note, "two\nlines");
  const systemLines = (await readFile(systemFile, "utf8")).trim().split("\n");
  assert.deepEqual(
    systemLines.map((line) => JSON.parse(line).msg),
    ["system line"],
  );
});

test("a syslog socket nobody listens on loses lines but neither throws nor hangs", async () => {
  const config = parseConfig(
    `[log.mail]\ndestination = "syslog"\nsocket = "${path.join(tmp, "nobody.sock")}"\n`,
    path.join(tmp, "petrel.toml"),
  );
  const logs = createLogs(config.log, {});
  logs.mail.info("into the void");
  await logs.flush();
  await logs.close();
  logs.mail.info("after close: dropped");
});
