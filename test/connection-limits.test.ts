// Connection limits over the wire: the connection past max_connections_per_client, and the one past the
// per-minute rate, are answered 421 4.7.0 and closed, while the connections already open go on.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient } from "./support/smtp-client.ts";

test("a client over max_connections_per_client gets 421 4.7.0; closing one lets it in again", async () => {
  const petrel = await Petrel.start({ toml: "[limits]\nmax_connections_per_client = 2" });
  try {
    const first = await RawClient.greeted(petrel.port);
    const second = await RawClient.greeted(petrel.port);
    const third = await RawClient.open(petrel.port);
    assert.deepEqual((await third.read())?.lines, ["421 4.7.0 too many connections, try again later"]);
    await third.closed();
    assert.equal((await first.command("NOOP"))?.code, 250, "the open sessions go on");
    first.close();
    await petrel.waitFor((line) => line["event"] === "disconnect");
    const again = await RawClient.greeted(petrel.port);
    assert.equal((await again.command("NOOP"))?.code, 250);
    again.close();
    second.close();
    const refused = await petrel.waitFor((line) => line["event"] === "connection-refused");
    assert.equal(refused["reason"], "client-full");
  } finally {
    await petrel.remove();
  }
});

test("new connections from one client over connection_rate_per_client in a minute get 421 4.7.0", async () => {
  const petrel = await Petrel.start({ toml: "[limits]\nconnection_rate_per_client = 3" });
  try {
    for (let n = 0; n < 3; n++) {
      const client = await RawClient.greeted(petrel.port);
      client.close();
    }
    const fourth = await RawClient.open(petrel.port);
    assert.deepEqual((await fourth.read())?.lines, ["421 4.7.0 too many connections, try again later"]);
    fourth.close();
    assert.equal((await petrel.waitFor((line) => line["event"] === "connection-refused"))["reason"], "client-rate");
  } finally {
    await petrel.remove();
  }
});

test("messages from one client over message_rate_per_client in a minute get 450 4.7.1 at MAIL", async () => {
  const petrel = await Petrel.start({ toml: "[limits]\nmessage_rate_per_client = 2" });
  try {
    const client = await RawClient.greeted(petrel.port, { ehlo: "bulk.example" });
    for (let n = 0; n < 2; n++) {
      assert.equal((await client.sendMail("bulk@example.org", ["postmaster@localhost"], "Subject: x\r\n\r\nx\r\n"))?.code, 250);
    }
    assert.deepEqual((await client.command("MAIL FROM:<bulk@example.org>"))?.lines, [
      "450 4.7.1 too many messages from your address, try again later",
    ]);
    assert.equal((await client.command("NOOP"))?.code, 250, "the session goes on");
    client.close();
  } finally {
    await petrel.remove();
  }
});

test("the tarpit: refusals past error_delay_after wait longer and longer, then max_errors ends the session", async () => {
  const petrel = await Petrel.start({ toml: '[limits]\nerror_delay = "200ms"\nerror_delay_after = 1\n[smtp]\nmax_errors = 4' });
  try {
    const client = await RawClient.greeted(petrel.port, { ehlo: "noisy.example" });
    const waits: number[] = [];
    for (let n = 0; n < 3; n++) {
      const started = performance.now();
      assert.equal((await client.command(`XYZZY${n}`))?.code, 500);
      waits.push(performance.now() - started);
    }
    assert.ok(waits[1]! >= 190 && waits[2]! >= 390, `growing delays, got ${waits.map(Math.round).join(", ")} ms`);
    assert.equal((await client.command("XYZZY3"))?.code, 500, "the fourth refusal still comes");
    assert.deepEqual((await client.read())?.lines, ["421 4.7.0 too many errors, closing connection"]);
    await client.closed();
  } finally {
    await petrel.remove();
  }
});

test("a client trickling a command byte by byte (slowloris) is cut off after the command timeout", async () => {
  const petrel = await Petrel.start({ toml: '[smtp.timeouts]\ncommand = "1s"' });
  try {
    const client = await RawClient.greeted(petrel.port);
    const started = performance.now();
    let reply = null;
    for (const byte of "NOOP this takes forever to type\r\n") {
      client.write(byte);
      const timer = new Promise((resolve) => setTimeout(resolve, 100));
      reply = await Promise.race([client.read(), timer.then(() => null)]);
      if (reply !== null) break;
    }
    assert.deepEqual(reply?.lines, ["421 4.4.2 timeout exceeded, closing connection"]);
    assert.ok(performance.now() - started >= 1000, "not before the command timeout");
    await petrel.waitFor((line) => line["event"] === "too-slow");
  } finally {
    await petrel.remove();
  }
});
