// Runs every test case of OpenSMTPD's old smtpscript regression suite (../shared/testdata/smtp/
// opensmtpd-smtpscript/) against a real Petrel, one subtest per case, through test/support/smtpscript*.ts.
// Where Petrel deliberately answers otherwise, DIFFERENCES below is the one place that says so and why: such
// a case runs Petrel's own version instead, and the original is still run to prove it still differs (an
// entry that no longer differs fails, so the table cannot go stale). Never edit the scripts themselves.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Petrel } from "./support/petrel-process.ts";
import { parseBody, parseScript, type Script, type TestCase } from "./support/smtpscript.ts";
import { runTestCase, ScriptFailure } from "./support/smtpscript-runner.ts";

const SCRIPTS = fileURLToPath(new URL("../../shared/testdata/smtp/opensmtpd-smtpscript/", import.meta.url));

/** The cases per file that the data's README lists: proves the parser found every one. */
const CASES_PER_FILE: Readonly<Record<string, number>> = {
  "test.mailfrom": 15,
  "test.rcptto": 15,
  "test.smtp0": 9,
  "test.smtp1": 9,
  "test.smtp2": 3,
  "test.smtp4": 17,
  "test.tls": 1,
};

/**
 * Server settings per file, where a file tests a limit: test.smtp2 expects a disconnect at the 5th unknown
 * command, and 100 messages to `test@foo.bar` (OpenSMTPD's regress server took mail for it from a loopback
 * client). Every other file runs against Petrel's defaults, whose local domain `localhost` is the scripts'.
 */
const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  "test.smtp2": `[smtp]\nmax_errors = 5\nlocal_domains = ["localhost", "foo.bar"]`,
};

type Difference = {
  readonly file: string;
  /** The case's name, or `<file:line>` of its `test-case` keyword when it has none. */
  readonly testCase: string;
  readonly why: string;
  /** Petrel's version of the case, in the script language (it may call the file's procs). */
  readonly petrel: string;
};

const ESMTP_AFTER_HELO =
  "ESMTP parameters after a plain HELO are refused (555): the extension was not advertised (RFC 5321 §4.1.1.1, §2.2.2); after EHLO they are accepted";

/** After HELO the parameter is refused; after EHLO the same MAIL is accepted. */
function esmtpAfterHelo(mail: string): string {
  return `call init-helo
    writeln "${mail}"
    expect smtp permfail
    writeln "EHLO regress"
    expect smtp helo
    writeln "${mail}"
    expect smtp ok`;
}

const DIFFERENCES: readonly Difference[] = [
  {
    file: "test.mailfrom",
    testCase: "mailfrom.at-sign",
    why: "RFC 5321 has no `<@>` path: the null reverse-path is `<>` only",
    petrel: `call init-helo
      writeln "MAIL FROM: <@>"
      expect smtp permfail`,
  },
  {
    file: "test.mailfrom",
    testCase: "mailfrom.src-route",
    why: "a source route is `@domain` items before the colon (RFC 5321 §4.1.2); `<@relay:a@a>` is accepted and stripped",
    petrel: `call init-helo
      writeln "MAIL FROM: <whatever:a@a>"
      expect smtp permfail
      writeln "MAIL FROM: <@relay.test:a@a>"
      expect smtp ok`,
  },
  { file: "test.mailfrom", testCase: "mailfrom.option-size", why: ESMTP_AFTER_HELO, petrel: esmtpAfterHelo("MAIL FROM: <user@domain> SIZE=3005") },
  { file: "test.mailfrom", testCase: "mailfrom.option-7bit", why: ESMTP_AFTER_HELO, petrel: esmtpAfterHelo("MAIL FROM: <user@domain> BODY=7BIT") },
  {
    file: "test.mailfrom",
    testCase: "mailfrom.option-8bitmime",
    why: ESMTP_AFTER_HELO,
    petrel: esmtpAfterHelo("MAIL FROM: <user@domain> BODY=8BITMIME"),
  },
  {
    file: "test.mailfrom",
    testCase: "mailfrom.option-8bitmime-size",
    why: ESMTP_AFTER_HELO,
    petrel: esmtpAfterHelo("MAIL FROM: <user@domain> BODY=8BITMIME SIZE=100"),
  },
  {
    file: "test.mailfrom",
    testCase: "mailfrom.option-auth",
    why: "AUTH= belongs to the AUTH extension (RFC 4954 §5), which Petrel does not advertise yet: refused (555) after HELO and after EHLO alike",
    petrel: `call init-helo
      writeln "MAIL FROM: <user@domain> AUTH=WHATEVER"
      expect smtp permfail
      writeln "EHLO regress"
      expect smtp helo
      writeln "MAIL FROM: <user@domain> AUTH=WHATEVER"
      expect smtp permfail`,
  },
  {
    file: "test.rcptto",
    testCase: "rcptto.src-route",
    why: "a source route is `@domain` items before the colon (RFC 5321 §4.1.2); `<@relay:user@localhost>` is accepted and stripped",
    petrel: `call init-helo-mailfrom
      writeln "RCPT TO: <whatever:a@a>"
      expect smtp permfail
      writeln "RCPT TO: <@relay.test:gilles@localhost>"
      expect smtp ok`,
  },
  {
    file: "test.smtp2",
    testCase: "<test.smtp2:7>",
    why: "with max_errors = 5 the 5th refused command still gets its 500, then 421 before the close (RFC 5321 §3.8); OpenSMTPD closed silently",
    petrel: `expect smtp
      repeat 5 {
        writeln "FOO"
        expect smtp permfail
      }
      expect smtp tempfail
      expect disconnect`,
  },
  {
    file: "test.smtp2",
    testCase: "<test.smtp2:33>",
    why: "Petrel has no limit of messages per session (OpenSMTPD's was 100): the 101st MAIL is accepted",
    petrel: `expect smtp
      writeln "EHLO fkf"
      expect smtp helo
      repeat 100 {
        writeln "MAIL FROM: <test@blabla>"
        expect smtp ok
        writeln "RCPT TO: <test@foo.bar>"
        expect smtp ok
        writeln "DATA"
        expect smtp ok
        writeln "foo"
        writeln "."
        expect smtp ok
      }
      writeln "MAIL FROM: <test@blabla>"
      expect smtp ok`,
  },
  {
    file: "test.smtp4",
    testCase: "<test.smtp4:149>",
    why: ESMTP_AFTER_HELO,
    petrel: `expect smtp ok
      writeln "HELO l"
      expect smtp ok
      writeln "MAIL FROM:<opensmtpd@opensmtpd.org> SIZE=1000"
      expect smtp permfail`,
  },
];

const scripts: Script[] = readdirSync(SCRIPTS)
  .filter((name) => name.startsWith("test."))
  .sort()
  .map((name) => parseScript(readFileSync(SCRIPTS + name, "utf8"), name));

function differenceFor(script: Script, testCase: TestCase): Difference | undefined {
  return DIFFERENCES.find((entry) => entry.file === script.source && entry.testCase === testCase.name);
}

describe("OpenSMTPD smtpscript sessions against Petrel", () => {
  const servers = new Map<string, Petrel>();
  /** The server a file runs against: its own when it needs other settings, else the shared one. */
  const serverFor = (file: string): Petrel => servers.get(file) ?? servers.get("")!;

  before(async () => {
    const settings = [["", ""], ...Object.entries(SERVER_SETTINGS)] as const;
    // The spools go on tmpfs where there is one: these runs test the dialogue, not durability, and test.smtp2
    // queues 200 messages, whose fsyncs on a busy disk would take seconds.
    const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
    const started = await Promise.all(
      settings.map(async ([, toml]) => Petrel.start({ toml, dir: await mkdtemp(join(base, "petrel-scripts-")) })),
    );
    for (const [i, [file]] of settings.entries()) servers.set(file, started[i]!);
  });
  after(async () => {
    await Promise.all([...servers.values()].map((server) => server.remove()));
  });

  it("parses every script, with the number of cases the data's README lists", () => {
    const counts = Object.fromEntries(scripts.map((script) => [script.source, script.cases.length]));
    assert.deepEqual(counts, CASES_PER_FILE);
  });

  it("lists each difference once, for a case that exists", () => {
    for (const entry of DIFFERENCES) {
      const script = scripts.find((candidate) => candidate.source === entry.file);
      assert.ok(script?.cases.some((testCase) => testCase.name === entry.testCase), `${entry.file} ${entry.testCase}`);
      assert.equal(DIFFERENCES.filter((other) => other.file === entry.file && other.testCase === entry.testCase).length, 1);
    }
  });

  for (const script of scripts) {
    describe(script.source, () => {
      for (const testCase of script.cases) {
        const difference = differenceFor(script, testCase);
        const skip = testCase.skip ? "the script marks it skip" : false;
        if (difference === undefined) {
          it(testCase.name, { skip }, async () => {
            const { port } = serverFor(script.source);
            await runTestCase(script, testCase, { host: "127.0.0.1", port });
          });
          continue;
        }
        it(`${testCase.name}: Petrel's version (${difference.why})`, { skip }, async () => {
          const source = `DIFFERENCES ${script.source} ${testCase.name}`; // so failures point at the table
          const body = parseBody(difference.petrel, script, source);
          const { port } = serverFor(script.source);
          await runTestCase({ ...script, source }, { ...testCase, body }, { host: "127.0.0.1", port });
        });
        it(`${testCase.name}: the original still differs`, { skip }, async () => {
          const { port } = serverFor(script.source);
          await assert.rejects(
            runTestCase(script, testCase, { host: "127.0.0.1", port }),
            (error) => error instanceof ScriptFailure && error.kind === "fail",
            "Petrel now passes the original case: remove its entry from DIFFERENCES",
          );
        });
      }
    });
  }
});
