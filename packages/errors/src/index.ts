/**
 * The one error type every berth package throws.
 *
 * A `BerthError` carries a `code` from a small closed set; the CLI maps codes
 * to exit statuses and the API server to HTTP statuses, each in one place
 * (`exitStatus`, `httpStatus` below). Messages are lower case, name the object
 * and, where the user can act, say what to do.
 */

/** The closed set of error codes. */
export const ErrorCode = {
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  InvalidArgument: 'InvalidArgument',
  FailedPrecondition: 'FailedPrecondition',
  Conflict: 'Conflict',
  Unavailable: 'Unavailable',
  PermissionDenied: 'PermissionDenied',
  NotImplemented: 'NotImplemented',
  Canceled: 'Canceled',
  Internal: 'Internal',
} as const;
/** One of the codes of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options of a {@link BerthError}: its cause and, for syscall failures, errno/syscall/path. */
export interface BerthErrorOptions {
  readonly cause?: unknown;
  /** Symbolic errno (`ENOENT`) of a failed syscall. */
  readonly errno?: string;
  readonly syscall?: string;
  readonly path?: string;
  /** Extra structured detail for machine consumers (never needed to understand the message). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The base class of every error berth throws on purpose. */
export class BerthError extends Error {
  override readonly name: string = 'BerthError';
  readonly code: ErrorCode;
  readonly errno: string | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errno = options.errno;
    this.syscall = options.syscall;
    this.path = options.path;
    this.detail = options.detail;
  }
}

function make(code: ErrorCode) {
  return (message: string, options?: BerthErrorOptions): BerthError => new BerthError(code, message, options);
}

/** Shorthands: `notFound('image "x" not found')`. */
export const notFound = make(ErrorCode.NotFound);
export const alreadyExists = make(ErrorCode.AlreadyExists);
export const invalidArgument = make(ErrorCode.InvalidArgument);
export const failedPrecondition = make(ErrorCode.FailedPrecondition);
export const conflict = make(ErrorCode.Conflict);
export const unavailable = make(ErrorCode.Unavailable);
export const permissionDenied = make(ErrorCode.PermissionDenied);
export const notImplemented = make(ErrorCode.NotImplemented);
export const canceled = make(ErrorCode.Canceled);
export const internal = make(ErrorCode.Internal);

/** True when `e` is a {@link BerthError}, optionally of the given code. */
export function isBerthError(e: unknown, code?: ErrorCode): e is BerthError {
  return e instanceof BerthError && (code === undefined || e.code === code);
}

/** Errno names whose syscall failure means the user lacks a right, not that berth is broken. */
const errnoCodes: Readonly<Record<string, ErrorCode>> = {
  ENOENT: ErrorCode.NotFound,
  EEXIST: ErrorCode.AlreadyExists,
  EINVAL: ErrorCode.InvalidArgument,
  EPERM: ErrorCode.PermissionDenied,
  EACCES: ErrorCode.PermissionDenied,
  EBUSY: ErrorCode.Conflict,
  ENOTEMPTY: ErrorCode.Conflict,
  ENOSYS: ErrorCode.NotImplemented,
  EOPNOTSUPP: ErrorCode.NotImplemented,
  EAGAIN: ErrorCode.Unavailable,
  EINTR: ErrorCode.Canceled,
};

/**
 * A syscall failure as a BerthError: `mount overlay on /x: device or resource busy`.
 * `what` names the operation and its object (`mount overlay on /x`); the errno's text follows.
 */
export function fromErrno(what: string, errno: string, options: Omit<BerthErrorOptions, 'errno'> & { readonly message?: string } = {}): BerthError {
  const text = options.message ?? errnoText[errno] ?? errno;
  return new BerthError(errnoCodes[errno] ?? ErrorCode.Internal, `${what}: ${text}`, { ...options, errno });
}

const errnoText: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file exists',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  EBUSY: 'device or resource busy',
  ENOTEMPTY: 'directory not empty',
  ENOSYS: 'function not implemented',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  EXDEV: 'path escapes the root',
  ENOSPC: 'no space left on device',
  EAGAIN: 'resource temporarily unavailable',
};

/**
 * Normalize anything thrown into a BerthError at a platform edge. Node system
 * errors keep their errno, syscall and path.
 */
export function toBerthError(e: unknown, what?: string): BerthError {
  if (e instanceof BerthError) return e;
  if (e instanceof Error) {
    const sys = e as Error & { code?: unknown; syscall?: unknown; path?: unknown };
    if (typeof sys.code === 'string' && /^E[A-Z0-9]+$/.test(sys.code)) {
      const path = typeof sys.path === 'string' ? sys.path : undefined;
      const syscall = typeof sys.syscall === 'string' ? sys.syscall : undefined;
      const label = what ?? [syscall, path].filter(Boolean).join(' ');
      return fromErrno(label || 'system error', sys.code, {
        cause: e,
        ...(syscall === undefined ? {} : { syscall }),
        ...(path === undefined ? {} : { path }),
      });
    }
    return new BerthError(ErrorCode.Internal, what ? `${what}: ${e.message}` : e.message, { cause: e });
  }
  return new BerthError(ErrorCode.Internal, what ? `${what}: ${String(e)}` : String(e));
}

/** Docker-like CLI exit status for an engine error: 125, or 127/126 for a command that cannot run. */
export function exitStatus(e: BerthError): number {
  if (e.detail?.['exec'] === true) return e.code === ErrorCode.NotFound ? 127 : 126;
  return 125;
}

/** The HTTP status of the Docker Engine API for each code. */
export function httpStatus(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.NotFound: return 404;
    case ErrorCode.AlreadyExists:
    case ErrorCode.Conflict: return 409;
    case ErrorCode.InvalidArgument: return 400;
    case ErrorCode.FailedPrecondition: return 412;
    case ErrorCode.PermissionDenied: return 403;
    case ErrorCode.NotImplemented: return 501;
    case ErrorCode.Unavailable: return 503;
    case ErrorCode.Canceled: return 499;
    case ErrorCode.Internal: return 500;
  }
}
