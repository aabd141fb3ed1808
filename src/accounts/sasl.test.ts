import { test } from "node:test";
import assert from "node:assert/strict";
import { makeCredentials, parseCredentials, formatCredentials, scramKeys, passwordMatches } from "./credentials.ts";
import { startSasl, type AccountStore } from "./sasl.ts";
import { AuthFailures } from "./auth-failures.ts";

const secret = Buffer.alloc(32, 7);

test("SCRAM-SHA-256 follows the RFC 7677 example exchange byte for byte", async () => {
  const keys = scramKeys("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
  const credentials = { scrypt: { salt: Buffer.alloc(16), hash: Buffer.alloc(32) }, scram: keys };
  const store: AccountStore = { credentials: async (user) => (user === "user" ? credentials : undefined) };
  const exchange = startSasl("SCRAM-SHA-256", store, secret, () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  const first = await exchange.step(Buffer.from("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  assert.deepEqual(first, {
    kind: "challenge",
    data: Buffer.from("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
  });
  const final = await exchange.step(
    Buffer.from("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
  );
  assert.deepEqual(final, { kind: "challenge", data: Buffer.from("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") });
  assert.deepEqual(await exchange.step(Buffer.alloc(0)), { kind: "success", user: "user" });
});

test("SCRAM: a wrong proof fails; an unknown user gets a salt that stays the same and fails the same way", async () => {
  const store: AccountStore = { credentials: async () => undefined };
  const salts = [];
  for (let n = 0; n < 2; n++) {
    const exchange = startSasl("SCRAM-SHA-256", store, secret, () => "servernonce");
    const first = await exchange.step(Buffer.from("n,,n=nobody,r=abc"));
    assert.equal(first.kind, "challenge");
    salts.push(/s=([^,]+)/.exec((first as { data: Buffer }).data.toString())?.[1]);
    const final = await exchange.step(Buffer.from(`c=biws,r=abcservernonce,p=${Buffer.alloc(32).toString("base64")}`));
    assert.deepEqual(final, { kind: "failure", user: "nobody" });
  }
  assert.equal(salts[0], salts[1]);
});

test("PLAIN and LOGIN accept the password, refuse a wrong one and an unknown user alike, and PLAIN refuses another authzid", async () => {
  const credentials = await makeCredentials("correct horse");
  const store: AccountStore = { credentials: async (user) => (user === "alice" ? credentials : undefined) };
  const plain = (text: string) => startSasl("PLAIN", store, secret).step(Buffer.from(text));
  assert.deepEqual(await plain("\0alice\0correct horse"), { kind: "success", user: "alice" });
  assert.deepEqual(await plain("alice\0alice\0correct horse"), { kind: "success", user: "alice" });
  assert.deepEqual(await plain("\0alice\0wrong"), { kind: "failure", user: "alice" });
  assert.deepEqual(await plain("\0mallory\0correct horse"), { kind: "failure", user: "mallory" });
  assert.deepEqual(await plain("bob\0alice\0correct horse"), { kind: "failure", user: "alice" });
  assert.deepEqual(await plain("no separators"), { kind: "malformed" });
  const login = startSasl("LOGIN", store, secret);
  assert.deepEqual(await login.step(null), { kind: "challenge", data: Buffer.from("Username:") });
  assert.deepEqual(await login.step(Buffer.from("alice")), { kind: "challenge", data: Buffer.from("Password:") });
  assert.deepEqual(await login.step(Buffer.from("correct horse")), { kind: "success", user: "alice" });
});

test("credentials keep no password and read back what they wrote", async () => {
  const credentials = await makeCredentials("s3cret-passphrase");
  const line = formatCredentials(credentials);
  assert.ok(!line.includes("s3cret"));
  const again = parseCredentials(line)!;
  assert.ok(await passwordMatches(again, "s3cret-passphrase"));
  assert.ok(!(await passwordMatches(again, "s3cret-passphrasE")));
  assert.equal(parseCredentials("plain:password"), null);
});

test("failures grow the delay, lock the address out at the limit, and a success forgets them", () => {
  const failures = new AuthFailures({ maxFailures: 3, lockout: 60_000, failureDelay: 100 });
  assert.equal(failures.failed("192.0.2.1", 0), 100);
  assert.equal(failures.failed("192.0.2.1", 10), 200);
  assert.equal(failures.isLockedOut("192.0.2.1", 20), false);
  failures.failed("192.0.2.1", 30);
  assert.equal(failures.isLockedOut("192.0.2.1", 40), true);
  assert.equal(failures.isLockedOut("192.0.2.2", 40), false, "other addresses are not affected");
  assert.equal(failures.isLockedOut("192.0.2.1", 60_031), false, "the lockout ends");
  failures.failed("192.0.2.3", 0);
  failures.succeeded("192.0.2.3");
  assert.equal(failures.failed("192.0.2.3", 1), 100, "counting starts again after a success");
});
