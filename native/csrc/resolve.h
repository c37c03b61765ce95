// Resolving a path inside a root directory without ever leaving it (see resolve.cc).
#pragma once

#include <string>

namespace berth {

enum class ResolveMode {
  // Like chroot: ".." at the root stays at the root, absolute symlinks restart at the root.
  kInRoot,
  // Any step that would leave the root fails with EXDEV.
  kBeneath,
};

enum class Resolver {
  kAuto,     // openat2(2) where the kernel has it, else the component walk
  kOpenat2,  // openat2(2) only (ENOSYS on kernels before 5.6)
  kWalk,     // the component walk only (to test it on kernels that have openat2)
};

struct ResolveOptions {
  ResolveMode mode = ResolveMode::kInRoot;
  bool allowMissingLeaf = false;
  bool noFollowLeaf = false;
  Resolver resolver = Resolver::kAuto;
};

// Resolves `path` (relative to `root`; a leading "/" means `root`) and returns the host path of
// the result, spelled with `root` as its prefix. Throws SysError.
std::string ResolveInRoot(const std::string& root, const std::string& path, const ResolveOptions& options);

// Opens `path` inside `root` with open(2) `flags` (O_CLOEXEC always added) and returns the fd:
// the race-free form of ResolveInRoot. With O_CREAT a missing leaf is created inside the root.
int OpenInRoot(const std::string& root, const std::string& path, const ResolveOptions& options, int flags, unsigned mode);

// True when the running kernel implements openat2(2) (Linux 5.6+).
bool Openat2Available();

}  // namespace berth
