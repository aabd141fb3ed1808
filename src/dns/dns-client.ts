// Asks one DNS question of the recursive servers Petrel is configured with (dns.servers, else the system's)
// and returns the reply as it came: the wire side of the resolver, with no cache and no reading of answers.
// Queries go over UDP with a random id from a fresh socket connected to the server (a new source port each
// time); a reply counts only if it carries our id and our question, so spoofed and stray packets are
// ignored. A truncated reply (TC) is asked again over TCP. Each try waits `timeout` ms; the servers are
// asked in turn, `attempts` rounds. SERVFAIL, REFUSED and friends move on to the next server; a server that
// answers FORMERR to EDNS is asked once more without it (RFC 6891 §7). Failures are DnsErrors: the
// resolver decides what they mean for delivery.

import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { getServers } from "node:dns";
import { connect, isIP } from "node:net";
import dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, Packet, RecordType } from "dns-packet";

/** One recursive server: an IPv4 or IPv6 address and a port. */
export type DnsServer = { readonly address: string; readonly port: number };

/** What a server answered: its rcode ("NOERROR", "NXDOMAIN"…) and the records of each section. */
export type DnsReply = {
  readonly rcode: string;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  /** "address:port" of the server that answered, for diagnostics. */
  readonly server: string;
};

/**
 * A DNS lookup that failed. `temporary`: worth asking again later (SERVFAIL, REFUSED, TIMEOUT…); permanent
 * ones (NXDOMAIN, NODATA, BADNAME) will give the same answer. `domain` and `type` name the question.
 */
export class DnsError extends Error {
  override readonly name = "DnsError";
  readonly temporary: boolean;
  readonly code: string;
  readonly domain: string;
  readonly type: string;

  constructor(message: string, facts: { code: string; temporary: boolean; domain: string; type: string }) {
    super(message);
    this.code = facts.code;
    this.temporary = facts.temporary;
    this.domain = facts.domain;
    this.type = facts.type;
  }
}

export type DnsClientOptions = {
  /** "address", "address:port", "[ipv6]:port"; empty or absent: the system's servers. */
  readonly servers?: readonly string[] | undefined;
  /** Milliseconds to wait for one reply. */
  readonly timeout: number;
  /** Rounds over the servers. */
  readonly attempts: number;
};

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"] as const;
/** The UDP payload size we advertise: the DNS flag day 2020 value, safe from IP fragmentation. */
const EDNS_PAYLOAD_SIZE = 1232;

/** Reads "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:5353". */
export function parseServer(text: string): DnsServer {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const withPort = /^([^:]+):(\d+)$/.exec(text);
  const [address, port] = bracketed ? [bracketed[1], bracketed[2]] : withPort ? [withPort[1], withPort[2]] : [text, undefined];
  const number = port === undefined ? 53 : Number(port);
  if (address === undefined || isIP(address) === 0 || !Number.isInteger(number) || number < 1 || number > 65535) {
    throw new TypeError(`"${text}" is not a DNS server: write an IP address, "address:port" or "[IPv6 address]:port"`);
  }
  return { address, port: number };
}

function serverText(server: DnsServer): string {
  return isIP(server.address) === 6 ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
}

type Question = { readonly name: string; readonly type: RecordType };

export class DnsClient {
  readonly #servers: readonly DnsServer[];
  readonly #timeout: number;
  readonly #attempts: number;

  constructor(options: DnsClientOptions) {
    const configured = options.servers !== undefined && options.servers.length > 0 ? options.servers : getServers();
    this.#servers = configured.map(parseServer);
    if (!(options.timeout > 0) || !Number.isInteger(options.attempts) || options.attempts < 1) {
      throw new RangeError(`DNS timeout must be above 0 ms and attempts a whole number from 1 (got ${options.timeout} ms, ${options.attempts})`);
    }
    this.#timeout = options.timeout;
    this.#attempts = options.attempts;
  }

  /** The reply of the first server that answers NOERROR or NXDOMAIN; else a temporary DnsError. */
  async query(name: string, type: RecordType): Promise<DnsReply> {
    const question: Question = { name, type };
    if (this.#servers.length === 0) {
      throw new DnsError(`no DNS server to ask for ${name} ${type}: set dns.servers`, { code: "NOSERVER", temporary: true, domain: name, type });
    }
    let replyFailure: DnsError | undefined;
    let transportFailure: DnsError | undefined;
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      for (const server of this.#servers) {
        try {
          const reply = await this.#ask(server, question);
          if (reply.rcode === "NOERROR" || reply.rcode === "NXDOMAIN") return reply;
          replyFailure = new DnsError(`${name} ${type}: ${reply.rcode} from ${reply.server}`, { code: reply.rcode, temporary: true, domain: name, type });
        } catch (error) {
          if (!(error instanceof DnsError)) throw error;
          transportFailure = error;
        }
      }
    }
    // An answer from a server says more than the silence of another. (One of them is set: attempts >= 1.)
    throw replyFailure ?? (transportFailure as DnsError);
  }

  async #ask(server: DnsServer, question: Question): Promise<DnsReply> {
    let reply = await this.#exchange(server, question, true);
    if (reply.rcode === "FORMERR") reply = await this.#exchange(server, question, false);
    return reply;
  }

  async #exchange(server: DnsServer, question: Question, edns: boolean): Promise<DnsReply> {
    const id = randomInt(0, 65536);
    const query = encodeQuery(id, question, edns);
    const exchange: Exchange = { server, question, query, fits: (packet) => answersQuestion(packet, id, question), timeout: this.#timeout };
    let packet = await exchangeOverUdp(exchange);
    if (packet.flag_tc) packet = await exchangeOverTcp(exchange);
    const rcodeNumber = (packet.flags ?? 0) & 0xf;
    return {
      rcode: RCODES[rcodeNumber] ?? `RCODE${rcodeNumber}`,
      answers: packet.answers ?? [],
      authorities: packet.authorities ?? [],
      server: serverText(server),
    };
  }
}

function encodeQuery(id: number, question: Question, edns: boolean): Buffer {
  const query: Packet = {
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: question.name, type: question.type, class: "IN" }],
  };
  if (edns) {
    query.additionals = [
      { type: "OPT", name: ".", udpPayloadSize: EDNS_PAYLOAD_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] },
    ];
  }
  return dnsPacket.encode(query);
}

/** A reply to our query: our id, the response bit, and our question (names compare without case). */
function answersQuestion(packet: DecodedPacket, id: number, question: Question): boolean {
  const asked = packet.questions;
  if (packet.id !== id || !packet.flag_qr || asked?.length !== 1) return false;
  const [only] = asked;
  return only !== undefined && only.type === question.type && (only.class ?? "IN") === "IN" && only.name.toLowerCase() === question.name.toLowerCase();
}

function decodeOrNull(message: Buffer): DecodedPacket | null {
  try {
    return dnsPacket.decode(message);
  } catch {
    return null;
  }
}

function transportError(question: Question, server: DnsServer, code: string, what: string): DnsError {
  return new DnsError(`${question.name} ${question.type}: ${what} (${serverText(server)})`, { code, temporary: true, domain: question.name, type: question.type });
}

type Reply = (packet: DecodedPacket) => void;
type Fail = (code: string, what: string) => void;

/** One query to one server: `fits` tells the packet that answers it. */
type Exchange = {
  readonly server: DnsServer;
  readonly question: Question;
  readonly query: Buffer;
  readonly fits: (packet: DecodedPacket) => boolean;
  readonly timeout: number;
};

/**
 * One exchange under a deadline. `start` opens the socket, reports through `answer` or `fail` and returns how to
 * close it; the first report (or the deadline) settles the exchange, clears the timer and closes the socket.
 */
function exchangeOnce(
  { question, server, timeout }: Exchange,
  late: string,
  start: (answer: Reply, fail: Fail) => () => void,
): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      finish();
    };
    const fail: Fail = (code, what) => settle(() => reject(transportError(question, server, code, what)));
    const timer = setTimeout(() => fail("TIMEOUT", late), timeout);
    const close = start((packet) => settle(() => resolve(packet)), fail);
  });
}

/** Sends the query from a fresh connected UDP socket; resolves with the first packet that answers it. */
function exchangeOverUdp(exchange: Exchange): Promise<DecodedPacket> {
  const { server, query, fits, timeout } = exchange;
  return exchangeOnce(exchange, `no reply within ${timeout} ms`, (answer, fail) => {
    const socket = createSocket(isIP(server.address) === 6 ? "udp6" : "udp4");
    socket.on("message", (message) => {
      const packet = decodeOrNull(message);
      if (packet !== null && fits(packet)) answer(packet);
    });
    socket.on("error", (error: NodeJS.ErrnoException) => fail("UNREACHABLE", `server unreachable: ${error.code ?? error.message}`));
    socket.connect(server.port, server.address, () => socket.send(query));
    return () => socket.close();
  });
}

/** Asks over TCP (2-byte length prefix, RFC 1035 §4.2.2, RFC 7766); the reply must answer the query. */
function exchangeOverTcp(exchange: Exchange): Promise<DecodedPacket> {
  const { server, query, fits, timeout } = exchange;
  return exchangeOnce(exchange, `no reply over TCP within ${timeout} ms`, (answer, fail) => {
    const socket = connect({ host: server.address, port: server.port });
    let received = Buffer.alloc(0);
    socket.on("connect", () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.write(Buffer.concat([length, query]));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const packet = decodeOrNull(received.subarray(2, 2 + received.readUInt16BE(0)));
      if (packet !== null && fits(packet)) answer(packet);
      else fail("BADREPLY", "the reply over TCP does not answer the query");
    });
    socket.on("error", (error: NodeJS.ErrnoException) => fail("UNREACHABLE", `server unreachable over TCP: ${error.code ?? error.message}`));
    socket.on("close", () => fail("BADREPLY", "the server closed the TCP connection before replying"));
    return () => socket.destroy();
  });
}
