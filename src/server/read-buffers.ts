// Gives the memory of socket reads back while large bodies stream to the spool. Every read of a socket
// allocates a fresh Buffer whose bytes live outside V8's heap; V8 frees them only when a garbage collection
// runs, and it lets such external memory grow by about 64 MiB before it forces one. A 50 MB message written
// to disk as it arrives would therefore still leave tens of MB of dead read buffers in the worker. Workers
// run with --expose-gc, and after every few MiB of body bytes a minor collection (a scavenge: about a
// millisecond, and the read buffers are young) frees them. Without --expose-gc this does nothing.

const STEP = 4 * 1024 * 1024;

type Collect = (options: { type: "minor" }) => void;

export class ReadBuffers {
  private readonly collect: Collect | undefined = (globalThis as { gc?: Collect }).gc;
  private sinceCollection = 0;

  /** Counts body bytes read by any session of this process. */
  received(bytes: number): void {
    this.sinceCollection += bytes;
    if (this.sinceCollection < STEP) return;
    this.sinceCollection = 0;
    this.collect?.({ type: "minor" });
  }
}
