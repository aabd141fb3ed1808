import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { ConfigError, loadConfig, parseConfig } from "./load.ts";

/** The lines of the ConfigError that `text` raises; fails the test when it raises nothing. */
function refusal(text: string, file = "petrel.toml"): string[] {
  try {
    parseConfig(text, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message.split("\n");
  }
  assert.fail("the configuration was accepted");
}

const tmp = await mkdtemp(path.join(os.tmpdir(), "petrel-config-"));
after(() => rm(tmp, { recursive: true, force: true }));

test("the embedded default: loopback listeners on 2525, spool under the working directory, every default", async () => {
  const { config, source } = await loadConfig();
  assert.equal(source, "(embedded default)");
  assert.deepEqual(
    config.listener.map((l) => [l.address, l.port, l.role]),
    [
      ["127.0.0.1", 2525, "mta"],
      ["::1", 2525, "mta"],
    ],
  );
  assert.equal(new Set(config.listener.map((l) => l.name)).size, 2);
  assert.equal(config.spool.dir, path.resolve(process.cwd(), "var/spool"));
  assert.equal(config.server.hostname, os.hostname());
  assert.equal(config.server.workers, "auto");
  assert.equal(config.server.shutdown_timeout, 30_000);
  assert.deepEqual(config.smtp, {
    local_domains: ["localhost"],
    relay_networks: [],
    max_message_size: 50 * 1024 * 1024,
    max_recipients: 1000,
    max_recipients_per_domain: 0,
    max_hops: 50,
    max_command_length: 2048,
    max_errors: 10,
    bare_line_endings: "reject",
    greeting_delay: 0,
    timeouts: { command: 300_000, data: 300_000, message: 1_800_000 },
  });
  assert.equal(config.server.pid_file, path.resolve(process.cwd(), "var/petrel.pid"));
  assert.deepEqual(config.rules, { files: [], timeout: 10_000, settings: {} });
  assert.deepEqual(config.dns, { servers: [], timeout: 5000, attempts: 2, cache_entries: 10000 });
  assert.deepEqual(config.delivery, {
    paused: false,
    concurrency: 100,
    destination_concurrency: 20,
    local_transport: "maildir",
    maildir: path.resolve(process.cwd(), "var/mail/%d/%l"),
    mbox: path.resolve(process.cwd(), "var/mbox/%d/%l"),
    lmtp: "unix:/var/run/dovecot/lmtp",
    transports: {},
    credentials: {},
    tls: "opportunistic",
    mx_port: 25,
    address_families: ["ipv4", "ipv6"],
    retry_min: 300_000,
    retry_max: 3_600_000,
    max_lifetime: 5 * 86_400_000,
    delay_warning: 4 * 3_600_000,
    return_limit: 50 * 1024,
    connection_reuse: 5000,
    timeouts: { connect: 30_000, command: 300_000, data: 600_000 },
  });
  assert.deepEqual(config.log, {
    level: "info",
    format: "auto",
    modules: {},
    system: { destination: "stdout", facility: "mail", socket: "/dev/log" },
    mail: { destination: "stdout", facility: "mail", socket: "/dev/log" },
  });
  assert.deepEqual(JSON.parse(JSON.stringify(config)), config, "plain JSON data, as sent over IPC");
});

test("the result is deeply frozen", () => {
  const config = parseConfig("", "/etc/petrel/petrel.toml");
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.smtp.timeouts));
  assert.ok(Object.isFrozen(config.listener[0]));
  assert.ok(Object.isFrozen(config.smtp.local_domains));
  assert.throws(() => {
    (config.smtp as { max_errors: number }).max_errors = 1;
  }, TypeError);
});

test("relative paths are relative to the configuration file's folder, absolute ones stay", () => {
  const config = parseConfig(
    `[spool]\ndir = "spool"\n[log.system]\ndestination = "file"\npath = "../log/system.log"\n[log.mail]\nsocket = "/run/log"\n`,
    "/etc/petrel/petrel.toml",
  );
  assert.equal(config.spool.dir, "/etc/petrel/spool");
  assert.equal(config.log.system.path, "/etc/log/system.log");
  assert.equal(config.log.mail.socket, "/run/log");
  assert.equal(parseConfig("", "/srv/mx/petrel.toml").spool.dir, "/srv/mx/var/spool");
});

test("values in units, listener defaults taken from [smtp], names derived from role and port", () => {
  const config = parseConfig(
    `[server]\nworkers = 3\nshutdown_timeout = 1500\n[smtp]\nmax_message_size = "10MB"\ngreeting_delay = "2s"\n` +
      `local_domains = ["Example.ORG."]\n` +
      `[[listener]]\naddress = "*"\nport = 25\n[[listener]]\naddress = "::"\nport = 587\nrole = "submission"\nmax_message_size = "512k"\ngreeting_delay = 0\n`,
    "petrel.toml",
  );
  assert.equal(config.server.workers, 3);
  assert.equal(config.server.shutdown_timeout, 1500);
  assert.deepEqual(config.smtp.local_domains, ["example.org"]);
  assert.deepEqual(
    config.listener.map((l) => [l.name, l.max_message_size, l.greeting_delay]),
    [
      ["mta-25", 10_000_000, 2000],
      ["submission-587", 524_288, 0],
    ],
  );
});

test("unknown keys at the top, nested, and in an array of tables name the line and the expected keys", () => {
  const lines = refusal(
    `colour = "blue"\n[smtp.timeouts]\ncommand = "1m"\nidle = "1m"\n[[listener]]\naddress = "127.0.0.1"\nport = 25\n[[listener]]\naddress = "::1"\nprot = 26\n`,
  );
  assert.deepEqual(lines, [
    "petrel.toml:1: colour: unknown key (expected one of: server, spool, tls, auth, limits, smtp, dns, delivery, rules, listener, log)",
    "petrel.toml:4: smtp.timeouts.idle: unknown key (expected one of: command, data, message)",
    "petrel.toml:8: listener[1].port: missing (expected an integer)",
    "petrel.toml:10: listener[1].prot: unknown key (expected one of: name, address, port, role, max_message_size, greeting_delay, plaintext_auth, proxy_protocol, proxy_from)",
  ]);
});

test("wrong types, bad enums, bad sizes and durations, out of range numbers", () => {
  const lines = refusal(
    [
      "[server]",
      "workers = 0",
      'shutdown_timeout = "soon"',
      "[smtp]",
      'max_recipients = "ten"',
      'max_message_size = "50 parsecs"',
      'bare_line_endings = "fix"',
      "max_errors = 1.5",
      'local_domains = "example.org"',
      "[[listener]]",
      'address = "[::1]"',
      "port = 70000",
      "[log]",
      'level = "verbose"',
      'modules = { smtp = "loud" }',
      "[log.system]",
      'destination = "file"',
      "[log.mail]",
      'facility = "mial"',
    ].join("\n"),
  );
  assert.deepEqual(lines, [
    'petrel.toml:2: server.workers: 0 is not a number of workers (expected "auto" or an integer >= 1)',
    'petrel.toml:3: server.shutdown_timeout: "soon" is not a duration (expected e.g. "30s", "5m", "1h", "2d" or a number of milliseconds)',
    'petrel.toml:5: smtp.max_recipients: expected an integer, got "ten"',
    'petrel.toml:6: smtp.max_message_size: "50 parsecs" is not a size (expected e.g. "50MiB" or a number of bytes)',
    'petrel.toml:7: smtp.bare_line_endings: "fix" is not allowed (expected one of: reject, normalize)',
    "petrel.toml:8: smtp.max_errors: expected an integer, got 1.5",
    'petrel.toml:9: smtp.local_domains: expected an array, got "example.org"',
    'petrel.toml:11: listener[0].address: "[::1]" is not a listening address (expected an IPv4 or IPv6 literal without brackets, "*" or "::")',
    "petrel.toml:12: listener[0].port: 70000 is too large (expected at most 65535)",
    'petrel.toml:14: log.level: "verbose" is not allowed (expected one of: trace, debug, info, warn, error, fatal, silent)',
    'petrel.toml:15: log.modules.smtp: "loud" is not allowed (expected one of: trace, debug, info, warn, error, fatal, silent)',
    'petrel.toml:16: log.system.path: required when destination = "file"',
    'petrel.toml:19: log.mail.facility: "mial" is not allowed (expected one of: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0, local1, local2, local3, local4, local5, local6, local7)',
  ]);
});

test("ConfigError carries the first problem's file, line and key, and every problem", () => {
  try {
    parseConfig("[smtp]\nmax_errors = 0\nmax_recipients = 0\n", "/etc/petrel/petrel.toml");
    assert.fail("accepted");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.file, "/etc/petrel/petrel.toml");
    assert.equal(error.line, 2);
    assert.equal(error.key, "smtp.max_errors");
    assert.deepEqual(
      error.problems.map((p) => [p.line, p.key]),
      [
        [2, "smtp.max_errors"],
        [3, "smtp.max_recipients"],
      ],
    );
  }
});

test("duplicate listener names and address+port pairs are refused, and so is port 0", () => {
  const lines = refusal(
    `[[listener]]\nname = "in"\naddress = "127.0.0.1"\nport = 25\n` +
      `[[listener]]\nname = "in"\naddress = "127.0.0.2"\nport = 25\n` +
      `[[listener]]\naddress = "127.0.0.1"\nport = 25\n`,
  );
  assert.deepEqual(lines, [
    'petrel.toml:6: listener[1].name: duplicate listener name "in" (also listener[0]; give each listener its own name)',
    "petrel.toml:11: listener[2].port: 127.0.0.1 port 25 is already used by listener[0]",
  ]);
  const zero = refusal(`[[listener]]\nname = "a"\naddress = "127.0.0.1"\nport = 0\n`);
  assert.equal(zero.length, 1);
  assert.match(zero[0]!, /^petrel\.toml:4: listener\[0\]\.port: /);
  assert.deepEqual(refusal("listener = []\n"), ["petrel.toml:1: listener: expected at least 1 entry"]);
});

test("a TOML syntax error names its line", () => {
  assert.deepEqual(refusal('[smtp]\nmax_errors = 3\nlocal_domains = ["a",\n[log]\n'), [
    "petrel.toml:4: TOML syntax error at column 2: invalid value",
  ]);
  const lines = refusal("[smtp]\nmax_errors = 3\nmax_recipients =\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^petrel\.toml:3: TOML syntax error at column \d+: /);
});

test("a missing file is refused with its name and the reason", async () => {
  const missing = path.join(tmp, "nope.toml");
  await assert.rejects(loadConfig(missing), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.file, missing);
    assert.match(error.message, new RegExp(`^${missing}: cannot read the configuration file: ENOENT`));
    return true;
  });
});

test("loadConfig reads a file and reports its absolute path as the source", async () => {
  const file = path.join(tmp, "petrel.toml");
  await writeFile(file, `[spool]\ndir = "q"\n`);
  const relative = path.relative(process.cwd(), file);
  const { config, source } = await loadConfig(relative);
  assert.equal(source, file);
  assert.equal(config.spool.dir, path.join(tmp, "q"));
});

test("a delivery next hop: a URL alone or a table, and a wrong one says what is expected, at its line", () => {
  assert.deepEqual(refusal(`[delivery]\nrelay = "ftp://host:21"\n[delivery.transports]\n"a.example" = { url = "smtp://gw:25", tls = "maybe" }`), [
    'petrel.toml:2: delivery.relay.url: expected "smtp://host[:port]", "smtps://host[:port]", "lmtp://host[:port]", "unix:/path", "maildir:/path", "mbox:/path" or "mx"',
    'petrel.toml:4: delivery.transports."a.example".tls: "maybe" is not allowed (expected one of: required, opportunistic, none)',
  ]);
  // What delivery could not read is refused here, not found at the first message: a broken address, port 0, a
  // path or credentials in the URL; an LMTP place that is neither; a back-off that shrinks.
  const expected = 'expected "smtp://host[:port]", "smtps://host[:port]", "lmtp://host[:port]", "unix:/path", "maildir:/path", "mbox:/path" or "mx"';
  const urls = ["smtp://[::1", "smtp://relay.example:0", "smtp://user@relay.example:25", "smtp://relay.example:25/path", "lmtp://:24"];
  assert.deepEqual(
    refusal(`[delivery]\nlmtp = "127.0.0.1:24"\nretry_min = "10m"\nretry_max = "1m"\n[delivery.transports]\n${urls.map((url, i) => `"d${i}.example" = "${url}"`).join("\n")}`),
    [
      'petrel.toml:2: delivery.lmtp: expected "lmtp://host[:port]" or "unix:/path"',
      'petrel.toml:4: delivery.retry_max: shorter than retry_min: the wait starts at retry_min and grows up to retry_max',
      ...urls.map((_, i) => `petrel.toml:${6 + i}: delivery.transports."d${i}.example".url: ${expected}`),
    ],
  );
  const portless = parseConfig(`[delivery]\nrelay = "smtp://smarthost.example"\nlmtp = "lmtp://[::1]"`, "petrel.toml");
  assert.equal(portless.delivery.relay?.url, "smtp://smarthost.example", "a port left out is the scheme's (25, 465, 24)");
});

test("networks are checked as the server uses them: a network with host bits set or a bad prefix is refused at its line", () => {
  assert.deepEqual(refusal(`[smtp]\nrelay_networks = ["10.0.0.0/8",\n  "10.0.0.1/8"]\n[[listener]]\naddress = "127.0.0.1"\nport = 25\nproxy_from = ["::1/129"]\n`), [
    'petrel.toml:3: smtp.relay_networks[1]: expected an IP address or a network such as "10.0.0.0/8" (bits past the /8 prefix are set)',
    'petrel.toml:7: listener[0].proxy_from[0]: expected an IP address or a network such as "10.0.0.0/8" (the prefix length must be 0 to 128)',
  ]);
});
