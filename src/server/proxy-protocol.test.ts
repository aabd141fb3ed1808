import { test } from "node:test";
import assert from "node:assert/strict";
import { parseProxyHeader } from "./proxy-protocol.ts";

test("PROXY v1: TCP4, TCP6 and UNKNOWN; more bytes needed; malformed and overlong headers refused", () => {
  assert.deepEqual(parseProxyHeader(Buffer.from("PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\nEHLO")), {
    header: { client: { address: "203.0.113.7", port: 40000 } },
    rest: Buffer.from("EHLO"),
  });
  assert.deepEqual(parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n")), {
    header: { client: { address: "2001:db8::7", port: 40000 } },
    rest: Buffer.alloc(0),
  });
  assert.deepEqual(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n")), { header: { client: null }, rest: Buffer.alloc(0) });
  assert.equal(parseProxyHeader(Buffer.from("PROXY TCP4 203.0.")), null);
  assert.equal(parseProxyHeader(Buffer.from("PRO")), null);
  assert.ok("error" in parseProxyHeader(Buffer.from("PROXY TCP4 999.0.113.7 192.0.2.1 40000 25\r\n"))!);
  assert.ok("error" in parseProxyHeader(Buffer.from("PROXY TCP4 2001:db8::7 192.0.2.1 40000 25\r\n"))!);
  assert.ok("error" in parseProxyHeader(Buffer.from(`PROXY TCP4 ${"1".repeat(120)}`))!);
  assert.ok("error" in parseProxyHeader(Buffer.from("EHLO client.example\r\n"))!);
});

test("PROXY v2: PROXY over IPv4 and IPv6, LOCAL, and a header split across reads", () => {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const v4 = Buffer.concat([signature, Buffer.from([0x21, 0x11, 0x00, 12, 203, 0, 113, 7, 192, 0, 2, 1, 0x9c, 0x40, 0, 25])]);
  assert.deepEqual(parseProxyHeader(Buffer.concat([v4, Buffer.from("x")])), {
    header: { client: { address: "203.0.113.7", port: 40000 } },
    rest: Buffer.from("x"),
  });
  assert.equal(parseProxyHeader(v4.subarray(0, 20)), null);
  const v6body = Buffer.alloc(36);
  v6body.writeUInt16BE(0x2001, 0);
  v6body.writeUInt16BE(0x0db8, 2);
  v6body.writeUInt16BE(7, 14);
  v6body.writeUInt16BE(40000, 32);
  const v6 = Buffer.concat([signature, Buffer.from([0x21, 0x21, 0x00, 36]), v6body]);
  assert.deepEqual(parseProxyHeader(v6), { header: { client: { address: "2001:db8::7", port: 40000 } }, rest: Buffer.alloc(0) });
  const local = Buffer.concat([signature, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  assert.deepEqual(parseProxyHeader(local), { header: { client: null }, rest: Buffer.alloc(0) });
});
