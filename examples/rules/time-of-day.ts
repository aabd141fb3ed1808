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

import { addressList, defineRules, perSettings, stringListSetting, stringSetting } from "petrel/rules";

/** "08:00" → minutes since midnight. */
function minutes(text: string): number {
  const [hours, mins] = text.split(":").map(Number);
  if (hours === undefined || mins === undefined || !(hours >= 0 && hours < 24 && mins >= 0 && mins < 60)) {
    throw new TypeError(`rules.settings.office_hours: "${text}" is not a time such as 08:00`);
  }
  return hours * 60 + mins;
}

const officeOf = perSettings((settings) => {
  const hours = stringSetting(settings, "office_hours", "08:00-18:00");
  if (!/^\d\d?:\d\d-\d\d?:\d\d$/.test(hours)) throw new TypeError('rules.settings.office_hours: expected "HH:MM-HH:MM", e.g. "08:00-18:00"');
  const [start = "", end = ""] = hours.split("-");
  const timeZone = stringSetting(settings, "timezone", Intl.DateTimeFormat().resolvedOptions().timeZone);
  const days = stringListSetting(settings, "office_days", ["Mon", "Tue", "Wed", "Thu", "Fri"]);
  return {
    senders: addressList(stringListSetting(settings, "bulk_senders")),
    start: minutes(start),
    end: minutes(end),
    days: new Set(days.map((day) => day.slice(0, 3).toLowerCase())),
    // An unknown zone throws here (RangeError): the rule fails closed and the log says so.
    clock: new Intl.DateTimeFormat("en-US", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    text: `${hours} ${timeZone}`, // as replies and logs show it: "08:00-18:00 Europe/Paris"
  };
});
type Office = ReturnType<typeof officeOf>;

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
