// Refuses messages that carry programs: attachments whose names end in an extension Windows runs or opens
// as a script. Nobody sends those by mail on purpose any more, and malware does it every day. The refusal
// ("550 5.7.1") comes at the end of DATA, so the sending server returns the message to its sender, who learns
// why and can share the file another way. Nothing is kept.
//
// The check is on the file name only (Content-Disposition or Content-Type name, as decoded by the MIME
// parser); archives are not opened. Trailing dots and spaces are ignored, as Windows ignores them
// ("setup.exe." runs as setup.exe), and case does not matter ("Invoice.PDF.js" is a script).
//
// Settings ([rules.settings]):
//   blocked_extensions = ["exe", "scr", "js"]   extensions to refuse, with or without the dot (default: below)

import { defineRules, perSettings, stringListSetting } from "petrel/rules";

const BLOCKED = ["exe", "scr", "js", "vbs", "bat", "cmd", "com", "pif", "jar", "lnk"];

/** The extensions to refuse, lower-case and without the dot, once per configuration. */
const blockedOf = perSettings((settings) => {
  const extensions = stringListSetting(settings, "blocked_extensions", BLOCKED);
  return new Set(extensions.map((extension) => extension.replace(/^\./, "").toLowerCase()));
});

/** The name as a reply may show it: printable ASCII, at most 60 characters (names come from the sender). */
function printable(name: string): string {
  const safe = name.replace(/[^\x20-\x7e]/g, "?");
  return safe.length > 60 ? `${safe.slice(0, 57)}...` : safe;
}

export default defineRules({
  preq: [
    async function rejectExecutables(ctx) {
      const blocked = blockedOf(ctx.settings);
      for (const attachment of await ctx.message.attachments()) {
        if (attachment.filename === null) continue;
        const name = attachment.filename.toLowerCase().replace(/[.\s]+$/, "");
        const extension = name.slice(name.lastIndexOf(".") + 1);
        if (!name.includes(".") || !blocked.has(extension)) continue;
        ctx.log.info("executable attachment refused", { filename: attachment.filename, sender: ctx.envelope.sender });
        return ctx.reject(550, "5.7.1", `attachment "${printable(attachment.filename)}" refused: .${extension} files are not accepted here`);
      }
    },
  ],
});
