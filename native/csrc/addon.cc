// berth_native.node: the syscalls Node does not offer, as synchronous functions.
//
// Every function here is one or a few syscalls on the calling thread. None forks, clones,
// unshares or setns-es: Node always runs several threads (V8 platform workers, libuv's pool), and
//   - unshare(CLONE_NEWUSER) fails with EINVAL in a multi-threaded process (unshare(2));
//   - unshare(CLONE_NEWNS) / setns(2) change only the calling thread, leaving the others behind;
//   - after fork()/clone() from a threaded process the child may call only async-signal-safe
//     functions (fork(2), signal-safety(7)) - no malloc, no V8.
// Whatever needs a new process or namespace is done by berth-shim, a single-threaded executable.
// Two exceptions to "a few syscalls and return":
//   - execve, which replaces this process (its threads end with it): a CLI whose remaining work
//     is berth-shim's becomes berth-shim;
//   - spawn, posix_spawn(3): the one safe way to start a program from a threaded process. glibc
//     does it with clone(CLONE_VM | CLONE_VFORK), and its child only moves fds, resets signals
//     and calls execve. libuv (child_process) forks instead, which copies the page tables of
//     Node's whole heap: ~4 ms of every `berth run` on a host where page faults are dear.
//     waitPid reaps what spawn started, blocking on libuv's thread pool.
//
// Conventions: every fd is created O_CLOEXEC (a child spawned meanwhile by another part of the
// engine must not inherit it); a failure throws an Error carrying `errno` (number), `code`
// (ENOENT...), `syscall` and `path`, which the TypeScript layer turns into a BerthError.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <napi.h>

#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "inflate.h"
#include "resolve.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace {

using berth::Fd;
using berth::SysError;

// Calls on fds carry no path (an fd is not one); the TypeScript layer names the fd in its message.
Napi::Error MakeError(Napi::Env env, const SysError& e) {
  std::string message = e.syscall;
  if (!e.path.empty()) message += " " + e.path;
  message += ": ";
  message += strerror(e.err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, e.err));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* name = strerrorname_np(e.err)) error.Set("code", Napi::String::New(env, name));
#endif
  error.Set("syscall", Napi::String::New(env, e.syscall));
  if (!e.path.empty()) error.Set("path", Napi::String::New(env, e.path));
  return error;
}

// Wraps a binding so that a SysError thrown anywhere below becomes a JS exception.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const SysError& e) {
    throw MakeError(info.Env(), e);
  }
}

// ---- argument helpers: the TypeScript layer validates, these only refuse the wrong JS type ----

std::string Str(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::optional<std::string> OptStr(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsNull() || info[i].IsUndefined()) return std::nullopt;
  return Str(info, i);
}

int64_t Int(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

bool Bool(const Napi::CallbackInfo& info, size_t i) { return info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value(); }

Napi::Buffer<uint8_t> Bytes(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

// ---- mounts ----

// mount(source|null, target, fstype|null, flags, data|null)
Napi::Value Mount(const Napi::CallbackInfo& info) {
  auto source = OptStr(info, 0);
  std::string target = Str(info, 1);
  auto fstype = OptStr(info, 2);
  auto flags = static_cast<unsigned long>(Int(info, 3));
  auto data = OptStr(info, 4);
  if (mount(source ? source->c_str() : nullptr, target.c_str(), fstype ? fstype->c_str() : nullptr, flags,
            data ? data->c_str() : nullptr) != 0) {
    throw SysError{errno, "mount", target};
  }
  return info.Env().Undefined();
}

// umount2(target, flags)
Napi::Value Umount2(const Napi::CallbackInfo& info) {
  std::string target = Str(info, 0);
  if (umount2(target.c_str(), static_cast<int>(Int(info, 1))) != 0) throw SysError{errno, "umount2", target};
  return info.Env().Undefined();
}

// ---- locks ----

// flock(fd, op, nonBlocking) -> false when nonBlocking and the lock is held elsewhere.
// Blocking waits block the Node thread by design: callers take a lock for a short critical section.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(Int(info, 0));
  int op = static_cast<int>(Int(info, 1));
  bool nonBlocking = Bool(info, 2);
  for (;;) {
    if (flock(fd, op | (nonBlocking ? LOCK_NB : 0)) == 0) return Napi::Boolean::New(info.Env(), true);
    if (errno == EINTR) continue;  // a signal handler ran (Node installs some): wait again
    if (errno == EWOULDBLOCK && nonBlocking) return Napi::Boolean::New(info.Env(), false);
    throw SysError{errno, "flock", ""};
  }
}

// ---- paths ----

// The four resolve arguments from index i: mode, allowMissingLeaf, noFollowLeaf, resolver.
berth::ResolveOptions ResolveArgs(const Napi::CallbackInfo& info, size_t i) {
  berth::ResolveOptions options;
  std::string mode = Str(info, i);
  options.mode = mode == "beneath" ? berth::ResolveMode::kBeneath : berth::ResolveMode::kInRoot;
  options.allowMissingLeaf = Bool(info, i + 1);
  options.noFollowLeaf = Bool(info, i + 2);
  std::string resolver = Str(info, i + 3);
  options.resolver = resolver == "walk"      ? berth::Resolver::kWalk
                     : resolver == "openat2" ? berth::Resolver::kOpenat2
                                             : berth::Resolver::kAuto;
  return options;
}

// resolveInRoot(root, path, mode 'in-root'|'beneath', allowMissingLeaf, noFollowLeaf, resolver 'auto'|'openat2'|'walk')
Napi::Value ResolveInRoot(const Napi::CallbackInfo& info) {
  berth::ResolveOptions options = ResolveArgs(info, 2);
  return Napi::String::New(info.Env(), berth::ResolveInRoot(Str(info, 0), Str(info, 1), options));
}

// openInRoot(root, path, mode, allowMissingLeaf (ignored), noFollowLeaf, resolver, flags, perm) -> fd
Napi::Value OpenInRoot(const Napi::CallbackInfo& info) {
  berth::ResolveOptions options = ResolveArgs(info, 2);
  int fd = berth::OpenInRoot(Str(info, 0), Str(info, 1), options, static_cast<int>(Int(info, 6)), static_cast<unsigned>(Int(info, 7)));
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Openat2Available(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), berth::Openat2Available());
}

// mknod(path, mode, major, minor): whiteouts (char 0/0), FIFOs and device nodes from layers.
Napi::Value Mknod(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  auto mode = static_cast<mode_t>(Int(info, 1));
  dev_t dev = makedev(static_cast<unsigned>(Int(info, 2)), static_cast<unsigned>(Int(info, 3)));
  if (mknod(path.c_str(), mode, dev) != 0) throw SysError{errno, "mknod", path};
  return info.Env().Undefined();
}

// ---- extended attributes (l*: never follow a symlink, it may point out of the rootfs) ----

// lsetxattr(path, name, value Buffer, flags 0|XATTR_CREATE|XATTR_REPLACE)
Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  std::string name = Str(info, 1);
  auto value = Bytes(info, 2);
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), static_cast<int>(Int(info, 3))) != 0) {
    throw SysError{errno, "lsetxattr", path};
  }
  return info.Env().Undefined();
}

// lgetxattr(path, name) -> Buffer, or undefined when the file has no such attribute (ENODATA).
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  std::string name = Str(info, 1);
  for (;;) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) {
      if (errno == ENODATA) return info.Env().Undefined();
      throw SysError{errno, "lgetxattr", path};
    }
    std::vector<uint8_t> buf(static_cast<size_t>(size) + 1);
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;  // it grew between the two calls: ask again
    if (n < 0) {
      if (errno == ENODATA) return info.Env().Undefined();
      throw SysError{errno, "lgetxattr", path};
    }
    return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), static_cast<size_t>(n));
  }
}

// llistxattr(path) -> string[]
Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  std::vector<char> buf;
  ssize_t n;
  for (;;) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) throw SysError{errno, "llistxattr", path};
    buf.assign(static_cast<size_t>(size) + 1, '\0');
    n = llistxattr(path.c_str(), buf.data(), buf.size());
    if (n < 0 && errno == ERANGE) continue;
    if (n < 0) throw SysError{errno, "llistxattr", path};
    break;
  }
  Napi::Array names = Napi::Array::New(info.Env());
  uint32_t count = 0;
  for (ssize_t i = 0; i < n;) {
    size_t len = strnlen(buf.data() + i, static_cast<size_t>(n - i));
    if (len > 0) names.Set(count++, Napi::String::New(info.Env(), buf.data() + i, len));
    i += static_cast<ssize_t>(len) + 1;
  }
  return names;
}

// lremovexattr(path, name)
Napi::Value Lremovexattr(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  std::string name = Str(info, 1);
  if (lremovexattr(path.c_str(), name.c_str()) != 0) throw SysError{errno, "lremovexattr", path};
  return info.Env().Undefined();
}

// lutimens(path, atimeNs, mtimeNs): utimensat(2) on `path` itself (a symlink is not followed),
// to the nanosecond (Node's utimes takes float seconds, which cannot hold today's times exactly).
Napi::Value Lutimens(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  struct timespec ts[2];
  for (int i = 0; i < 2; i++) {
    if (!info[i + 1].IsBigInt()) throw Napi::TypeError::New(info.Env(), "lutimens: times are bigint nanoseconds");
    bool lossless = false;
    int64_t ns = info[i + 1].As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless || ns < 0) throw Napi::RangeError::New(info.Env(), "lutimens: time out of range");
    ts[i].tv_sec = static_cast<time_t>(ns / 1000000000);
    ts[i].tv_nsec = static_cast<long>(ns % 1000000000);
  }
  if (utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) throw SysError{errno, "utimensat", path};
  return info.Env().Undefined();
}

// createFile(path, data, createMode, uid, gid, chmodMode, mtime): a regular file made whole in
// one call, for layer unpacking (a layer of 10,000 small files made five Node fs calls each):
// open(O_CREAT|O_EXCL|O_NOFOLLOW) with createMode, write all of data, fchown, fchmod when
// chmodMode >= 0 (set after fchown, which clears setuid bits), futimens to mtime (seconds, a
// fraction kept to the nanosecond), close. Refuses to replace or follow anything (EEXIST).
Napi::Value CreateFile(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "createFile: data is a Uint8Array");
  auto data = info[1].As<Napi::Uint8Array>();
  auto createMode = static_cast<mode_t>(Int(info, 2));
  auto uid = static_cast<uid_t>(Int(info, 3));
  auto gid = static_cast<gid_t>(Int(info, 4));
  int64_t chmodMode = Int(info, 5);
  if (!info[6].IsNumber()) throw Napi::TypeError::New(info.Env(), "createFile: mtime is a number");
  double mtime = info[6].As<Napi::Number>().DoubleValue();
  Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, createMode));
  if (!fd.valid()) throw SysError{errno, "open", path};
  const uint8_t* p = data.Data();
  size_t left = data.ByteLength();
  while (left > 0) {
    ssize_t n = write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError{errno, "write", path};
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (fchown(fd.get(), uid, gid) != 0) throw SysError{errno, "fchown", path};
  if (chmodMode >= 0 && fchmod(fd.get(), static_cast<mode_t>(chmodMode)) != 0) throw SysError{errno, "fchmod", path};
  struct timespec ts[2];
  double sec = mtime < 0 ? 0 : static_cast<double>(static_cast<int64_t>(mtime));
  ts[0].tv_sec = static_cast<time_t>(sec);
  ts[0].tv_nsec = static_cast<long>((mtime - sec) * 1e9 + 0.5);
  if (ts[0].tv_nsec >= 1000000000L || ts[0].tv_nsec < 0) ts[0].tv_nsec = 0;
  ts[1] = ts[0];
  if (futimens(fd.get(), ts) != 0) throw SysError{errno, "futimens", path};
  return info.Env().Undefined();
}

// The argv and fds arguments of execve and spawn: info[1] an array of strings, info[2] of numbers.
struct ProgramArgs {
  std::vector<std::string> args;
  std::vector<int> fds;
  // argv as execv wants it: pointers into args, then a null.
  std::vector<char*> argv() {
    std::vector<char*> out;
    for (auto& s : args) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }
};

ProgramArgs ProgramArgsOf(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[1].IsArray() || !info[2].IsArray()) throw Napi::TypeError::New(env, std::string(fn) + ": argv and fds are arrays");
  ProgramArgs p;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, std::string(fn) + ": argv holds strings");
    p.args.push_back(v.As<Napi::String>().Utf8Value());
  }
  Napi::Array f = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < f.Length(); i++) {
    Napi::Value v = f.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(fn) + ": fds holds numbers");
    p.fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  return p;
}

// execve(path, argv, fds): replaces this process with `path` (the environment is this
// process's own). fds[i] becomes fd 3+i in the new program, without close-on-exec; fds 0-2 are
// kept (Node made them close-on-exec at start-up: that is undone); every other fd is
// close-on-exec (this addon's and Node's convention), so nothing else leaks into the program.
// Returns only by throwing, when the sources cannot be moved or execve itself fails.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  ProgramArgs program = ProgramArgsOf(info, "execve");
  const std::vector<int>& fds = program.fds;
  // First out of the way of the targets 3..3+n (a source may sit on another's target), then in place.
  std::vector<int> high;
  for (int fd : fds) {
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 3 + static_cast<int>(fds.size()));
    if (h < 0) {
      int e = errno;
      for (int x : high) close(x);
      throw SysError{e, "fcntl", "F_DUPFD_CLOEXEC"};
    }
    high.push_back(h);
  }
  for (size_t i = 0; i < high.size(); i++) {
    if (dup2(high[i], 3 + static_cast<int>(i)) < 0) throw SysError{errno, "dup2", ""};
  }
  // Node marks even fds 0-2 close-on-exec at start-up: the program gets them back. Everything
  // past the handed-over fds is marked close-on-exec (some libraries open fds without it), not
  // closed: a failed execve leaves this process as it was.
  for (int fd = 0; fd < 3; fd++) fcntl(fd, F_SETFD, 0);
  int first = 3 + static_cast<int>(fds.size());
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (long fd = first, max = sysconf(_SC_OPEN_MAX); fd < max; fd++) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);  // before Linux 5.11
  }
  std::vector<char*> argv = program.argv();
  execv(path.c_str(), argv.data());
  int e = errno;
  for (int x : high) close(x);
  throw SysError{e, "execve", path};
}

// spawn(path, argv, fds, setsid) -> pid: starts `path` with `argv` and this process's
// environment; fds[i] becomes its fd i (without close-on-exec), every signal is back to its
// default and none is blocked (Node ignores SIGPIPE), and with `setsid` it leads a session of its
// own. Every other fd is closed in the child, even one a library opened without close-on-exec
// or one we inherited so. A program that cannot be executed (ENOENT, EACCES...) throws here, as
// posix_spawn reports it.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  std::string path = Str(info, 0);
  ProgramArgs program = ProgramArgsOf(info, "spawn");
  const std::vector<int>& fds = program.fds;
  int high = static_cast<int>(fds.size());
  for (int fd : fds) high = std::max(high, fd + 1);
  bool setsid = info[3].ToBoolean().Value();
  // In the child: each source first to high+i, above every source and target (a source may sit
  // on another's target), then to its place; dup2 leaves the copy without close-on-exec.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (size_t i = 0; i < fds.size(); i++) posix_spawn_file_actions_adddup2(&actions, fds[i], high + static_cast<int>(i));
  for (size_t i = 0; i < fds.size(); i++) {
    posix_spawn_file_actions_adddup2(&actions, high + static_cast<int>(i), static_cast<int>(i));
    posix_spawn_file_actions_addclose(&actions, high + static_cast<int>(i));
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, static_cast<int>(fds.size()));
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Every signal back to SIG_DFL, glibc's internal ones (32, 33) too: sigfillset leaves those
  // out, and glibc's posix_spawn then sets them to SIG_IGN, which execve keeps, and a container
  // would inherit. (SIGKILL and SIGSTOP cannot be set; the child skips them.)
  sigset_t none, all;
  sigemptyset(&none);
  memset(&all, 0xff, sizeof all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (setsid ? POSIX_SPAWN_SETSID : 0)));
  std::vector<char*> argv = program.argv();
  pid_t pid = 0;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw SysError{rc, "posix_spawn", path};
  return Napi::Number::New(info.Env(), pid);
}

// waitPid(pid, callback): waitpid(2) for a child of ours on libuv's thread pool, then
// callback(null, code, signal) (code -1 when a signal ended it) or callback(error).
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Function callback, pid_t pid) : Napi::AsyncWorker(callback), pid_(pid) {}
  void Execute() override {
    pid_t r;
    do r = waitpid(pid_, &status_, 0); while (r < 0 && errno == EINTR);
    if (r < 0) err_ = errno;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      Callback().Call({MakeError(env, SysError{err_, "waitpid", ""}).Value()});
      return;
    }
    int code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    int sig = WIFSIGNALED(status_) ? WTERMSIG(status_) : 0;
    Callback().Call({env.Null(), Napi::Number::New(env, code), Napi::Number::New(env, sig)});
  }

 private:
  pid_t pid_;
  int status_ = 0;
  int err_ = 0;
};

Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  auto pid = static_cast<pid_t>(Int(info, 0));
  if (!info[1].IsFunction()) throw Napi::TypeError::New(info.Env(), "waitPid: a callback");
  (new WaitWorker(info[1].As<Napi::Function>(), pid))->Queue();
  return info.Env().Undefined();
}

// ---- fd passing over unix sockets (SCM_RIGHTS) ----

// socketpair() -> [fd, fd]: a connected AF_UNIX stream pair, both ends O_CLOEXEC.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw SysError{errno, "socketpair", ""};
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

// sendFd(socketFd, fd, message Buffer): one sendmsg with the fd as SCM_RIGHTS. A stream socket
// cannot carry ancillary data without at least one byte, so an empty message sends one NUL.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  int sock = static_cast<int>(Int(info, 0));
  int fd = static_cast<int>(Int(info, 1));
  auto message = Bytes(info, 2);
  uint8_t nul = 0;
  struct iovec iov;
  iov.iov_base = message.Length() > 0 ? message.Data() : &nul;
  iov.iov_len = message.Length() > 0 ? message.Length() : 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  for (;;) {
    // MSG_NOSIGNAL: a closed peer is an EPIPE error, not a SIGPIPE that kills Node.
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    throw SysError{errno, "sendmsg", ""};
  }
  return info.Env().Undefined();
}

// recvFd(socketFd) -> { fd, message }. The received fd is O_CLOEXEC (MSG_CMSG_CLOEXEC). EAGAIN
// when the socket is non-blocking and nothing is queued; ECONNRESET at end of stream; EBADMSG
// when a message arrives without exactly one fd (any fds it did carry are closed, not leaked).
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  int sock = static_cast<int>(Int(info, 0));
  std::vector<uint8_t> data(4096);
  struct iovec iov;
  iov.iov_base = data.data();
  iov.iov_len = data.size();
  union {
    char buf[CMSG_SPACE(sizeof(int) * 8)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  for (;;) {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    throw SysError{errno, "recvmsg", ""};
  }
  std::vector<Fd> fds;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n == 0 && fds.empty()) throw SysError{ECONNRESET, "recvmsg", ""};
  if (fds.size() != 1 || (msg.msg_flags & MSG_CTRUNC) != 0) throw SysError{EBADMSG, "recvmsg", ""};
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("message", Napi::Buffer<uint8_t>::Copy(info.Env(), data.data(), static_cast<size_t>(n)));
  out.Set("fd", fds[0].release());
  return out;
}

// ---- pidfds: signal a process without racing pid reuse ----

// pidfdOpen(pid) -> fd. pidfds are always close-on-exec (pidfd_open(2)).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  auto pid = static_cast<pid_t>(Int(info, 0));
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw SysError{errno, "pidfd_open", ""};
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// pidfdSendSignal(pidfd, signal)
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  int fd = static_cast<int>(Int(info, 0));
  int sig = static_cast<int>(Int(info, 1));
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) != 0) {
    throw SysError{errno, "pidfd_send_signal", ""};
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New<Guard<Mount>>(env, "mount"));
  exports.Set("umount2", Napi::Function::New<Guard<Umount2>>(env, "umount2"));
  exports.Set("flock", Napi::Function::New<Guard<Flock>>(env, "flock"));
  exports.Set("resolveInRoot", Napi::Function::New<Guard<ResolveInRoot>>(env, "resolveInRoot"));
  exports.Set("openInRoot", Napi::Function::New<Guard<OpenInRoot>>(env, "openInRoot"));
  exports.Set("openat2Available", Napi::Function::New<Guard<Openat2Available>>(env, "openat2Available"));
  exports.Set("mknod", Napi::Function::New<Guard<Mknod>>(env, "mknod"));
  exports.Set("lsetxattr", Napi::Function::New<Guard<Lsetxattr>>(env, "lsetxattr"));
  exports.Set("lgetxattr", Napi::Function::New<Guard<Lgetxattr>>(env, "lgetxattr"));
  exports.Set("llistxattr", Napi::Function::New<Guard<Llistxattr>>(env, "llistxattr"));
  exports.Set("lremovexattr", Napi::Function::New<Guard<Lremovexattr>>(env, "lremovexattr"));
  exports.Set("lutimens", Napi::Function::New<Guard<Lutimens>>(env, "lutimens"));
  exports.Set("createFile", Napi::Function::New<Guard<CreateFile>>(env, "createFile"));
  exports.Set("socketpair", Napi::Function::New<Guard<Socketpair>>(env, "socketpair"));
  exports.Set("sendFd", Napi::Function::New<Guard<SendFd>>(env, "sendFd"));
  exports.Set("recvFd", Napi::Function::New<Guard<RecvFd>>(env, "recvFd"));
  exports.Set("pidfdOpen", Napi::Function::New<Guard<PidfdOpen>>(env, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New<Guard<PidfdSendSignal>>(env, "pidfdSendSignal"));
  exports.Set("execve", Napi::Function::New<Guard<Execve>>(env, "execve"));
  exports.Set("spawn", Napi::Function::New<Guard<Spawn>>(env, "spawn"));
  exports.Set("waitPid", Napi::Function::New<Guard<WaitPid>>(env, "waitPid"));
  // The ABI version of these bindings: the TypeScript layer refuses an addon built from older
  // sources instead of failing later on a missing function.
  berth::InitInflate(env, exports);
  exports.Set("abi", Napi::Number::New(env, 7));
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_native, Init)
