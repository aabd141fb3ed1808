// Office hours for bulk senders: the newsletter tool and the billing run may send only while someone is at
// work to notice when a campaign goes wrong. Outside office hours their mail gets "451 4.7.1" at MAIL: a
// temporary refusal, so the tool (or its relay) keeps it and tries again, and it goes out in the morning.
// Everyone else's mail is not affected.
//
// The time is ctx.now (when the stage started) in the configured time zone, so the rule is the same on every
// server whatever its own clock's zone. A window may run past midnight ("22:00-06:00").
//
// Settings ([rules.settings]):
//   bulk_senders = ["newsletter@example.org", "@billing.example.org"]   who counts as a bulk sender (default: none)
//   office_hours = "08:00-18:00"                                         start and end, 24-hour clock (default: this)
//   office_days  = ["Mon", "Tue", "Wed", "Thu", "Fri"]                   (default: Monday to Friday)
//   timezone     = "Europe/Paris"                                        an IANA zone (default: the server's zone)

import { type AddressList, addressList, type BaseContext, defineRules } from "petrel/rules";

type Settings = BaseContext["settings"];
type Office = {
  readonly senders: AddressList;
  readonly start: number;
  readonly end: number;
  readonly days: ReadonlySet<string>;
  readonly clock: Intl.DateTimeFormat;
  readonly text: string;
};

const offices = new WeakMap<Settings, Office>();

function strings(settings: Settings, name: string, fallback: readonly string[]): readonly string[] {
  const value = settings[name] ?? fallback;
  const items: readonly unknown[] = Array.isArray(value) ? value : [value];
  const texts = items.filter((item): item is string => typeof item === "string");
  if (texts.length !== items.length) throw new TypeError(`rules.settings.${name}: expected a list of strings`);
  return texts;
}

/** "08:00" → minutes since midnight. */
function minutes(text: string): number {
  const [hours, mins] = text.split(":").map(Number);
  if (hours === undefined || mins === undefined || !(hours >= 0 && hours < 24 && mins >= 0 && mins < 60)) {
    throw new TypeError(`rules.settings.office_hours: "${text}" is not a time such as 08:00`);
  }
  return hours * 60 + mins;
}

function officeOf(settings: Settings): Office {
  let office = offices.get(settings);
  if (office === undefined) {
    const hours = settings["office_hours"] ?? "08:00-18:00";
    if (typeof hours !== "string" || !/^\d\d?:\d\d-\d\d?:\d\d$/.test(hours)) {
      throw new TypeError('rules.settings.office_hours: expected "HH:MM-HH:MM", e.g. "08:00-18:00"');
    }
    const [start = "", end = ""] = hours.split("-");
    const timeZone = settings["timezone"] ?? undefined;
    if (timeZone !== undefined && typeof timeZone !== "string") throw new TypeError("rules.settings.timezone: expected a zone such as Europe/Paris");
    office = {
      senders: addressList(strings(settings, "bulk_senders", [])),
      start: minutes(start),
      end: minutes(end),
      days: new Set(strings(settings, "office_days", ["Mon", "Tue", "Wed", "Thu", "Fri"]).map((day) => day.slice(0, 3).toLowerCase())),
      // An unknown zone throws here (RangeError): the rule fails closed and the log says so.
      clock: new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      text: `${hours}${typeof timeZone === "string" ? ` ${timeZone}` : ""}`,
    };
    offices.set(settings, office);
  }
  return office;
}

function isOpen(office: Office, now: Date): boolean {
  const parts = office.clock.formatToParts(now);
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? "";
  if (!office.days.has(part("weekday").toLowerCase())) return false;
  const time = Number(part("hour")) * 60 + Number(part("minute"));
  return office.start <= office.end ? time >= office.start && time < office.end : time >= office.start || time < office.end;
}

export default defineRules({
  mail: [
    function bulkMailInOfficeHours(ctx) {
      const office = officeOf(ctx.settings);
      if (ctx.envelope.sender === "" || !office.senders.has(ctx.envelope.sender)) return;
      if (isOpen(office, ctx.now)) return;
      ctx.log.info("bulk mail held until office hours", { sender: ctx.envelope.sender, officeHours: office.text });
      return ctx.tempfail(451, "4.7.1", `bulk mail is accepted during office hours only (${office.text}), try again later`);
    },
  ],
});
