// Types for the part of fs-native-extensions (which ships none) that mbox delivery uses.

declare module "fs-native-extensions" {
  /**
   * An fcntl() open-file-description write lock (a read lock with `shared`) on the whole file: true when
   * granted, false when another descriptor holds a conflicting lock; throws on any other error.
   */
  export function tryLock(fd: number, options?: { readonly shared?: boolean }): boolean;
}
