import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { loadConfig, parseConfig } from "../config/load.ts";
import { keyText, locateKeys } from "../config/locate.ts";
import { runConfigCommand } from "./config-command.ts";

const example = fileURLToPath(new URL("../../examples/petrel.toml", import.meta.url));
const tmp = await mkdtemp(path.join(os.tmpdir(), "petrel-config-check-"));
after(() => rm(tmp, { recursive: true, force: true }));

function collector() {
  const sink = { text: "", stream: undefined as unknown as Writable };
  sink.stream = new Writable({
    write(chunk, _encoding, done) {
      sink.text += String(chunk);
      done();
    },
  });
  return sink;
}

/** A self-signed certificate for `name` with its key, made by openssl. */
async function selfSigned(name: string, key: string, certificate: string): Promise<void> {
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", `/CN=${name}`];
  await promisify(execFile)("openssl", [...args, "-keyout", key, "-out", certificate]);
}

async function run(argv: string[]) {
  const out = collector();
  const err = collector();
  const code = await runConfigCommand(argv, out.stream, err.stream);
  return { code, out: out.text, err: err.text };
}

test("config check prints the effective configuration, which parses back to the same Config", async () => {
  const file = path.join(tmp, "petrel.toml");
  await writeFile(
    file,
    `[server]\nhostname = "mx.example.org"\n[smtp]\nmax_message_size = "10MB"\n[smtp.timeouts]\ndata = 90000\n` +
      `[[listener]]\naddress = "::"\nport = 25\n[log]\nmodules = { smtp = "debug", "odd.name" = "warn" }\n`,
  );
  const { code, out, err } = await run(["check", "--config", file]);
  assert.equal(err, "");
  assert.equal(code, 0);
  assert.ok(out.startsWith(`# Effective configuration, from ${file}\n`));
  assert.match(out, /^max_message_size = "10MB"$/m);
  assert.match(out, /^data = "90s"$/m);
  assert.match(out, /^dir = "\/.*\/var\/spool"$/m);
  const { config } = await loadConfig(file);
  assert.deepEqual(parseConfig(out, path.join(os.tmpdir(), "elsewhere", "printed.toml")), config);
});

test("the embedded default round-trips too, and --config=FILE is understood", async () => {
  const { code, out } = await run(["check"]);
  assert.equal(code, 0);
  assert.ok(out.startsWith("# Effective configuration, from (embedded default)\n"));
  assert.deepEqual(parseConfig(out, "printed.toml"), (await loadConfig()).config);
  const file = path.join(tmp, "spool-only.toml");
  await writeFile(file, `[spool]\ndir = "/srv/spool"\n`);
  const other = await run([`--config=${file}`, "check"]);
  assert.equal(other.code, 0);
  assert.match(other.out, /^dir = "\/srv\/spool"$/m);
});

test("examples/petrel.toml writes every key and passes config check", async () => {
  // Its certificates are in /etc/petrel/tls: a copy of examples/ names ones made here instead.
  const copy = path.join(tmp, "examples");
  await cp(path.dirname(example), copy, { recursive: true });
  await mkdir(path.join(tmp, "etc-tls"));
  for (const name of ["mx.example.org", "mail.example.net"]) await selfSigned(name, path.join(tmp, "etc-tls", `${name}.key`), path.join(tmp, "etc-tls", `${name}.pem`));
  const text = (await readFile(example, "utf8")).replaceAll("/etc/petrel/tls/", `${path.join(tmp, "etc-tls")}/`);
  const copied = path.join(copy, "petrel.toml");
  await writeFile(copied, text);
  const { code, out, err } = await run(["check", "-c", copied]);
  assert.equal(err, "");
  assert.equal(code, 0);
  const written = parseConfig(text, copied);
  assert.deepEqual(parseConfig(out, copied), written);
  // Every key of the effective configuration is written out in the example, none left to an unseen default.
  const leaves = (value: unknown, at: PropertyKey[]): PropertyKey[][] => {
    if (Array.isArray(value) && value.some((item) => typeof item === "object")) {
      return value.flatMap((item, i) => leaves(item, [...at, i]));
    }
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return Object.entries(value).flatMap(([key, item]) => leaves(item, [...at, key]));
    }
    return [at];
  };
  const located = locateKeys(text);
  const unseen = leaves(written, []).map(keyText).filter((key) => !located.has(key));
  assert.deepEqual(unseen, []);
});

test("a refused configuration prints every problem and exits 1", async () => {
  const file = path.join(tmp, "bad.toml");
  await writeFile(file, `[smtp]\nmax_errors = 0\n[[listener]]\naddress = "127.0.0.1"\nprot = 25\n`);
  const { code, out, err } = await run(["check", "--config", file]);
  assert.equal(code, 1);
  assert.equal(out, "");
  assert.deepEqual(err.split("\n"), [
    `${file}:2: smtp.max_errors: 0 is too small (expected at least 1)`,
    `${file}:3: listener[0].port: missing (expected an integer)`,
    `${file}:5: listener[0].prot: unknown key (expected one of: name, address, port, role, max_message_size, greeting_delay, plaintext_auth, proxy_protocol, proxy_from)`,
    `petrel config: 3 problems in ${file}`,
    "",
  ]);
  const missing = await run(["check", "--config", path.join(tmp, "absent.toml")]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /absent\.toml: cannot read the configuration file: ENOENT/);
});

test("the data files it names are read as the server reads them: aliases (with :include:), mailboxes, sender logins, relay passwords", async () => {
  const aliases = path.join(tmp, "aliases");
  const team = path.join(tmp, "team");
  await writeFile(team, "alice, bob\n");
  await writeFile(aliases, `postmaster: root\nteam: :include:${team}\n`);
  const file = path.join(tmp, "files.toml");
  await writeFile(file, `[smtp]\naliases = "${aliases}"\n`);
  const good = await run(["check", "--config", file]);
  assert.equal(good.code, 0, good.err);

  await writeFile(aliases, "postmaster: root\nlist: |/usr/bin/mailman post list\n");
  await writeFile(file, `[smtp]\naliases = "${aliases}"\nmailboxes = "${path.join(tmp, "no-mailboxes")}"\n`);
  const bad = await run(["check", "--config", file]);
  assert.equal(bad.code, 1);
  assert.equal(bad.out, "");
  const lines = bad.err.trimEnd().split("\n");
  assert.equal(lines.length, 2, bad.err);
  assert.match(lines[0]!, new RegExp(`^petrel config: ${aliases}:2: "\\|/usr/bin/mailman post list": delivery to a command or a file is not supported`));
  assert.match(lines[1]!, /^petrel config: .*no-mailboxes/);

  // Forwarding loops are followed through the configured local domains.
  await writeFile(aliases, "owner: sales@example.net\nsales: owner@example.org\n");
  await writeFile(file, `[smtp]\nlocal_domains = ["example.org", "example.net"]\naliases = "${aliases}"\n`);
  const loop = await run(["check", "--config", file]);
  assert.equal(loop.code, 1);
  assert.match(loop.err, new RegExp(`^petrel config: ${aliases}:1: mail for owner@example\\.org reaches no mailbox: it goes round owner@example\\.org → sales@example\\.net → owner@example\\.org`));
  await writeFile(file, `[smtp]\nlocal_domains = ["example.org"]\naliases = "${aliases}"\n`);
  const oneDomain = await run(["check", "--config", file]);
  assert.equal(oneDomain.code, 0, oneDomain.err);

  const empty = path.join(tmp, "empty.password");
  await writeFile(empty, "\n");
  await writeFile(file, `[delivery.credentials]\nhub = { user = "u", password_file = "${empty}" }\nother = { user = "u", password_file = "${path.join(tmp, "absent.password")}" }\n`);
  const logins = await run(["check", "--config", file]);
  assert.equal(logins.code, 1);
  assert.deepEqual(logins.err.trimEnd().split("\n"), [
    `petrel config: delivery.credentials.hub.password_file: ${empty} is empty`,
    `petrel config: delivery.credentials.other.password_file: ${path.join(tmp, "absent.password")}: no such file`,
  ]);
});

test("the certificates it names are read and checked as the server reads them: a missing file, a key that does not fit", async () => {
  const pem = (name: string) => path.join(tmp, name);
  await selfSigned("mx.example.org", pem("a.key"), pem("a.crt"));
  await selfSigned("mx.example.org", pem("b.key"), pem("b.crt"));
  const file = path.join(tmp, "tls.toml");
  await writeFile(file, `[tls]\ncertificate = "${pem("a.crt")}"\nkey = "${pem("a.key")}"\n`);
  const good = await run(["check", "--config", file]);
  assert.equal(good.code, 0, good.err);
  await writeFile(file, `[tls]\ncertificate = "${pem("a.crt")}"\nkey = "${pem("b.key")}"\n`);
  const mismatched = await run(["check", "--config", file]);
  assert.equal(mismatched.code, 1);
  assert.match(mismatched.err, new RegExp(`^petrel config: tls.certificate ${pem("a.crt")} and tls.key ${pem("b.key")}: .*key values mismatch`));
  await writeFile(file, `[tls]\ncertificate = "${pem("a.crt")}"\nkey = "${pem("a.key")}"\nserver_names = [{ name = "mail.example.net", certificate = "${pem("absent.crt")}", key = "${pem("b.key")}" }]\n`);
  const missing = await run(["check", "--config", file]);
  assert.equal(missing.code, 1);
  assert.equal(missing.err, `petrel config: tls.server_names[0].certificate: ${pem("absent.crt")}: no such file\n`);
});

test("usage mistakes exit 2 and say how to call the command", async () => {
  for (const argv of [[], ["verify"], ["check", "extra"], ["check", "--config"]]) {
    const { code, out, err } = await run(argv);
    assert.equal(code, 2, argv.join(" "));
    assert.equal(out, "");
    assert.match(err, /usage: petrel config check \[--config FILE\]/);
  }
  const help = await run(["help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^usage: /);
});
