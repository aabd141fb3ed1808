import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { parseConfig } from "../config/load.ts";
import { createLogs } from "./logs.ts";

const tmp = await mkdtemp(path.join(os.tmpdir(), "petrel-logs-"));
after(() => rm(tmp, { recursive: true, force: true }));

/** The [log] part of a configuration file written in `tmp` (relative paths land in `tmp`). */
const logConfig = (toml: string) => parseConfig(toml, path.join(tmp, "petrel.toml")).log;

const jsonLines = async (file: string) =>
  (await readFile(file, "utf8"))
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test("system and mail logs go to their own files, as JSON lines with level names and ISO times", async () => {
  const logs = createLogs(
    logConfig(`[log.system]\ndestination = "file"\npath = "a/system.log"\n[log.mail]\ndestination = "file"\npath = "a/mail.log"\n`),
    { worker: 3 },
  );
  logs.system.info({ listeners: 2 }, "petrel started");
  logs.mail.info({ event: "connect", client: "192.0.2.1" }, "connect");
  logs.mail.warn({ event: "reject" }, "recipient refused");
  await logs.flush();
  const system = await jsonLines(path.join(tmp, "a/system.log"));
  const mail = await jsonLines(path.join(tmp, "a/mail.log"));
  assert.equal(system.length, 1);
  assert.deepEqual(
    mail.map((line) => [line.level, line.msg]),
    [
      ["info", "connect"],
      ["warn", "recipient refused"],
    ],
  );
  const first = system[0]!;
  assert.deepEqual(Object.keys(first), ["level", "time", "pid", "worker", "log", "listeners", "msg"]);
  assert.equal(first.pid, process.pid);
  assert.equal(first.worker, 3);
  assert.equal(first.log, "system");
  assert.equal(mail[0]!.log, "mail");
  assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  await logs.close();
});

test("per-module levels: lower or higher than log.level", async () => {
  const file = path.join(tmp, "modules.log");
  const logs = createLogs(
    logConfig(`[log]\nlevel = "info"\nmodules = { smtp = "debug", dns = "error" }\n[log.system]\ndestination = "file"\npath = "${file}"\n`),
    {},
  );
  logs.system.debug("system debug: hidden");
  logs.module("smtp").debug("smtp debug: shown");
  logs.module("queue").debug("queue debug: hidden");
  logs.module("queue").info("queue info: shown");
  logs.module("dns").warn("dns warn: hidden");
  logs.module("dns").error("dns error: shown");
  assert.equal(logs.module("smtp"), logs.module("smtp"));
  await logs.flush();
  const lines = await jsonLines(file);
  assert.deepEqual(
    lines.map((line) => [line.module, line.msg]),
    [
      ["smtp", "smtp debug: shown"],
      ["queue", "queue info: shown"],
      ["dns", "dns error: shown"],
    ],
  );
  assert.ok(lines.every((line) => line.log === "system" && !("worker" in line)));
  await logs.close();
});

test("reopen after logrotate renamed the file: old lines stay in the old file, new lines go to a new one", async () => {
  const file = path.join(tmp, "rotate.log");
  const logs = createLogs(logConfig(`[log.mail]\ndestination = "file"\npath = "${file}"\n`), {});
  logs.mail.info("before rotation");
  await logs.flush();
  await rename(file, `${file}.1`);
  logs.reopen();
  logs.mail.info("after rotation");
  await logs.flush();
  assert.deepEqual((await jsonLines(`${file}.1`)).map((line) => line.msg), ["before rotation"]);
  assert.deepEqual((await jsonLines(file)).map((line) => line.msg), ["after rotation"]);
  await logs.close();
});

test("both logs in one file, from several processes at once: whole lines only", async () => {
  const file = path.join(tmp, "shared.log");
  const config = JSON.stringify(logConfig(`[log.system]\ndestination = "file"\npath = "${file}"\n[log.mail]\ndestination = "file"\npath = "${file}"\n`));
  const writer = path.join(tmp, "writer.ts");
  await writeFile(
    writer,
    `import { createLogs } from ${JSON.stringify(new URL("./logs.ts", import.meta.url).href)};\n` +
      `const logs = createLogs(${config}, { worker: Number(process.argv[2]) });\n` +
      `const padding = "x".repeat(300);\n` +
      `for (let i = 0; i < 3000; i++) (i % 2 ? logs.mail : logs.system).info({ i, padding }, "line");\n` +
      `await logs.close();\n`,
  );
  const run = promisify(execFile);
  await Promise.all([1, 2, 3].map((worker) => run(process.execPath, [writer, String(worker)])));
  const lines = await jsonLines(file); // JSON.parse throws on a torn line
  assert.equal(lines.length, 9000);
  for (const worker of [1, 2, 3]) {
    const own = lines.filter((line) => line.worker === worker).map((line) => line.i);
    assert.deepEqual(own, Array.from({ length: 3000 }, (_, i) => i), `worker ${worker} lines out of order`);
  }
});

test("pretty format renders readable lines instead of JSON", async () => {
  const file = path.join(tmp, "pretty.log");
  const logs = createLogs(logConfig(`[log]\nformat = "pretty"\n[log.mail]\ndestination = "file"\npath = "${file}"\n`), {});
  logs.mail.info({ client: "192.0.2.1" }, "connect");
  await logs.flush();
  const text = await readFile(file, "utf8");
  assert.match(text, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): mail: connect\n {4}client: "192\.0\.2\.1"\n$/);
  await logs.close();
});

test("a log file that cannot be opened stops createLogs with the key and the reason", async () => {
  const blocker = path.join(tmp, "not-a-folder");
  await writeFile(blocker, "");
  const config = logConfig(`[log.system]\ndestination = "file"\npath = "${blocker}/system.log"\n`);
  assert.throws(() => createLogs(config, {}), /^Error: log\.system\.path: cannot open .*not-a-folder\/system\.log: .*(ENOTDIR|EEXIST)/);
});
