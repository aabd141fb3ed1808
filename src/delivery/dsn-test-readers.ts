// Test support for dsn.test.ts (no product code uses it): reads a composed DSN back with independent
// parsers, postal-mime and Python's email package, and checks the bytes themselves (CRLF lines within
// 998 octets; a part's exact bytes by the MIME delimiter rule). Kept apart so the tests read as a list of
// behaviours.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import PostalMime from "postal-mime";
import type { Dsn } from "./dsn.ts";

/** Every line ends with CRLF (no bare CR or LF), holds at most 998 octets, and there is no NUL. */
export function checkLines(bytes: Buffer): void {
  assert.equal(bytes.includes(0), false, "no NUL");
  let start = 0;
  for (let lf = bytes.indexOf(0x0a); lf >= 0; lf = bytes.indexOf(0x0a, start)) {
    assert.equal(bytes[lf - 1], 0x0d, `bare LF at ${lf}`);
    const line = bytes.subarray(start, lf - 1);
    assert.equal(line.includes(0x0d), false, `bare CR in line at ${start}`);
    assert.ok(line.length <= 998, `line at ${start} is ${line.length} octets`);
    start = lf + 1;
  }
  assert.equal(start, bytes.length, "the report ends with CRLF");
}

export type PythonPart = {
  type: string;
  cte: string | null;
  description: string | null;
  charset: string | null;
  text?: string;
  blocks?: Record<string, string>[];
  inner?: { headers: Record<string, string>; body: string };
};
export type PythonView = {
  defects: string[];
  type: string;
  reportType: string | null;
  headers: Record<string, string>;
  to: string[];
  dates: Record<string, number>;
  parts: PythonPart[];
};

// Python's email package with policy.default. UTF-8 in header fields (RFC 6532) comes out as surrogate
// escapes; fix() turns it back into text, and body() reads a nested message's body as UTF-8 bytes. message/global-delivery-status is parsed by Python as a nested
// message (its first block as header fields), so its other blocks are parsed here one by one.
const pythonReader = String.raw`
import email, email.utils, json, sys
from email import policy

def fix(value):
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8")

def fields(message):
    return {name: fix(value) for name, value in message.items()}

def body(message):
    return message.get_payload(decode=True).decode("utf-8", "replace")

def blocks_of(text):
    text = text.replace("\r\n", "\n")
    return [fields(email.message_from_string(block, policy=policy.default)) for block in text.split("\n\n") if block.strip()]

message = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
defects = [repr(d) for part in message.walk() for d in part.defects]
view = {
    "defects": defects,
    "type": message.get_content_type(),
    "reportType": message.get_param("report-type"),
    "headers": fields(message),
    "to": [fix(address.addr_spec) for address in message["To"].addresses],
    "dates": {},
    "parts": [],
}
for part in message.iter_parts():
    entry = {
        "type": part.get_content_type(),
        "cte": part.get("Content-Transfer-Encoding"),
        "description": part.get("Content-Description"),
        "charset": part.get_param("charset"),
    }
    if part.get_content_type() == "message/delivery-status":
        entry["blocks"] = [fields(block) for block in part.get_payload()]
    elif part.get_content_type() == "message/global-delivery-status":
        inner = part.get_payload()[0]
        entry["blocks"] = [fields(inner)] + blocks_of(body(inner))
    elif part.get_content_maintype() == "message":
        inner = part.get_payload()[0]
        entry["inner"] = {"headers": fields(inner), "body": body(inner)}
    else:
        entry["text"] = part.get_content()
    view["parts"].append(entry)
for part in view["parts"]:
    for block in part.get("blocks", []):
        for name in ("Arrival-Date", "Last-Attempt-Date", "Will-Retry-Until"):
            if name in block:
                view["dates"][name] = email.utils.parsedate_to_datetime(block[name]).timestamp()
view["dates"]["Date"] = email.utils.parsedate_to_datetime(str(message["Date"])).timestamp()
json.dump(view, sys.stdout)
`;

export function python(dsn: Dsn): PythonView {
  const run = spawnSync("python3", ["-c", pythonReader], { input: dsn.message, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const view = JSON.parse(run.stdout) as PythonView;
  assert.deepEqual(view.defects, [], "Python finds no defect");
  return view;
}

export async function postal(dsn: Dsn) {
  return PostalMime.parse(dsn.message, { attachmentEncoding: "arraybuffer" });
}

/** postal-mime's view of an attachment: it turns CRLF into LF and keeps the line break before the delimiter. */
export function attachmentText(content: unknown): string {
  assert.ok(content instanceof ArrayBuffer);
  return Buffer.from(content).toString("utf8").replace(/\n+$/, "");
}

export const asPostalSees = (bytes: Buffer): string => bytes.toString("utf8").replaceAll("\r\n", "\n").replace(/\n+$/, "");

/** The exact bytes of part `index` (0-based), read by RFC 2046 §5.1.1: the CRLF before a delimiter is the delimiter's. */
export function partBytes(dsn: Dsn, index: number): Buffer {
  const raw = dsn.message.toString("latin1");
  const boundary = /boundary="([^"]+)"/.exec(raw)?.[1];
  assert.ok(boundary !== undefined);
  const part = raw.split(`\r\n--${boundary}`)[index + 1];
  assert.ok(part?.startsWith("\r\n") === true);
  return Buffer.from(part.slice(part.indexOf("\r\n\r\n") + 4), "latin1");
}

/** Wrapped text on one line, to match phrases whatever the wrapping. */
export const flat = (text: string): string => text.replace(/\s+/g, " ");
