// The mark of a committed body file: the owner-execute bit. The commit sets it (on the body it creates, or with
// fchmod on a body streamed earlier) before the envelope is renamed in, so a body file without it was still being
// received, and one whose receiving process died can go at once (worker-leftovers.ts). Postfix marks finished
// queue files the same way. Plain JavaScript, so that the spool's file threads (file-thread.js) share it.

/** The mode of a committed body file: rwx for the owner, nothing for the others. */
export const COMMITTED_BODY_MODE = 0o700;

/**
 * Whether a file mode (as stat gives it) carries the committed mark.
 * @param {number} mode
 */
export function isCommittedBody(mode) {
  return (mode & 0o100) !== 0;
}
