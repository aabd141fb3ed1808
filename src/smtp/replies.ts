// The registry of standard SMTP replies: one stable name per situation, the single place where their codes
// and texts live (like undici's error registry). The server, rules and tests refer to a reply by name and
// may reword it with `withText`, keeping the codes. This file must never build replies elsewhere or hold
// site-specific text (host names, queue ids): those are added by the caller.
//
// Every enhanced code is registered with IANA ("SMTP Enhanced Status Codes", RFC 3463 and RFC 5248),
// from the RFC named beside it. Choices worth knowing:
// - A command line over the limit gets 500 5.5.2 (syntax error), not 5.5.6: IANA registers X.5.6 only for an
//   AUTH exchange line that is too long (RFC 4954), which `authLineTooLong` covers.
// - Address syntax uses X.1.7 for the sender and X.1.3 for a recipient (RFC 3463 §3.2).
// - A message with bare CR or LF, refused after its end, gets 550 5.5.2 (the line syntax of RFC 5321 §2.3.8).

import { reply } from "./reply.ts";

export const replies = Object.freeze({
  // --- positive (RFC 5321 §4.2.2; enhanced codes RFC 3463 §3.1) ---
  ok: reply(250, "2.0.0", "OK"),
  senderOk: reply(250, "2.1.0", "sender OK"),
  recipientOk: reply(250, "2.1.5", "recipient OK"),
  closing: reply(221, "2.0.0", "closing connection"),
  startData: reply(354, undefined, "End data with <CR><LF>.<CR><LF>"), // RFC 2034: no enhanced code on 3xx
  readyToStartTls: reply(220, "2.0.0", "ready to start TLS"), // RFC 3207
  authenticated: reply(235, "2.7.0", "authentication succeeded"), // RFC 4954
  cannotVerify: reply(252, "2.0.0", "cannot VRFY user, but will accept message and attempt delivery"),
  queued: reply(250, "2.0.0", "queued"), // the server adds "as <queue id>"
  chunkReceived: reply(250, "2.0.0", "chunk received"), // RFC 3030: the server adds the octet count
  help: reply(214, "2.0.0", "commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP (RFC 5321)"),

  // --- command syntax (RFC 5321 §4.2.4, X.5.x RFC 3463 §3.6) ---
  syntaxError: reply(500, "5.5.2", "syntax error"),
  lineTooLong: reply(500, "5.5.2", "line too long"),
  invalidUtf8: reply(500, "5.5.2", "command line is not valid UTF-8"),
  controlCharacter: reply(500, "5.5.2", "control character in command line"),
  unknownCommand: reply(500, "5.5.1", "command not recognized"),
  notImplemented: reply(502, "5.5.1", "command not implemented"),
  noArgumentAllowed: reply(501, "5.5.4", "this command takes no argument"),
  invalidArguments: reply(501, "5.5.4", "invalid command arguments"),
  heloSyntax: reply(501, "5.5.4", "syntax: HELO domain"),
  ehloSyntax: reply(501, "5.5.4", "syntax: EHLO domain"),
  mailSyntax: reply(501, "5.5.4", "syntax: MAIL FROM:<address> [parameters]"),
  rcptSyntax: reply(501, "5.5.4", "syntax: RCPT TO:<address> [parameters]"),
  vrfySyntax: reply(501, "5.5.4", "syntax: VRFY string"),
  expnSyntax: reply(501, "5.5.4", "syntax: EXPN string"),
  bdatSyntax: reply(501, "5.5.4", "syntax: BDAT size [LAST]"),
  authSyntax: reply(501, "5.5.4", "syntax: AUTH mechanism [initial-response]"),

  // --- MAIL/RCPT parameters (RFC 5321 §4.1.1.11 and 555; RFC 1870, 3461, 6152, 3030, 6531, 8689) ---
  unknownParameter: reply(555, "5.5.4", "parameter not recognized or not implemented"),
  badParameterValue: reply(501, "5.5.4", "invalid parameter value"),
  duplicateParameter: reply(501, "5.5.4", "parameter given twice"),

  // --- addresses (RFC 5321 §4.1.2, §4.5.3.1; X.1.3/X.1.7 RFC 3463 §3.2; X.6.7 RFC 6531 §3.5) ---
  badSenderSyntax: reply(501, "5.1.7", "bad sender address syntax"),
  badRecipientSyntax: reply(501, "5.1.3", "bad recipient address syntax"),
  senderPathTooLong: reply(501, "5.1.7", "sender path too long"),
  recipientPathTooLong: reply(501, "5.1.3", "recipient path too long"),
  nullRecipient: reply(501, "5.1.3", "a recipient cannot be the null path <>"),
  nonAsciiAddress: reply(553, "5.6.7", "non-ASCII address requires SMTPUTF8"),

  // --- sequence (RFC 5321 §4.1.4 and 503; RFC 3030 §4; RFC 4954 §4; X.5.1) ---
  badSequence: reply(503, "5.5.1", "bad sequence of commands"),
  greetFirst: reply(503, "5.5.1", "send HELO or EHLO first"),
  ehloFirst: reply(503, "5.5.1", "send EHLO first"),
  nestedMail: reply(503, "5.5.1", "sender already given"),
  mailFirst: reply(503, "5.5.1", "send MAIL first"),
  recipientFirst: reply(503, "5.5.1", "no valid recipients"),
  dataAfterBdat: reply(503, "5.5.1", "DATA cannot follow BDAT"),
  dataWithBinaryMime: reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT"),
  notDuringChunking: reply(503, "5.5.1", "command not allowed during BDAT transfer"),
  notInTransaction: reply(503, "5.5.1", "command not allowed during a mail transaction"),
  alreadyAuthenticated: reply(503, "5.5.1", "already authenticated"),
  tlsAlreadyActive: reply(503, "5.5.1", "TLS already active"),
  pipelinedAfterStartTls: reply(503, "5.5.1", "commands may not be pipelined after STARTTLS (RFC 3207)"),

  // --- message content and size (RFC 1870: 552 X.3.4; RFC 5321 §4.5.3.1.10: 452 X.5.3) ---
  messageTooBig: reply(552, "5.3.4", "message size exceeds fixed maximum message size"),
  tooManyRecipients: reply(452, "4.5.3", "too many recipients"),
  tooManyForDomain: reply(452, "4.5.3", "too many recipients for this domain, send the rest later"),
  unknownRecipient: reply(550, "5.1.1", "no such user here"),
  bareLineEnding: reply(550, "5.5.2", "message refused: bare CR or LF in data, lines must end with CRLF"),
  nulInData: reply(550, "5.6.0", "message refused: NUL octet in DATA (send binary content with BDAT and BODY=BINARYMIME)"),
  mailLoop: reply(554, "5.4.6", "message refused: too many Received header fields, a mail loop"),

  // --- AUTH and TLS (RFC 4954 §6, RFC 3207 §4; X.7.x RFC 3463 §3.8, RFC 5248) ---
  authLineTooLong: reply(500, "5.5.6", "authentication exchange line is too long"),
  authCannotDecode: reply(501, "5.5.2", "cannot decode base64 response"),
  authCancelled: reply(501, "5.0.0", "authentication cancelled"),
  authMechanismUnknown: reply(504, "5.5.4", "unrecognized authentication type"),
  authRequired: reply(530, "5.7.0", "authentication required"),
  authInvalid: reply(535, "5.7.8", "authentication credentials invalid"),
  authLockedOut: reply(421, "4.7.0", "too many failed authentications from your address, try again later"),
  senderNotOwned: reply(553, "5.7.1", "sender address not owned by the authenticated user"),
  authTemporaryFailure: reply(454, "4.7.0", "temporary authentication failure"),
  authNeedsEncryption: reply(538, "5.7.11", "encryption required for requested authentication mechanism"),
  tlsRequired: reply(530, "5.7.0", "must issue a STARTTLS command first"),
  tlsNotAvailable: reply(454, "4.7.0", "TLS not available due to temporary reason"),

  // --- session and system (X.4.2 bad connection, X.3.0/X.3.1/X.3.2 mail system, X.7.0 policy) ---
  timeout: reply(421, "4.4.2", "timeout exceeded, closing connection"),
  tooManyErrors: reply(421, "4.7.0", "too many errors, closing connection"),
  tooManyConnections: reply(421, "4.7.0", "too many connections, try again later"),
  tooManyMessages: reply(450, "4.7.1", "too many messages from your address, try again later"),
  earlyTalker: reply(554, "5.5.1", "protocol error: command sent before the greeting"),
  relayDenied: reply(550, "5.7.1", "relay access denied"),
  shuttingDown: reply(421, "4.3.2", "service shutting down, closing connection"),
  localError: reply(451, "4.3.0", "local error in processing"),
  insufficientStorage: reply(452, "4.3.1", "insufficient system storage"),
});

export type ReplyName = keyof typeof replies;
