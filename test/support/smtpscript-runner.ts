// Plays the test cases read by smtpscript.ts against a server on a loopback port, one connection per case,
// checking reply classes only (2/3, 4, 5) as the original tool did. It never talks to anything but loopback.
//
// Faithful to the original: `expect smtp ok` and `tempfail`/`permfail` want a single-line reply, `expect
// disconnect` fails if any byte arrives before the close, and `expect fail` turns a failed check into a
// pass but never an I/O error ("error"). `sleep` really sleeps: it is the script's own semantics.

import { setTimeout as delay } from "node:timers/promises";
import { RawClient, type ServerReply } from "./smtp-client.ts";
import type { ReplyClass, Script, Statement, TestCase } from "./smtpscript.ts";

/** A check of the script failed ("fail", which `expect fail` inverts) or the harness could not do its part ("error"). */
export class ScriptFailure extends Error {
  readonly kind: "fail" | "error";
  constructor(kind: "fail" | "error", message: string) {
    super(message);
    this.kind = kind;
  }
}

export type RunOptions = {
  /** The server under test: where the automatic connection and `connect "…" port 25` go. */
  readonly host: string;
  readonly port: number;
  /** How long an `expect` waits for the server before failing. */
  readonly replyTimeout?: number;
};

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const REPLY_LINE = /^[2-5]\d\d(?:[ -][\x20-\x7e]*)?$/;

class Run {
  readonly script: Script;
  readonly options: RunOptions;
  client: RawClient | null = null;
  readonly transcript: string[] = [];

  constructor(script: Script, options: RunOptions) {
    this.script = script;
    this.options = options;
  }

  async execute(statement: Statement): Promise<void> {
    const fail = (kind: "fail" | "error", why: string): never => {
      throw new ScriptFailure(kind, `${this.script.source}:${statement.line}: ${why}`);
    };
    switch (statement.op) {
      case "block":
        for (const inner of statement.body) await this.execute(inner);
        return;
      case "repeat":
        for (let i = 0; i < statement.count; i++) await this.execute(statement.body);
        return;
      case "random": {
        const choice = statement.choices[Math.floor(Math.random() * statement.choices.length)];
        if (choice) await this.execute(choice);
        return;
      }
      case "call":
        for (const inner of this.script.procs.get(statement.proc)!) await this.execute(inner);
        return;
      case "noop":
        return;
      case "sleep":
        await delay(statement.ms); // script semantics: the script asks for a pause
        return;
      case "fail":
        return fail("fail", statement.reason);
      case "connect": {
        this.disconnect();
        const local = LOOPBACK.has(statement.host);
        if (!local) return fail("error", `refusing to connect to ${statement.host}: loopback only`);
        const port = statement.port === 25 ? this.options.port : statement.port;
        const host = statement.port === 25 ? this.options.host : statement.host;
        this.client = await RawClient.open(port, host).catch((error: Error) => fail("error", `connect: ${error.message}`));
        this.client.socket.setNoDelay(true); // each write goes out at once, as the original's flushed writes did
        return;
      }
      case "disconnect":
        this.disconnect();
        return;
      case "starttls":
        await this.connected(fail)
          .startTls()
          .catch((error: Error) => fail("error", `TLS handshake failed: ${error.message}`));
        return;
      case "write": {
        const client = this.connected(fail);
        if (client.socket.destroyed || !client.socket.writable) return fail("fail", "connection closed");
        this.transcript.push(...statement.text.split("\r\n").filter((line) => line !== "").map((line) => `C: ${line}`));
        client.write(statement.text);
        return;
      }
      case "expect-disconnect": {
        const reply = await this.nextReply(fail);
        if (reply !== null) fail("fail", `data read instead of a disconnect: ${JSON.stringify(reply.text)}`);
        this.disconnect();
        return;
      }
      case "expect-smtp": {
        const reply = await this.nextReply(fail);
        if (reply === null) return fail("fail", "connection closed");
        const bad = reply.lines.find((line) => !REPLY_LINE.test(line));
        if (bad !== undefined) fail("fail", `malformed reply line ${JSON.stringify(bad)}`);
        const multiline = statement.accept === "any" || statement.accept === "helo";
        if (reply.lines.length > 1 && !multiline) fail("fail", `single line response expected, got ${reply.text}`);
        if (!classAccepts(statement.accept, reply.code)) fail("fail", `expected ${statement.accept}, got ${reply.text}`);
        return;
      }
    }
  }

  private connected(fail: (kind: "error", why: string) => never): RawClient {
    return this.client ?? fail("error", "not connected");
  }

  private async nextReply(fail: (kind: "fail" | "error", why: string) => never): Promise<ServerReply | null> {
    const client = this.connected(fail);
    const limit = this.options.replyTimeout ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limit);
    });
    const reply = await Promise.race([client.read(), timedOut]);
    clearTimeout(timer);
    if (reply === "timeout") return fail("fail", `nothing from the server within ${limit} ms`);
    this.transcript.push(...(reply === null ? ["S: (closed)"] : reply.lines.map((line) => `S: ${line}`)));
    return reply;
  }

  disconnect(): void {
    this.client?.close();
    this.client = null;
  }
}

function classAccepts(accept: ReplyClass, code: number): boolean {
  const digit = Math.floor(code / 100);
  if (accept === "any") return true;
  if (accept === "tempfail") return digit === 4;
  if (accept === "permfail") return digit === 5;
  return digit === 2 || digit === 3;
}

/**
 * Runs one test case on a new connection (unless `no-autoconnect`) and closes it at the end. Resolves when
 * the case passes (or fails as its `expect fail` option wants); throws a ScriptFailure otherwise, with the
 * conversation so far in the message. A skipped case is the caller's business (node:test's `skip`).
 */
export async function runTestCase(script: Script, testCase: TestCase, options: RunOptions): Promise<void> {
  const run = new Run(script, options);
  let failure: ScriptFailure | null = null;
  try {
    if (testCase.autoconnect) await run.execute({ op: "connect", line: testCase.line, host: options.host, port: 25 });
    for (const statement of testCase.body) await run.execute(statement);
  } catch (error) {
    if (!(error instanceof ScriptFailure)) throw error;
    failure = error;
  } finally {
    run.disconnect();
  }
  const conversation = run.transcript.map((line) => `  ${line}`).join("\n");
  if (failure?.kind === "error" || (failure !== null && !testCase.expectFail)) {
    throw new ScriptFailure(failure.kind, `${testCase.name}: ${failure.message}\n${conversation}`);
  }
  if (failure === null && testCase.expectFail) {
    throw new ScriptFailure("fail", `${testCase.name}: passed, but the case says it should fail\n${conversation}`);
  }
}
