// The ctx of the stages that see the message (preq, postq, delivery): the header section as an
// editable HeaderFields, the whole message on demand, its MIME structure parsed once by postal-mime, and the
// exports (.eml, .json) into a directory. Edits stay in the HeaderFields until the server writes them into the
// spooled message after the stage; raw() and the exports already show them.

import { randomBytes } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import PostalMime, { type Email } from "postal-mime";
import type { Attachment, Exports, Message, Recipient, RouteTarget, Routing } from "./api.ts";
import { type EnvelopeRecipient, MailStageContext, type MailSetup, RoutingView, recipientView } from "./contexts.ts";
import type { HeaderFields } from "../message/header-fields.ts";

/** The message as the transaction holds it. */
export interface MessageSource {
  readonly queueId: string | null;
  readonly size: number;
  /** The first `limit` bytes of the message. */
  readHead(limit: number): Promise<Buffer>;
}

/** The header section rules edit: its fields, where it starts (after Petrel's Received header) and its length. */
export type HeaderSection = { readonly fields: HeaderFields; readonly start: number; readonly length: number };

class MessageView implements Message {
  readonly #source: MessageSource;
  readonly #section: HeaderSection;
  #mime: Promise<Email> | null = null;

  constructor(source: MessageSource, section: HeaderSection) {
    this.#source = source;
    this.#section = section;
  }

  get size(): number {
    return this.#source.size - this.#section.length + this.#section.fields.byteLength;
  }

  get headers(): HeaderFields {
    return this.#section.fields;
  }

  async raw(): Promise<Buffer> {
    const whole = await this.#source.readHead(this.#source.size);
    const { fields, start, length } = this.#section;
    return Buffer.concat([whole.subarray(0, start), fields.toBuffer(), whole.subarray(start + length)]);
  }

  mime(): Promise<Email> {
    this.#mime ??= this.raw().then((raw) => PostalMime.parse(raw, { attachmentEncoding: "arraybuffer" }));
    return this.#mime;
  }

  async attachments(): Promise<readonly Attachment[]> {
    const email = await this.mime();
    return email.attachments.map((attachment) => ({
      filename: attachment.filename,
      mimeType: attachment.mimeType,
      size: typeof attachment.content === "string" ? Buffer.byteLength(attachment.content) : attachment.content.byteLength,
    }));
  }
}

/** Writes a file under a temporary name, then renames it: a reader never sees half of it. */
async function writeWhole(directory: string, name: string, data: Buffer | string): Promise<string> {
  await mkdir(directory, { recursive: true });
  const path = join(directory, name);
  const temporary = join(directory, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temporary, data, { mode: 0o640 });
  await rename(temporary, path);
  return path;
}

export class MessageStageContext extends MailStageContext {
  readonly queueId: string;
  readonly message: MessageView;
  readonly route: Routing;
  readonly export: Exports;
  /** At the delivery stage: the recipient about to be delivered (routes without a target are its own). */
  readonly recipient: Recipient | undefined;

  protected override get logQueueId(): string | undefined {
    return this.queueId;
  }

  constructor(stage: "preq" | "postq" | "delivery", setup: MailSetup, source: MessageSource, section: HeaderSection, current?: EnvelopeRecipient) {
    super(stage, setup);
    this.queueId = source.queueId ?? "";
    const message = new MessageView(source, section);
    this.message = message;
    this.recipient = current === undefined ? undefined : recipientView(current, setup.localDomains, setup.envelope.sender);
    this.route = new RoutingView((target?: RouteTarget) => (current !== undefined && target?.recipient === undefined ? [current] : this.pick(target)));
    const envelope = this.envelope;
    this.export = {
      eml: async (directory) => writeWhole(directory, `${this.queueId}.eml`, await message.raw()),
      json: async (directory) => {
        const email = await message.mime();
        const document = {
          queueId: this.queueId,
          receivedAt: this.now.toISOString(),
          envelope: { sender: envelope.sender, recipients: envelope.recipients },
          client: this.connection.client,
          headers: headerList(message.headers),
          mime: {
            subject: email.subject,
            from: email.from,
            to: email.to,
            date: email.date,
            messageId: email.messageId,
            text: email.text,
            html: email.html,
            attachments: email.attachments.map(({ filename, mimeType, disposition, contentId }) => ({ filename, mimeType, disposition, contentId })),
          },
        };
        return writeWhole(directory, `${this.queueId}.json`, `${JSON.stringify(document, null, 2)}\n`);
      },
    };
  }
}

/** Every field in order as { name, value }: the n-th field of a name takes the n-th value of getAll(name). */
function headerList(headers: HeaderFields): { name: string; value: string | undefined }[] {
  const seen = new Map<string, number>();
  return headers.names().map((name) => {
    const key = name.toLowerCase();
    const index = seen.get(key) ?? 0;
    seen.set(key, index + 1);
    return { name, value: headers.getAll(name)[index] };
  });
}
