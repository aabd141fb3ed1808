// Tests the smtpscript interpreter itself, against a tiny scripted SMTP server on loopback (not Petrel, so
// that a harness bug cannot hide behind a server bug): the lexer's quirks the data depends on, the parser's
// errors, every statement, the reply checks, `expect fail`, and the TLS upgrade.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { parseBody, parseScript, type Statement } from "./smtpscript.ts";
import { runTestCase, ScriptFailure } from "./smtpscript-runner.ts";

/** Replies of the fake server, by command verb; anything else gets 250. */
const ANSWERS: Readonly<Record<string, string>> = {
  EHLO: "250-fake greets you\r\n250 STARTTLS\r\n",
  PERM: "550 refused\r\n",
  TEMP: "451 later\r\n",
  BAD: "hello\r\n",
  QUIT: "221 bye\r\n",
};

function serve(socket: Socket, tls: { key: Buffer; cert: Buffer }): void {
  let buffered = "";
  const onData = (text: string): void => {
    buffered += text;
    for (let end = buffered.indexOf("\r\n"); end >= 0; end = buffered.indexOf("\r\n")) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line === "STARTTLS") {
        socket.write("220 go ahead\r\n");
        socket.off("data", onData);
        const secure = new TLSSocket(socket, { isServer: true, ...tls });
        secure.setEncoding("latin1");
        secure.on("data", (more: string) => secure.write(more.startsWith("EHLO") ? ANSWERS["EHLO"]! : "250 ok\r\n"));
        secure.on("error", () => {});
        return;
      }
      const verb = line.split(" ")[0]!;
      if (verb === "HANGUP") socket.end();
      else socket.write(ANSWERS[verb] ?? "250 ok\r\n");
      if (verb === "QUIT") socket.end();
    }
  };
  socket.setEncoding("latin1");
  socket.on("data", onData);
  socket.on("error", () => {});
  socket.write("220 fake ready\r\n");
}

describe("smtpscript interpreter", () => {
  let server: Server;
  let port = 0;
  let dir = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "smtpscript-"));
    const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await promisify(execFile)("openssl", [...args, "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]);
    const tls = { key: await readFile(key), cert: await readFile(cert) };
    server = createServer((socket) => serve(socket, tls));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    port = typeof address === "object" && address ? address.port : 0;
  });
  after(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the only test case of `text`. */
  function run(text: string, replyTimeout?: number): Promise<void> {
    const script = parseScript(text, "inline");
    assert.equal(script.cases.length, 1);
    return runTestCase(script, script.cases[0]!, { host: "127.0.0.1", port, replyTimeout });
  }

  function failsWith(text: string, kind: "fail" | "error", message: RegExp): Promise<void> {
    return assert.rejects(run(text), (error) => error instanceof ScriptFailure && error.kind === kind && message.test(error.message));
  }

  describe("parsing", () => {
    it("drops a raw line break inside a quoted string, as test.smtp0 relies on", () => {
      const script = parseScript('test-case {\n\twriteln "RCPT TO: <gilles\n@localhost>"\n}\n', "inline");
      assert.deepEqual(script.cases[0]!.body, [{ op: "write", line: 2, text: "RCPT TO: <gilles@localhost>\r\n" }]);
    });

    it("lets a backslash escape only the quote and a line break", () => {
      const body = parseBody(`write "say \\"hi\\" \\n"\nwrite 'it\\'s'`, parseScript("", "inline"), "inline");
      assert.deepEqual(body.map((statement) => (statement.op === "write" ? statement.text : "")), ['say "hi" \\n', "it's"]);
    });

    it("reads the test-case options and names unnamed cases <file:line>", () => {
      const script = parseScript('# c\n\ntest-case {\n}\ntest-case name "n" no-autoconnect expect fail skip { noop }', "f");
      const options = script.cases.map(({ name, line, autoconnect, expectFail, skip }) => ({ name, line, autoconnect, expectFail, skip }));
      assert.deepEqual(options, [
        { name: "<f:3>", line: 3, autoconnect: true, expectFail: false, skip: false },
        { name: "n", line: 5, autoconnect: false, expectFail: true, skip: true },
      ]);
    });

    it("parses nested statements, procs and sleep units", () => {
      const script = parseScript("proc p {\n noop\n}\ntest-case {\n repeat 2 {\n call p\n }\n random { noop\n disconnect }\n sleep 2 s\n}", "f");
      const expected: Statement[] = [
        { op: "repeat", line: 5, count: 2, body: { op: "block", line: 5, body: [{ op: "call", line: 6, proc: "p" }] } },
        { op: "random", line: 8, choices: [{ op: "noop", line: 8 }, { op: "disconnect", line: 9 }] },
        { op: "sleep", line: 10, ms: 2000 },
      ];
      assert.deepEqual(script.cases[0]!.body, expected);
      assert.deepEqual(script.procs.get("p"), [{ op: "noop", line: 2 }]);
    });

    it("names the file and line of a mistake", () => {
      assert.throws(() => parseScript("test-case {\n call nowhere\n}", "f"), /^SyntaxError: f:2: call to undefined proc "nowhere"/);
      assert.throws(() => parseScript("proc a { noop }\nproc a { noop }", "f"), /f:2: proc "a" already exists/);
      assert.throws(() => parseScript("test-case {\n expect smtp ok noop\n}", "f"), /f:2: expected the end of the line/);
      assert.throws(() => parseScript('test-case {\n writeln "open\n}', "f"), /end of file inside a quoted string/);
      assert.throws(() => parseScript("test-case {\n frobnicate\n}", "f"), /f:2: expected a statement/);
    });
  });

  describe("running", () => {
    it("passes a conversation whose replies all match", async () => {
      await run(`test-case {
        expect smtp ok
        writeln "EHLO me"
        expect smtp helo
        write "NO"
        writeln "OP"
        expect smtp ok
        random { writeln "NOOP"
          writeln "RSET" }
        expect smtp ok
        repeat 2 { writeln "TEMP"
          expect smtp tempfail }
        writeln "PERM"
        expect smtp permfail
        sleep 1
        writeln "QUIT"
        expect smtp
        expect disconnect
      }`);
    });

    it("fails on a reply of the wrong class, a multi-line reply where one line is due, and a malformed one", async () => {
      await failsWith('test-case {\n expect smtp\n writeln "PERM"\n expect smtp tempfail\n}', "fail", /inline:4: expected tempfail, got 550/);
      await failsWith('test-case {\n expect smtp\n writeln "EHLO x"\n expect smtp ok\n}', "fail", /single line response expected/);
      await failsWith('test-case {\n expect smtp\n writeln "BAD"\n expect smtp\n}', "fail", /malformed reply line "hello"/);
    });

    it("fails when the server talks instead of closing, or closes instead of replying", async () => {
      await failsWith('test-case {\n expect smtp\n writeln "NOOP"\n expect disconnect\n}', "fail", /data read instead of a disconnect/);
      await failsWith('test-case {\n expect smtp\n writeln "HANGUP"\n expect smtp\n}', "fail", /connection closed/);
    });

    it("fails when the server says nothing in time", async () => {
      const script = parseScript("test-case {\n expect smtp\n expect smtp\n}", "inline");
      await assert.rejects(
        runTestCase(script, script.cases[0]!, { host: "127.0.0.1", port, replyTimeout: 50 }),
        /inline:3: nothing from the server within 50 ms/,
      );
    });

    it("puts the conversation so far in the failure", async () => {
      await failsWith('test-case {\n expect smtp\n fail "stop here"\n}', "fail", /inline:3: stop here\n {2}S: 220 fake ready$/);
    });

    it("turns a failure into a pass under `expect fail`, and a pass into a failure", async () => {
      await run("test-case expect fail {\n expect smtp permfail\n}");
      await failsWith("test-case expect fail {\n expect smtp\n}", "fail", /passed, but the case says it should fail/);
    });

    it("connects only when asked under no-autoconnect, to loopback only, port 25 meaning the server under test", async () => {
      await failsWith("test-case no-autoconnect {\n expect smtp\n}", "error", /inline:2: not connected/);
      await run('test-case no-autoconnect {\n connect "127.0.0.1" port 25\n expect smtp ok\n disconnect\n connect "localhost"\n expect smtp ok\n}');
      await run(`test-case no-autoconnect {\n connect "127.0.0.1" port ${port}\n expect smtp ok\n}`);
      await failsWith('test-case no-autoconnect expect fail {\n connect "192.0.2.1"\n}', "error", /loopback only/);
    });

    it("starts TLS and reads the replies through it", async () => {
      await run(`test-case {
        expect smtp ok
        writeln "EHLO me"
        expect smtp helo
        writeln "STARTTLS"
        expect smtp ok
        starttls
        writeln "EHLO me"
        expect smtp helo
      }`);
    });
  });
});
