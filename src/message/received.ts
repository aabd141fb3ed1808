// The Received: trace header (RFC 5321 §4.4) that Petrel prepends to every message it accepts.
// It records who handed the message over (HELO name, reverse name, address), who took it (our host name,
// the protocol keyword of RFC 3848 / RFC 6531 and the queue id), the recipient when there is exactly one,
// and the time. It only formats bytes; it never looks anything up.

export type ReceivedTrace = {
  readonly helo: string;
  readonly clientAddress: string;
  readonly clientName: string | null;
  readonly hostname: string;
  readonly protocol: string;
  /** The TLS protocol version and cipher, when the message came over TLS. */
  readonly tls: { readonly version: string; readonly cipher: string } | null;
  readonly queueId: string;
  readonly recipient: string | null;
  readonly date: Date;
};

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

const two = (n: number): string => (n < 10 ? "0" : "") + n;

/** RFC 5322 §3.3 date-time in the local time zone, e.g. "Sat, 28 Nov 2026 22:37:11 +0100". */
export function formatDate(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return (
    `${DAYS[date.getDay()]}, ${date.getDate()} ${MONTHS[date.getMonth()]} ${date.getFullYear()} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}

/** An address literal as it appears inside the Received "from" clause. */
function addressLiteral(address: string): string {
  if (address.startsWith("::ffff:") && address.includes(".")) return `[${address.slice(7)}]`;
  return address.includes(":") ? `[IPv6:${address}]` : `[${address}]`;
}

/** Characters a client could use to forge extra header lines or comments are replaced. */
function clean(text: string): string {
  return text.replace(/[\x00-\x20()\\\x7f]/g, "?");
}

export function formatReceived(trace: ReceivedTrace): Buffer {
  const name = trace.clientName ?? "unknown";
  let header =
    `Received: from ${clean(trace.helo)} (${clean(name)} ${addressLiteral(trace.clientAddress)})\r\n` +
    (trace.tls === null ? "" : `\t(using ${clean(trace.tls.version)} with cipher ${clean(trace.tls.cipher)})\r\n`) +
    `\tby ${trace.hostname} (Petrel) with ${trace.protocol} id ${trace.queueId}`;
  if (trace.recipient !== null) header += `\r\n\tfor <${trace.recipient.replace(/[\x00-\x1f<>\x7f]/g, "?")}>`;
  header += `;\r\n\t${formatDate(trace.date)}\r\n`;
  return Buffer.from(header, "utf8");
}
