// PROXY protocol listeners: a header from an allowed balancer makes the session, the logs and the Received
// header see the real client (v1 and v2, and before TLS on a submissions listener); a header from anyone else, or no header, gets the door shut.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { Petrel, freePort } from "./support/petrel-process.ts";
import { RawClient, queueIdOf } from "./support/smtp-client.ts";

let petrel: Petrel;
let trusted: number;
let untrusted: number;
let implicitTls: number;

before(async () => {
  [trusted, untrusted, implicitTls] = [await freePort(), await freePort(), await freePort()];
  petrel = await Petrel.start({
    toml:
      `[[listener]]\nname = "behind-balancer"\naddress = "127.0.0.1"\nport = ${trusted}\nrole = "mta"\n` +
      `proxy_protocol = true\nproxy_from = ["127.0.0.0/8"]\n` +
      `[[listener]]\nname = "other-balancer"\naddress = "127.0.0.1"\nport = ${untrusted}\nrole = "mta"\n` +
      `proxy_protocol = true\nproxy_from = ["192.0.2.1"]\n` +
      `[[listener]]\nname = "submissions-behind-balancer"\naddress = "127.0.0.1"\nport = ${implicitTls}\n` +
      `role = "submissions"\nproxy_protocol = true\nproxy_from = ["127.0.0.1"]`,
  });
});
after(() => petrel.remove());

async function throughBalancer(header: Buffer): Promise<string> {
  const client = await RawClient.open(trusted);
  client.write(header);
  assert.equal((await client.read())?.code, 220);
  assert.equal((await client.command("EHLO relayed.example"))?.code, 250);
  const id = queueIdOf(await client.sendMail("far@example.org", ["postmaster@localhost"], "Subject: proxied\r\n\r\nx\r\n"));
  client.close();
  return id;
}

test("PROXY v1 from the balancer: the session, the log and Received name the real client", async () => {
  const id = await throughBalancer(Buffer.from("PROXY TCP4 203.0.113.7 127.0.0.1 40001 25\r\n"));
  assert.match((await petrel.spooled(id)).received, /\[203\.0\.113\.7\]/);
  const connect = await petrel.waitFor((line) => line["event"] === "connect" && line["client"] === "203.0.113.7");
  assert.equal(connect["port"], 40001);
});

test("PROXY v2 from the balancer, IPv6 client", async () => {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const addresses = Buffer.alloc(36);
  addresses.writeUInt16BE(0x2001, 0);
  addresses.writeUInt16BE(0x0db8, 2);
  addresses.writeUInt16BE(0x99, 14);
  addresses.writeUInt16BE(0x0001, 30);
  addresses.writeUInt16BE(40002, 32);
  addresses.writeUInt16BE(25, 34);
  const id = await throughBalancer(Buffer.concat([signature, Buffer.from([0x21, 0x21, 0x00, 36]), addresses]));
  assert.match((await petrel.spooled(id)).received, /\[IPv6:2001:db8::99\]/);
});

/**
 * A TLS client whose first packet carries the PROXY header and the ClientHello together, as HAProxy sends them;
 * resolves with everything the server said in answer to EHLO, once it closes after QUIT.
 */
function implicitTlsBehindBalancer(header: string): Promise<string> {
  const raw = connect({ port: implicitTls, host: "127.0.0.1" });
  let first = true;
  const carrier = new Duplex({
    write(chunk: Buffer, _encoding, done) {
      raw.write(first ? Buffer.concat([Buffer.from(header), chunk]) : chunk, done);
      first = false;
    },
    read() {},
  });
  raw.on("data", (data) => carrier.push(data));
  raw.on("close", () => carrier.destroy());
  const secure = tlsConnect({ socket: carrier, rejectUnauthorized: false });
  let said = "";
  secure.on("data", (data: Buffer) => {
    said += data.toString();
    if (said.startsWith("220 ") && !said.includes("EHLO")) {
      said += "EHLO\n";
      secure.write("EHLO relayed.example\r\nQUIT\r\n");
    }
  });
  return new Promise((resolve, reject) => {
    secure.on("error", reject);
    secure.on("close", () => resolve(said));
  });
}

test("a submissions listener behind a balancer: PROXY header and ClientHello in one packet, then SMTP over TLS", async () => {
  const said = await implicitTlsBehindBalancer("PROXY TCP4 198.51.100.4 127.0.0.1 40003 465\r\n");
  assert.match(said, /^220 /);
  assert.match(said, /250.AUTH PLAIN LOGIN/, "AUTH is offered: the session knows it is encrypted");
  assert.match(said, /221 /);
  const connect = await petrel.waitFor((line) => line["event"] === "connect" && line["client"] === "198.51.100.4");
  assert.equal(connect["port"], 40003);
  assert.equal(connect["listener"], "submissions-behind-balancer");
});

test("a PROXY header from an address not in proxy_from is spoofing: closed without a greeting", async () => {
  const client = await RawClient.open(untrusted);
  client.write("PROXY TCP4 198.51.100.1 127.0.0.1 40003 25\r\n");
  assert.equal(await client.read(), null);
  const refused = await petrel.waitFor((line) => line["event"] === "proxy-refused");
  assert.equal(refused["reason"], "not in proxy_from");
  assert.ok(!petrel.lines.some((line) => line["client"] === "198.51.100.1"), "no session for the spoofed client");
});

test("a connection to a PROXY listener that starts with SMTP instead is closed", async () => {
  const client = await RawClient.open(trusted);
  client.write("EHLO sneaky.example\r\n");
  assert.equal(await client.read(), null);
  await petrel.waitFor((line) => line["event"] === "proxy-refused" && line["reason"] === "no PROXY protocol header");
});
