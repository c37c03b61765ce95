// One place that turns an errno into a BerthError, shared by LinuxSys and RecordingSys so the fake
// fails exactly as the real door does.
import { BerthError, type BerthErrorOptions, ErrorCode, fromErrno } from '@berth/errors';

/** Errnos whose meaning for berth differs from the generic table of @berth/errors. */
const codeOverrides: Readonly<Record<string, ErrorCode>> = {
  ENODATA: ErrorCode.NotFound, // no such extended attribute
  ESRCH: ErrorCode.NotFound, // no such process
  EXDEV: ErrorCode.InvalidArgument, // resolveInRoot: the path leaves the root
  ELOOP: ErrorCode.InvalidArgument,
  ENOTDIR: ErrorCode.InvalidArgument,
  ENAMETOOLONG: ErrorCode.InvalidArgument,
  EWOULDBLOCK: ErrorCode.Unavailable,
};

/** Options of {@link errnoError}. */
export interface ErrnoErrorOptions extends Omit<BerthErrorOptions, 'errno'> {
  /** The C library's text for the errno, used when @berth/errors has none. */
  readonly text?: string;
  /** The call needs root (mount, mknod, trusted.* xattrs): EPERM/EACCES then say so. */
  readonly privileged?: boolean;
}

/** `what: <errno text>` as a BerthError with errno, syscall and path. */
export function errnoError(what: string, errno: string, options: ErrnoErrorOptions = {}): BerthError {
  const { text, privileged = false, ...rest } = options;
  let e = fromErrno(what, errno, rest);
  // fromErrno knows the common errnos' text; for the rest use the C library's, in lower case.
  if (e.message === `${what}: ${errno}` && text !== undefined) e = fromErrno(what, errno, { ...rest, message: text.toLowerCase() });
  const code = codeOverrides[errno] ?? e.code;
  const hint = privileged && (errno === 'EPERM' || errno === 'EACCES') ? ' (run berth as root)' : '';
  return code === e.code && hint === '' ? e : new BerthError(code, e.message + hint, { ...rest, errno });
}
