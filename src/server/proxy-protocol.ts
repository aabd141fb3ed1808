// The PROXY protocol header (HAProxy's specification, versions 1 and 2) that a load balancer sends before
// the SMTP conversation, naming the real client. Parses bytes only: the listener decides who may send one.
// Version 1: "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n" (at most 107 bytes). Version 2: a 12-byte
// signature, version/command, family, length, then the addresses. LOCAL and UNKNOWN mean "no client
// address": the connection's own is kept.

import { isIP } from "node:net";

export type ProxyHeader = { readonly client: { readonly address: string; readonly port: number } | null };
export type ProxyParse = { readonly header: ProxyHeader; readonly rest: Buffer } | { readonly error: string } | null;

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

/** The header at the start of `bytes`: parsed, an error, or null while more bytes are needed. */
export function parseProxyHeader(bytes: Buffer): ProxyParse {
  if (bytes.length >= 1 && bytes[0] === 0x0d) return parseV2(bytes);
  if (!Buffer.from("PROXY ").subarray(0, Math.min(6, bytes.length)).equals(bytes.subarray(0, Math.min(6, bytes.length)))) {
    return { error: "no PROXY protocol header" };
  }
  const end = bytes.indexOf("\r\n");
  if (end < 0) return bytes.length >= V1_MAX ? { error: "PROXY v1 header too long" } : null;
  const fields = bytes.subarray(0, end).toString("latin1").split(" ");
  const rest = bytes.subarray(end + 2);
  if (fields[1] === "UNKNOWN") return { header: { client: null }, rest };
  if (fields.length !== 6 || (fields[1] !== "TCP4" && fields[1] !== "TCP6")) return { error: "malformed PROXY v1 header" };
  const [, family, source, , sourcePort] = fields as [string, string, string, string, string, string];
  const port = Number(sourcePort);
  if (isIP(source) !== (family === "TCP4" ? 4 : 6) || !/^\d{1,5}$/.test(sourcePort) || port > 65535) {
    return { error: "malformed PROXY v1 address" };
  }
  return { header: { client: { address: source, port } }, rest };
}

function parseV2(bytes: Buffer): ProxyParse {
  const signature = bytes.subarray(0, Math.min(12, bytes.length));
  if (!V2_SIGNATURE.subarray(0, signature.length).equals(signature)) return { error: "no PROXY protocol header" };
  if (bytes.length < 16) return null;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { error: "PROXY v2: unknown version" };
  const length = bytes.readUInt16BE(14);
  if (bytes.length < 16 + length) return null;
  const body = bytes.subarray(16, 16 + length);
  const rest = bytes.subarray(16 + length);
  const command = versionCommand & 0x0f;
  if (command === 0) return { header: { client: null }, rest }; // LOCAL: a health check of the balancer
  if (command !== 1) return { error: "PROXY v2: unknown command" };
  const family = bytes[13]! >> 4;
  if (family === 1 && body.length >= 12) {
    const address = [...body.subarray(0, 4)].join(".");
    return { header: { client: { address, port: body.readUInt16BE(8) } }, rest };
  }
  if (family === 2 && body.length >= 36) {
    const groups = Array.from({ length: 8 }, (_, i) => body.readUInt16BE(i * 2).toString(16)).join(":");
    const address = new URL(`http://[${groups}]/`).hostname.slice(1, -1); // the usual compressed form
    return { header: { client: { address, port: body.readUInt16BE(32) } }, rest };
  }
  return { header: { client: null }, rest }; // UNSPEC or AF_UNIX: no IP client
}
