// Header rewriting at preq: mail your users submit leaves without the header fields that tell the world more
// than it needs (their IP address, their mail program and its version, which tells an attacker what to aim
// at), and carries an X-Petrel-Policy field saying it went through this policy. Mail from other servers (mta
// listeners) keeps its fields, but loses any X-Petrel-Policy it arrives with: only we may write that one.
//
// The edits are written into the spooled message before it is queued. Received fields are left alone: they
// are what loop detection and anyone tracing a problem rely on.
//
// Settings ([rules.settings]):
//   strip_headers = ["X-Originating-IP", "User-Agent", "X-Mailer"]   fields to remove (default: these and X-MimeOLE)
//   policy_header = "submission; privacy headers removed"           the X-Petrel-Policy value (default: this)

import { defineRules, stringListSetting, stringSetting } from "petrel/rules";

const STRIP = ["X-Originating-IP", "X-Mailer", "User-Agent", "X-MimeOLE"];
const POLICY = "X-Petrel-Policy";

export default defineRules({
  preq: [
    function stripLeakingHeaders(ctx) {
      const headers = ctx.message.headers;
      if (ctx.connection.listener.role === "mta") {
        headers.remove(POLICY); // forged by the sender, or left by another server: not ours to vouch for
        return;
      }
      let removed = 0;
      for (const name of stringListSetting(ctx.settings, "strip_headers", STRIP)) removed += headers.remove(name);
      // set: replaces any the user's program put there
      headers.set(POLICY, stringSetting(ctx.settings, "policy_header", "submission; privacy headers removed"));
      ctx.log.info("headers rewritten", { user: ctx.connection.user, removed });
    },
  ],
});
