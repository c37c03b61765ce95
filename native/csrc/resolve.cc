// Safe path resolution inside a root directory (a container rootfs, a layer being unpacked).
//
// The contents of a rootfs are hostile: an image may ship `etc -> /` or `a -> ../../..`, and a
// running container may swap a directory for a symlink while the host looks. Joining strings and
// calling realpath(3) follows such links out of the root. Two resolvers stay inside instead:
//
//   openat2(2)  Linux 5.6+: the kernel resolves the whole path relative to an fd of the root with
//               RESOLVE_IN_ROOT (".." and absolute symlinks are clamped to the root, as in a chroot)
//               or RESOLVE_BENEATH (any escape fails with EXDEV), plus RESOLVE_NO_MAGICLINKS
//               (/proc/<pid>/fd/* style links jump anywhere, so they are refused with ELOOP).
//   the walk    older kernels: one component at a time with openat(O_PATH|O_NOFOLLOW) from the fd
//               of the previous one; symlinks are read with readlinkat(2) and their text is pushed
//               back onto the queue of components; ".." pops the stack of fds we opened, so it can
//               never climb above the root fd even if a directory is moved meanwhile. At most 40
//               symlinks (the kernel's MAXSYMLINKS) are followed, then ELOOP.
//
// Either way the answer is read back from /proc/self/fd/N of the final fd (what the kernel says
// the object is, not what we computed), checked once more to lie under the root, and re-spelled
// with the caller's root as prefix. Every fd is O_CLOEXEC and owned by an Fd, so none leaks.
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <string>
#include <vector>

#include "common.h"

#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture (unified syscall table, 5.6)
#endif

namespace berth {
namespace {

// The kernel's own limit (MAXSYMLINKS), so both resolvers fail alike on long chains and loops.
constexpr int kMaxSymlinks = 40;
// A bound on open fds in the walk's stack: deeper paths than this are not real rootfs paths.
constexpr size_t kMaxDepth = 2048;

// -1: the kernel said ENOSYS once, so the walk is used from then on without asking again.
std::atomic<int> openat2State{0};

using Components = std::vector<std::string>;

Components Split(const std::string& path) {
  Components out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (!part.empty() && part != ".") out.push_back(std::move(part));
    start = end + 1;
  }
  return out;
}

std::string Join(const Components& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count && i < parts.size(); i++) {
    if (!out.empty()) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

std::string Join(const Components& parts) { return Join(parts, parts.size()); }

std::string JoinRel(const std::string& rel, const std::string& name) { return rel.empty() ? name : rel + "/" + name; }

// What the kernel says an fd refers to: the readlink of its /proc/self/fd entry.
std::string FdPath(int fd) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = readlink(link, &buf[0], buf.size());
    if (n < 0) throw SysError{errno, "readlink", link};
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

std::string ReadlinkAt(int dirfd, const std::string& name, const std::string& display) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = readlinkat(dirfd, name.c_str(), &buf[0], buf.size());
    if (n < 0) throw SysError{errno, "readlinkat", display};
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

// Symlinks on procfs may be magic links (/proc/self/fd/3, /proc/1/root) that jump to objects
// anywhere; openat2 refuses them with RESOLVE_NO_MAGICLINKS, and the walk refuses every procfs
// symlink the same way (ELOOP) rather than guess which ones are magic.
bool OnProcfs(int fd) {
  struct statfs fs;
  return fstatfs(fd, &fs) == 0 && static_cast<unsigned long>(fs.f_type) == PROC_SUPER_MAGIC;
}

long Openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  for (int tries = 0;; tries++) {
    long fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return fd;
    // With RESOLVE_IN_ROOT/BENEATH the kernel answers EAGAIN when a rename or mount raced with a
    // ".." step (it cannot prove the walk stayed inside); openat2(2) says to retry.
    if ((errno == EAGAIN || errno == EINTR) && tries < 256) continue;
    return -1;
  }
}

struct Context {
  const std::string& root;  // the caller's spelling of the root (absolute, normalized)
  std::string rootReal;     // the kernel's path of the root fd
  Fd rootFd;
  ResolveOptions options;
  std::string display;  // root + path, for error messages

  // `real` (a kernel path) relative to the root, or EXDEV if it is not below it. The last line of
  // defence: whatever a resolver did, a path outside the root is never returned.
  std::string Rel(const std::string& real) const {
    if (rootReal == "/") return real.size() > 1 ? real.substr(1) : "";
    if (real == rootReal) return "";
    if (real.size() > rootReal.size() && real.compare(0, rootReal.size(), rootReal) == 0 &&
        real[rootReal.size()] == '/') {
      return real.substr(rootReal.size() + 1);
    }
    throw SysError{EXDEV, "resolve", display};
  }

  std::string Host(const std::string& rel) const {
    if (rel.empty()) return root;
    return root == "/" ? "/" + rel : root + "/" + rel;
  }
};

// openat2 resolution. With allowMissingLeaf, a missing last component is answered with the
// resolved parent plus the name; if that name is a dangling symlink, its target is resolved in
// turn (creating "parent/name" would otherwise follow the link out of the root).
std::string ResolveOpenat2(Context& ctx, const Components& parts, int links) {
  const bool beneath = ctx.options.mode == ResolveMode::kBeneath;
  const uint64_t resolve = RESOLVE_NO_MAGICLINKS | (beneath ? RESOLVE_BENEATH : RESOLVE_IN_ROOT);
  const uint64_t flags = O_PATH | O_CLOEXEC | (ctx.options.noFollowLeaf ? O_NOFOLLOW : 0);

  Fd fd(Openat2(ctx.rootFd.get(), Join(parts), flags, resolve));
  if (fd.valid()) return ctx.Rel(FdPath(fd.get()));
  int err = errno;
  if (err != ENOENT || !ctx.options.allowMissingLeaf || parts.empty() || parts.back() == "..") {
    throw SysError{err, "openat2", ctx.display};
  }

  const std::string& leaf = parts.back();
  Fd parent(Openat2(ctx.rootFd.get(), Join(parts, parts.size() - 1), O_PATH | O_CLOEXEC | O_DIRECTORY, resolve));
  if (!parent.valid()) throw SysError{errno, "openat2", ctx.display};
  std::string parentRel = ctx.Rel(FdPath(parent.get()));

  struct stat st;
  if (fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return JoinRel(parentRel, leaf);
    throw SysError{errno, "fstatat", ctx.display};
  }
  // It exists now but did not a moment ago, or it is a symlink we may not follow: report the
  // ENOENT we saw rather than guess.
  if (!S_ISLNK(st.st_mode) || ctx.options.noFollowLeaf) throw SysError{ENOENT, "openat2", ctx.display};
  if (OnProcfs(parent.get()) || ++links > kMaxSymlinks) throw SysError{ELOOP, "openat2", ctx.display};
  std::string target = ReadlinkAt(parent.get(), leaf, ctx.display);
  if (target.empty()) throw SysError{ENOENT, "readlinkat", ctx.display};

  Components next;
  if (target[0] == '/') {
    if (beneath) throw SysError{EXDEV, "openat2", ctx.display};
  } else {
    next = Split(parentRel);  // real directories only, so ".." in the target means the same here
  }
  for (auto& part : Split(target)) next.push_back(std::move(part));
  return ResolveOpenat2(ctx, next, links);
}

// What the walk found: an O_PATH fd of the object, or (allowMissingLeaf) of its parent plus the
// missing name.
struct Walked {
  Fd fd;
  std::string missingLeaf;
};

Fd Dup(int fd, const std::string& display) {
  Fd copy(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!copy.valid()) throw SysError{errno, "fcntl", display};
  return copy;
}

// The component walk, for kernels without openat2 (or when asked for, to test it).
Walked Walk(Context& ctx, const Components& parts) {
  const bool beneath = ctx.options.mode == ResolveMode::kBeneath;
  std::deque<std::string> todo(parts.begin(), parts.end());
  std::vector<Fd> stack;  // fds of the directories below the root we are in; empty = at the root
  int links = 0;
  auto current = [&]() { return stack.empty() ? ctx.rootFd.get() : stack.back().get(); };
  auto take = [&]() { return stack.empty() ? Dup(ctx.rootFd.get(), ctx.display) : std::move(stack.back()); };

  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "..") {
      // Popping our own fd, never opening "..": a directory moved out of the root meanwhile
      // cannot take us with it.
      if (stack.empty()) {
        if (beneath) throw SysError{EXDEV, "openat", ctx.display};
        continue;
      }
      stack.pop_back();
      continue;
    }
    const bool last = todo.empty();
    Fd fd(openat(current(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      int err = errno;
      if (err == ENOENT && last && ctx.options.allowMissingLeaf) return Walked{take(), name};
      throw SysError{err, "openat", ctx.display};
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0) throw SysError{errno, "fstat", ctx.display};

    if (S_ISLNK(st.st_mode)) {
      if (last && ctx.options.noFollowLeaf) return Walked{std::move(fd), ""};
      if (OnProcfs(fd.get()) || ++links > kMaxSymlinks) throw SysError{ELOOP, "openat", ctx.display};
      // readlinkat(fd, "") reads the link an O_PATH|O_NOFOLLOW fd refers to (Linux 2.6.39+).
      std::string target = ReadlinkAt(fd.get(), "", ctx.display);
      if (target.empty()) throw SysError{ENOENT, "readlinkat", ctx.display};
      if (target[0] == '/') {
        if (beneath) throw SysError{EXDEV, "openat", ctx.display};
        stack.clear();
      }
      Components next = Split(target);
      todo.insert(todo.begin(), next.begin(), next.end());
      continue;
    }
    // "file/x" and "file/.." both fail in the kernel with ENOTDIR; ".." would not reach a syscall
    // here, so check now.
    if (!last && !S_ISDIR(st.st_mode)) throw SysError{ENOTDIR, "openat", ctx.display};
    stack.push_back(std::move(fd));
    if (stack.size() > kMaxDepth) throw SysError{ENAMETOOLONG, "openat", ctx.display};
  }
  return Walked{take(), ""};
}

std::string ResolveWalk(Context& ctx, const Components& parts) {
  Walked w = Walk(ctx, parts);
  std::string rel = ctx.Rel(FdPath(w.fd.get()));
  return w.missingLeaf.empty() ? rel : JoinRel(rel, w.missingLeaf);
}

// Sets up a Context: the root's fd and kernel path, the error display path.
void Open(Context& ctx, const Components& parts) {
  ctx.display = parts.empty() ? ctx.root : ctx.Host(Join(parts));
  // The root itself is the caller's trusted host path, so symlinks in it are followed.
  ctx.rootFd.reset(open(ctx.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!ctx.rootFd.valid()) throw SysError{errno, "open", ctx.root};
  ctx.rootReal = FdPath(ctx.rootFd.get());
}

// Which resolver to use now; kAuto becomes kOpenat2 until the kernel has said ENOSYS once.
Resolver Pick(Resolver asked) {
  if (asked != Resolver::kAuto) return asked;
  return openat2State.load() < 0 ? Resolver::kWalk : Resolver::kOpenat2;
}

}  // namespace

bool Openat2Available() {
  if (openat2State.load() != 0) return openat2State.load() > 0;
  Fd fd(Openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0));
  bool ok = fd.valid() || errno != ENOSYS;
  openat2State.store(ok ? 1 : -1);
  return ok;
}

std::string ResolveInRoot(const std::string& root, const std::string& path, const ResolveOptions& options) {
  Components parts = Split(path);
  Context ctx{root, "", Fd(), options, ""};
  Open(ctx, parts);
  std::string rel;
  if (Pick(options.resolver) == Resolver::kOpenat2) {
    try {
      rel = ResolveOpenat2(ctx, parts, 0);
      openat2State.store(1);
    } catch (const SysError& e) {
      if (e.err != ENOSYS || options.resolver != Resolver::kAuto) throw;
      openat2State.store(-1);
      rel = ResolveWalk(ctx, parts);
    }
  } else {
    rel = ResolveWalk(ctx, parts);
  }
  return ctx.Host(rel);
}

int OpenInRoot(const std::string& root, const std::string& path, const ResolveOptions& options, int flags, unsigned mode) {
  Components parts = Split(path);
  ResolveOptions opts = options;
  opts.allowMissingLeaf = (flags & O_CREAT) != 0;
  // O_CREAT|O_EXCL fails with EEXIST on any existing leaf, a dangling symlink included (open(2)):
  // so the walk must not follow a leaf symlink then, or it would create the link's target.
  const bool exclusive = (flags & O_CREAT) != 0 && (flags & O_EXCL) != 0;
  Context ctx{root, "", Fd(), opts, ""};
  Open(ctx, parts);
  const bool creating = (flags & (O_CREAT | O_TMPFILE)) != 0;

  if (Pick(options.resolver) == Resolver::kOpenat2) {
    // The kernel resolves and opens in one step, creating a missing leaf inside the root too.
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (opts.noFollowLeaf ? O_NOFOLLOW : 0));
    how.mode = creating ? mode : 0;  // openat2 refuses a mode without O_CREAT/O_TMPFILE (EINVAL)
    how.resolve = RESOLVE_NO_MAGICLINKS | (opts.mode == ResolveMode::kBeneath ? RESOLVE_BENEATH : RESOLVE_IN_ROOT);
    for (int tries = 0;; tries++) {
      long fd = syscall(SYS_openat2, ctx.rootFd.get(), Join(parts).c_str(), &how, sizeof how);
      if (fd >= 0) {
        openat2State.store(1);
        return static_cast<int>(fd);
      }
      if ((errno == EAGAIN || errno == EINTR) && tries < 256) continue;
      if (errno == ENOSYS && options.resolver == Resolver::kAuto) {
        openat2State.store(-1);
        break;  // to the walk
      }
      throw SysError{errno, "openat2", ctx.display};
    }
  }

  if (exclusive) ctx.options.noFollowLeaf = true;
  Walked w = Walk(ctx, parts);
  if (!w.missingLeaf.empty()) {
    // A real missing name in a real directory: create it there, never through a symlink that
    // appeared meanwhile (O_NOFOLLOW makes that ELOOP).
    Fd fd(openat(w.fd.get(), w.missingLeaf.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd.valid()) throw SysError{errno, "openat", ctx.display};
    return fd.release();
  }
  if (exclusive) throw SysError{EEXIST, "openat", ctx.display};
  if ((flags & O_PATH) != 0) return w.fd.release();
  struct stat st;
  if (fstat(w.fd.get(), &st) != 0) throw SysError{errno, "fstat", ctx.display};
  if (S_ISLNK(st.st_mode)) throw SysError{ELOOP, "openat", ctx.display};  // noFollowLeaf, as O_NOFOLLOW does
  // Reopen the O_PATH fd through /proc/self/fd: the same object, now with real access flags.
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", w.fd.get());
  Fd fd(open(link, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC));
  if (!fd.valid()) throw SysError{errno, "open", ctx.display};
  return fd.release();
}

}  // namespace berth
