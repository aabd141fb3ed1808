// Keeps a copy of every message in an archive folder: one .eml file per message (what was received, with
// Petrel's Received field and any header edits made by earlier rules), and optionally a .json file beside it
// (envelope, header fields, MIME summary) for indexing. Files go into one folder per day (UTC), named by queue
// id: <archive>/2025-01-31/<queue id>.eml. Each file appears whole (written aside, then renamed).
//
// A message that cannot be archived (disk full, folder not writable) is not taken: the rule fails, and the
// client gets "451 4.3.0" and tries again later. Where an archive is a legal duty, that is the point; where
// it is a convenience, catch the error and ctx.log.error() it instead.
//
// List this file after rule files that edit header fields, so that the copy shows the edits. A message a
// later preq rule refuses has been archived all the same.
//
// Settings ([rules.settings]):
//   archive      = "/var/lib/petrel/archive"   the folder (required, absolute; Petrel's user must write there)
//   archive_json = true                        also write the .json file (default: false)

import { isAbsolute, join } from "node:path";
import { booleanSetting, defineRules, stringSetting } from "petrel/rules";

export default defineRules({
  preq: [
    async function archiveCopy(ctx) {
      const folder = stringSetting(ctx.settings, "archive"); // required: no archive, no mail
      if (!isAbsolute(folder)) throw new TypeError(`rules.settings.archive: expected an absolute path, got ${JSON.stringify(folder)}`);
      const day = join(folder, ctx.now.toISOString().slice(0, 10));
      const path = await ctx.export.eml(day);
      if (booleanSetting(ctx.settings, "archive_json", false)) await ctx.export.json(day);
      ctx.log.info("archived", { path });
    },
  ],
});
