/*
 * berth-shim: carries out an init plan written by @berth/runtime, then (in
 * monitor and foreground modes) stays on as the container's parent.
 *
 * Node cannot clone/unshare/setns safely (it is multi-threaded), so this small
 * single-threaded executable does it. All policy lives in TypeScript: the plan
 * is a flat, ordered list of steps, and this file only executes them.
 *
 * fds 3 and 4 may be one socket (a socketpair end, both directions): then nothing in the
 * protocol changes but that closing fd 3 leaves it open as fd 4.
 *
 * Plan wire format (fd 3, from TypeScript):
 *
 *   u32 little-endian byte length, then records; a record is its token count in
 *   decimal, then that many tokens, each NUL-terminated:   3 \0 op \0 arg1 \0 arg2 \0
 *   (tokens may be empty: an empty mount source or fstype means NULL)
 *
 * Header records (executed by the shim before clone):
 *   mode exit|foreground|monitor   clone <flags>   setns <flag> <path>
 *   sc_default <action> <errno>    sc_arch <name>
 *   sc_rule <action> <errno> <syscall> <n> (<idx> <op> <value> <value2>)*
 *   sc_cache <dir>                 (keep the compiled filter as BPF there; see "seccomp cache")
 *   exitfile <path>                console_connect <socket path>   mkfifo <path>
 *   cgroup <dir>                   (the shim writes the init's pid to <dir>/cgroup.procs after "go")
 *   cgroup_self <dir>              (a v1 dir the init joins itself after "go": "joining the cgroups")
 *   cleanup_cgroups                (foreground: rmdir the cgroups once the init is reaped)
 *   console_self                   (foreground: the shim itself receives the pty master and
 *                                   proxies its stdin/stdout to it, host terminal in raw mode;
 *                                   monitor with log: the shim logs what the pty shows)
 *   log <path>                     (monitor: the init's stdout/stderr are pipes to the shim, which
 *                                   appends Docker json-file lines {"log","stream","time"} to path)
 *   log_rotate <max bytes> <files> (with log: past max bytes, path -> path.1 -> … path.<files-1>)
 *   log_tee <stdout 0|1> <stderr 0|1> (foreground with log: the output is also copied, raw, to the
 *                                   shim's own fd 1 / fd 2: the caller's terminal, attached)
 *   socket <path>                  (monitor: answer on a unix socket there: see "the monitor's socket")
 *   exit_command <argv…>           (monitor: once the exit file is written, the shim execs argv in
 *                                   its own place, like conmon's --exit-command; same pid, so the
 *                                   holder stays alive until the caller's cleanup is done)
 *   pidfile <path>                 (the init's pid is written there, atomically, once it is ready)
 *   rmstate <dir>                  (foreground: at the end, remove the files of dir and dir itself)
 *   on_error <argv…>               (the caller has become this shim (execve) and reads nothing:
 *                                   a failure to start execs argv with the error line appended,
 *                                   for the caller's own code to report and clean up)
 *   oom_note <file> json|text      (foreground: when the OOM killer acted, append a log line
 *                                   saying so, as `berth-runtime run --log` does)
 * Every other record is an init step, run in order by the cloned child.
 *
 * Sync protocol (one line each):
 *
 *   shim --(fd 4) "pid <host pid>\n"      --> TypeScript writes uid/gid maps, makes the cgroups
 *   shim <--(fd 3) "go\n" | "abort\n"     --- TypeScript (may come before the pid line: when nothing
 *                                          needs the pid, it follows the plan once the cgroups exist)
 *   shim: writes the pid to each "cgroup" dir's cgroup.procs that the init does not join itself
 *   shim --(sync pipe) 1 byte             --> init runs its steps
 *   init --(err pipe)  "ready\n"          --> shim --(fd 4) "ready\n"   (before wait_start; with no
 *                                          wait_start, held back until the err pipe's EOF: execve worked)
 *   init --(err pipe)  "error\t<stage>\t<op>\t<errno>\t<path>\n" on failure, then _exit(1)
 *   monitor/foreground: shim --(fd 4) "exit <code> <signal> <oom killed 0|1>\n" when the init exits
 *
 * Joining the cgroups: a write of a pid to cgroup.procs takes the kernel's global
 * cgroup_threadgroup_rwsem for writing, whose first writer in a while waits for an RCU grace
 * period (7-15 ms here: the largest item of a start). A single-threaded process that moves
 * itself, writing "0" to a v1 hierarchy's `tasks`, skips that lock (cgroup_procs_write_start:
 * "If we migrate a single thread, we don't care about threadgroup stability"). So the init
 * (single-threaded, cloned from this single-threaded shim) joins each v1 dir itself, first
 * thing after "go", for each `cgroup_self` record (TypeScript says which: v1 dirs, out of a user
 * namespace, whose root may not write the host's cgroup files). A cgroup2 dir (no `tasks`; a
 * thread move there stays in its threaded domain) is a `cgroup` record: the shim writes the pid
 * to its cgroup.procs. A new cgroup namespace is then unshared by the init once it joined, so
 * that its root is the container's cgroup, as runc's is.
 *
 * Modes: `exit` (runc-style create: the shim exits once the init is ready, the
 * init is reparented to the caller's subreaper); `foreground` (the shim waits
 * and exits with the init's status, 128+signal for a signal); `monitor` (the
 * shim forks and setsid()s so it outlives the caller, becomes a subreaper,
 * reaps the init and writes its status to the exit file).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <linux/filter.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CTL_IN 3
#define CTL_OUT 4

struct rec {
  int n;
  char **tok;
};

static struct rec *recs;
static int nrecs;
static int errfd = -1; /* init -> shim */
static int fifo_fd = -1;
static int console_fd = -1;
static scmp_filter_ctx sc_ctx;
static struct sock_fprog sc_prog; /* the filter as BPF (cached or exported): what the init loads */
static char exec_path[4096];
static char **exec_env;

/* ---- small helpers ---------------------------------------------------- */

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* Writes all of s; -1 when the fd refused (the rest is dropped). */
static int write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, s, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w;
    len -= (size_t)w;
  }
  return 0;
}

static void say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int fd, const char *fmt, ...) {
  char line[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  write_all(fd, line, (size_t)n);
}

/* Report a failed step of the init and die: the shim relays the line to TypeScript. */
static int started; /* past wait_start: `create` has returned and nobody reads the err pipe */
static void fail(const char *stage, const char *op, const char *path) {
  int e = errno;
  say(errfd, "error\t%s\t%s\t%d\t%s\n", stage, op, e, path ? path : "");
  /* After `start`, the shim of a create is gone: tell the person on the process's own stderr,
   * as runc's init does ("exec /bin/x: exec format error"). */
  if (started) {
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(e));
    why[0] = (char)tolower((unsigned char)why[0]); /* "exec format error", as runc words it */
    if (!strcmp(stage, "exec")) say(2, "exec %s: %s\n", path ? path : "", why);
    else say(2, "berth-runtime: %s: %s %s: %s\n", stage, op, path ? path : "", why);
  }
  _exit(1);
}

/* A failure of the shim itself (before or around clone). */
/* on_error: the argv a failure to start is handed to (see the record), and the first error line. */
static char **on_error_argv;
static char first_error[8192];

/* An error line for the caller: written on fd 4 and kept as the first one. */
static void report_error(const char *line) {
  write_all(CTL_OUT, line, strlen(line));
  if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", line);
}

/* The container could not be started: exit 1, or with on_error become its argv plus the error. */
static void failed_exit(void) {
  if (on_error_argv && first_error[0]) {
    int n = 0;
    while (on_error_argv[n]) n++;
    char **argv = calloc((size_t)n + 2, sizeof(char *));
    if (argv) {
      for (int i = 0; i < n; i++) argv[i] = on_error_argv[i];
      first_error[strcspn(first_error, "\n")] = 0;
      argv[n] = first_error;
      signal(SIGPIPE, SIG_DFL);
      execv(argv[0], argv);
    }
  }
  _exit(1);
}

static void shim_fail(const char *op, const char *path) {
  int e = errno;
  char line[8192];
  snprintf(line, sizeof line, "error\tshim\t%s\t%d\t%s\n", op, e, path ? path : "");
  report_error(line);
  failed_exit();
}

/* Writes `pid` to `path` through a temporary file and a rename: a reader sees all of it or nothing. */
static void write_pidfile(const char *path, pid_t pid) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  say(fd, "%d", (int)pid);
  close(fd);
  if (rename(tmp, path) < 0) unlink(tmp);
}

/* Removes a flat state directory: its files, then itself (anything unexpected stays). */
static void remove_state_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  DIR *d = fdopendir(dfd);
  if (!d) { close(dfd); return; }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    unlinkat(dfd, e->d_name, 0);
  }
  closedir(d);
  rmdir(dir);
}

static unsigned long long num(const char *s) { return strtoull(s, NULL, 0); }

/* mkdir -p; components that exist are fine. */
static int mkdirp(const char *path, mode_t mode) {
  char buf[4096];
  size_t len = strlen(path);
  if (len >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
  return 0;
}

/* ---- seccomp (built by the shim before clone, loaded by the init last) ---- */

static uint32_t sc_action(const char *name, const char *errno_ret) {
  int e = (int)num(errno_ret);
  if (!strcmp(name, "SCMP_ACT_ALLOW")) return SCMP_ACT_ALLOW;
  if (!strcmp(name, "SCMP_ACT_ERRNO")) return SCMP_ACT_ERRNO(e);
  if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD")) return SCMP_ACT_KILL;
  if (!strcmp(name, "SCMP_ACT_KILL_PROCESS")) return SCMP_ACT_KILL_PROCESS;
  if (!strcmp(name, "SCMP_ACT_TRAP")) return SCMP_ACT_TRAP;
  if (!strcmp(name, "SCMP_ACT_TRACE")) return SCMP_ACT_TRACE(e);
  if (!strcmp(name, "SCMP_ACT_LOG")) return SCMP_ACT_LOG;
  errno = EINVAL;
  shim_fail("seccomp action", name);
  return 0;
}

static enum scmp_compare sc_op(const char *name) {
  static const struct { const char *n; enum scmp_compare op; } ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(name, ops[i].n)) return ops[i].op;
  errno = EINVAL;
  shim_fail("seccomp operator", name);
  return SCMP_CMP_EQ;
}

static void sc_rule(struct rec *r, uint32_t def) {
  /* sc_rule <action> <errno> <syscall> <n> (<idx> <op> <value> <value2>)* */
  if (r->n < 5) { errno = EINVAL; shim_fail("seccomp rule", NULL); }
  uint32_t act = sc_action(r->tok[1], r->tok[2]);
  int nr = seccomp_syscall_resolve_name(r->tok[3]);
  if (nr == __NR_SCMP_ERROR) return; /* unknown on this kernel/arch: ignore, as runc does */
  if (act == def) return;             /* libseccomp refuses rules equal to the default */
  int n = (int)num(r->tok[4]);
  if (n > 6 || r->n < 5 + 4 * n) { errno = EINVAL; shim_fail("seccomp rule", r->tok[3]); }
  struct scmp_arg_cmp cmp[6];
  for (int i = 0; i < n; i++) {
    cmp[i].arg = (unsigned)num(r->tok[5 + 4 * i]);
    cmp[i].op = sc_op(r->tok[6 + 4 * i]);
    cmp[i].datum_a = num(r->tok[7 + 4 * i]);
    cmp[i].datum_b = num(r->tok[8 + 4 * i]);
  }
  int rc = seccomp_rule_add_array(sc_ctx, act, nr, (unsigned)n, cmp);
  if (rc < 0) { errno = -rc; shim_fail("seccomp_rule_add", r->tok[3]); }
}

/* ---- init steps (run in the cloned child) ------------------------------ */

/*
 * The seccomp cache. Building a profile like Docker's with libseccomp (~300 rules) and
 * compiling it to BPF costs 15-25 ms of every container start. The BPF depends only on the
 * sc_* records, the libseccomp build and the kernel's seccomp API level, so the shim keeps it
 * in <dir>/<fnv64 of that key>.bpf, as: u32 key length, the key itself (compared byte for
 * byte: a hash collision can never select another profile), u32 instruction count, the
 * instructions. A miss builds the filter as before and exports it (seccomp_export_bpf) for the
 * cache and for the init, which thus always loads the same kind of program. Any failure of the
 * cache only costs the build.
 */
static char *sc_key;
static size_t sc_keylen;

static void sc_key_add(const char *p, size_t n) {
  sc_key = realloc(sc_key, sc_keylen + n);
  if (!sc_key) { errno = ENOMEM; shim_fail("seccomp cache key", NULL); }
  memcpy(sc_key + sc_keylen, p, n);
  sc_keylen += n;
}

static void sc_key_record(const struct rec *r) {
  char count[16];
  int n = snprintf(count, sizeof count, "%d", r->n);
  sc_key_add(count, (size_t)n + 1);
  for (int i = 0; i < r->n; i++) sc_key_add(r->tok[i], strlen(r->tok[i]) + 1);
}

/* The cache dir, opened when the plan is read: before any setns, so a plan that joins another
 * mount namespace (exec, a namespace path) still reads and writes the host's cache. */
static int sc_cache_dirfd = -1;

static void sc_cache_file(char *out, size_t size) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < sc_keylen; i++) h = (h ^ (unsigned char)sc_key[i]) * 1099511628211ULL;
  snprintf(out, size, "%016llx.bpf", (unsigned long long)h);
}

/* The cached program for sc_key, if the file holds exactly that key. */
static int sc_cache_load(const char *file) {
  int fd = openat(sc_cache_dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  struct stat st;
  char *buf = NULL;
  int ok = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 8 && st.st_size < (1 << 24) &&
      (buf = malloc((size_t)st.st_size)) && read_full(fd, buf, (size_t)st.st_size) == 0) {
    uint32_t klen, count;
    memcpy(&klen, buf, 4);
    if ((size_t)klen == sc_keylen && 8 + (size_t)klen <= (size_t)st.st_size && !memcmp(buf + 4, sc_key, klen)) {
      memcpy(&count, buf + 4 + klen, 4);
      size_t bytes = (size_t)count * sizeof(struct sock_filter);
      if (count > 0 && count <= BPF_MAXINSNS && 8 + (size_t)klen + bytes == (size_t)st.st_size) {
        sc_prog.filter = malloc(bytes);
        if (sc_prog.filter) {
          memcpy(sc_prog.filter, buf + 8 + klen, bytes);
          sc_prog.len = (unsigned short)count;
          ok = 1;
        }
      }
    }
  }
  free(buf);
  close(fd);
  return ok ? 0 : -1;
}

/* Exports the built filter as BPF into sc_prog and, best effort, into the cache file. */
static void sc_cache_store(const char *file) {
  int mfd = memfd_create("berth-seccomp", MFD_CLOEXEC);
  if (mfd < 0) return;
  off_t size;
  if (seccomp_export_bpf(sc_ctx, mfd) < 0 || (size = lseek(mfd, 0, SEEK_END)) <= 0 ||
      size % (off_t)sizeof(struct sock_filter) != 0 || size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
    close(mfd);
    return;
  }
  struct sock_filter *prog = malloc((size_t)size);
  if (!prog || pread(mfd, prog, (size_t)size, 0) != size) { free(prog); close(mfd); return; }
  close(mfd);
  sc_prog.filter = prog;
  sc_prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", file, (int)getpid());
  int fd = openat(sc_cache_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  uint32_t klen = (uint32_t)sc_keylen, count = sc_prog.len;
  write_all(fd, (const char *)&klen, 4);
  write_all(fd, sc_key, sc_keylen);
  write_all(fd, (const char *)&count, 4);
  write_all(fd, (const char *)prog, (size_t)size);
  if (close(fd) == 0 && renameat(sc_cache_dirfd, tmp, sc_cache_dirfd, file) == 0) return;
  unlinkat(sc_cache_dirfd, tmp, 0);
}

static void set_console(const char *rows, const char *cols) {
  /* The container's own devpts is mounted at /dev/pts; open its ptmx. */
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail("console", "open", "/dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail("console", "unlockpt", "/dev/ptmx");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) fail("console", "open pty peer", "/dev/ptmx");
  struct winsize ws = {.ws_row = (unsigned short)num(rows), .ws_col = (unsigned short)num(cols)};
  /* No size in the config: take the caller's terminal's, still our stdin at this point. */
  if (!(ws.ws_row && ws.ws_col) && isatty(0)) ioctl(0, TIOCGWINSZ, &ws);
  if (ws.ws_row && ws.ws_col) ioctl(master, TIOCSWINSZ, &ws);
  int ptyno = 0;
  ioctl(master, TIOCGPTN, &ptyno);
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%d", ptyno);
  /* runc's console-socket protocol: data is the pty name, ancillary is the master fd. */
  struct iovec iov = {.iov_base = name, .iov_len = strlen(name)};
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(console_fd, &msg, 0) < 0) fail("console", "sendmsg", "console socket");
  close(console_fd);
  close(master);
  if (setsid() < 0) fail("console", "setsid", NULL);
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail("console", "ioctl TIOCSCTTY", name);
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) fail("console", "dup2", name);
  if (slave > 2) close(slave);
}

static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return;
    fail("rootfs", "stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0) fail("rootfs", "mask", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    fail("rootfs", "mask", path);
  }
}

static void readonly_path(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    fail("rootfs", "bind readonly", path);
  }
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
      mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
    fail("rootfs", "remount readonly", path);
}

static void write_file(const char *path, const char *value, const char *stage) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(stage, "open", path);
  if (write(fd, value, strlen(value)) < 0) fail(stage, "write", path);
  close(fd);
}

/* Resolve argv[0] against the container's PATH before the process is started, so a missing
 * binary is reported by create rather than lost after start (runc does the same). */
static void lookpath(const char *file, const char *pathvar) {
  if (strchr(file, '/')) {
    /* As Go's exec.LookPath (runc): a path must exist, not be a directory, and be executable.
     * access(X_OK) alone lets root "execute" a directory, and execve would fail only after the
     * init reported ready. */
    snprintf(exec_path, sizeof exec_path, "%s", file);
    struct stat st;
    if (stat(exec_path, &st) < 0) fail("exec", "stat", file);
    if (S_ISDIR(st.st_mode)) { errno = EISDIR; fail("exec", "lookpath", file); }
    if (access(exec_path, X_OK) < 0) fail("exec", "lookpath", file);
    return;
  }
  const char *p = pathvar && *pathvar ? pathvar : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int saved = ENOENT;
  while (*p) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    snprintf(exec_path, sizeof exec_path, "%.*s/%s", (int)len, p, file);
    if (access(exec_path, X_OK) == 0) {
      struct stat st;
      if (stat(exec_path, &st) == 0 && S_ISREG(st.st_mode)) return;
    } else if (errno != ENOENT) {
      saved = errno;
    }
    p += len;
    if (*p == ':') p++;
  }
  errno = saved;
  fail("exec", "lookpath", file);
}

static void do_capset(const char *eff, const char *perm, const char *inh) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  unsigned long long e = num(eff), p = num(perm), i = num(inh);
  d[0].effective = (uint32_t)e; d[1].effective = (uint32_t)(e >> 32);
  d[0].permitted = (uint32_t)p; d[1].permitted = (uint32_t)(p >> 32);
  d[0].inheritable = (uint32_t)i; d[1].inheritable = (uint32_t)(i >> 32);
  if (syscall(SYS_capset, &h, d) < 0) fail("process", "capset", NULL);
}

static int state_dirfd = -1;

/* hook <kind> <timeout s> <path> <nargs> <args...> <env...>: runs an OCI hook with the
 * container's state (hookstate.json in the state dir, opened before pivot_root) on stdin. */
static void run_hook(struct rec *r) {
  if (r->n < 5) { errno = EINVAL; fail("hook", "hook step", NULL); }
  const char *kind = r->tok[1];
  int timeout = (int)num(r->tok[2]);
  const char *path = r->tok[3];
  int nargs = (int)num(r->tok[4]);
  if (nargs < 0 || 5 + nargs > r->n) { errno = EINVAL; fail("hook", kind, path); }
  char **args = calloc((size_t)nargs + 2, sizeof(char *));
  for (int i = 0; i < nargs; i++) args[i] = r->tok[5 + i];
  if (nargs == 0) args[0] = (char *)path;
  char **env = &r->tok[5 + nargs]; /* the record's token array is NULL-terminated */
  int in = state_dirfd >= 0 ? openat(state_dirfd, "hookstate.json", O_RDONLY | O_CLOEXEC) : open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("hook", "open container state for hook", path);
  pid_t pid = fork();
  if (pid < 0) fail("hook", "fork", path);
  if (pid == 0) {
    dup2(in, 0);
    signal(SIGPIPE, SIG_DFL);
    execve(path, args, env);
    _exit(127);
  }
  close(in);
  int st = 0;
  for (int waited = 0;; waited += 10) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (timeout > 0 && waited >= timeout * 1000) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      errno = ETIMEDOUT;
      fail("hook", kind, path);
    }
    usleep(10000);
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    errno = WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ENOENT : ECANCELED;
    fail("hook", kind, path);
  }
  free(args);
}

static void run_step(struct rec *r) {
  const char *op = r->tok[0];
  const char *a1 = r->n > 1 ? r->tok[1] : "";
  const char *a2 = r->n > 2 ? r->tok[2] : "";
  if (!strcmp(op, "mount")) {
    /* mount <source> <target> <fstype> <flags> <data> */
    if (r->n < 6) { errno = EINVAL; fail("mount", "mount", a2); }
    const char *data = r->tok[5][0] ? r->tok[5] : NULL;
    const char *fstype = r->tok[3][0] ? r->tok[3] : NULL;
    const char *src = r->tok[1][0] ? r->tok[1] : NULL;
    if (mount(src, a2, fstype, (unsigned long)num(r->tok[4]), data) < 0) fail("mount", fstype ? fstype : "bind", a2);
  } else if (!strcmp(op, "mkdirp")) {
    if (mkdirp(a1, 0755) < 0) fail("mount", "mkdir", a1);
  } else if (!strcmp(op, "touch")) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", a1);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) { *slash = 0; if (mkdirp(dir, 0755) < 0) fail("mount", "mkdir", dir); }
    /* An existing file is left alone: opening it for writing would make overlayfs copy it up,
     * and the container's diff would list /etc/hosts and friends as changed. */
    struct stat st;
    if (lstat(a1, &st) < 0) {
      int fd = open(a1, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 && errno != EISDIR) fail("mount", "create", a1);
      if (fd >= 0) close(fd);
    }
  } else if (!strcmp(op, "mknod")) {
    /* mknod <path> <c|b|p> <major> <minor> <mode> <uid> <gid> */
    mode_t type = a2[0] == 'b' ? S_IFBLK : a2[0] == 'p' ? S_IFIFO : S_IFCHR;
    unlink(a1);
    if (mknod(a1, type | (mode_t)num(r->tok[5]), makedev(num(r->tok[3]), num(r->tok[4]))) < 0) fail("mount", "mknod", a1);
    if (chmod(a1, (mode_t)num(r->tok[5])) < 0) fail("mount", "chmod", a1);
    if (chown(a1, (uid_t)num(r->tok[6]), (gid_t)num(r->tok[7])) < 0) fail("mount", "chown", a1);
  } else if (!strcmp(op, "symlink")) {
    if (symlink(a1, a2) < 0 && errno != EEXIST) fail("mount", "symlink", a2);
  } else if (!strcmp(op, "pivot_root")) {
    /* pivot_root(".", ".") stacks the old root under the new one; detach it (runc's trick,
     * which needs no temporary directory inside the rootfs). */
    if (chdir(a1) < 0) fail("rootfs", "chdir", a1);
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail("rootfs", "pivot_root", a1);
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail("rootfs", "make old root slave", a1);
    if (umount2(".", MNT_DETACH) < 0) fail("rootfs", "umount old root", a1);
    if (chdir("/") < 0) fail("rootfs", "chdir", "/");
  } else if (!strcmp(op, "mask")) {
    mask_path(a1);
  } else if (!strcmp(op, "readonly")) {
    readonly_path(a1);
  } else if (!strcmp(op, "remount")) {
    if (mount(NULL, a1, NULL, (unsigned long)num(a2), NULL) < 0) fail("rootfs", "remount", a1);
  } else if (!strcmp(op, "sysctl")) {
    write_file(a1, a2, "sysctl");
  } else if (!strcmp(op, "hostname")) {
    if (sethostname(a1, strlen(a1)) < 0) fail("rootfs", "sethostname", a1);
  } else if (!strcmp(op, "domainname")) {
    if (setdomainname(a1, strlen(a1)) < 0) fail("rootfs", "setdomainname", a1);
  } else if (!strcmp(op, "unshare")) {
    if (unshare((int)num(a1)) < 0) fail("namespaces", "unshare", a1);
  } else if (!strcmp(op, "state_dir")) {
    state_dirfd = open(a1, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (state_dirfd < 0) fail("create", "open state dir", a1);
  } else if (!strcmp(op, "hook")) {
    run_hook(r);
  } else if (!strcmp(op, "fifo_open")) {
    fifo_fd = open(a1, O_PATH | O_CLOEXEC);
    if (fifo_fd < 0) fail("create", "open exec fifo", a1);
  } else if (!strcmp(op, "console")) {
    set_console(a1, a2);
  } else if (!strcmp(op, "chdir")) {
    if (chdir(a1) < 0) fail("process", "chdir", a1);
  } else if (!strcmp(op, "umask")) {
    umask((mode_t)num(a1));
  } else if (!strcmp(op, "rlimit")) {
    /* rlimit <resource> <soft> <hard> <name> */
    struct rlimit rl = {.rlim_cur = num(a2), .rlim_max = num(r->tok[3])};
    if (setrlimit((int)num(a1), &rl) < 0) fail("process", "setrlimit", r->n > 4 ? r->tok[4] : a1);
  } else if (!strcmp(op, "oom_score_adj")) {
    write_file("/proc/self/oom_score_adj", a1, "process");
  } else if (!strcmp(op, "lookpath")) {
    lookpath(a1, a2);
  } else if (!strcmp(op, "ready")) {
    say(errfd, "ready\n");
  } else if (!strcmp(op, "wait_start")) {
    /* Block until `start` opens the fifo for reading. /proc is the container's own here,
     * and the O_PATH fd taken before pivot_root still names the fifo in the state dir. */
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fifo_fd);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("start", "open exec fifo", p);
    if (write(fd, "0", 1) != 1) fail("start", "write exec fifo", p);
    close(fd);
    close(fifo_fd);
    started = 1;
  } else if (!strcmp(op, "bounding")) {
    unsigned long long keep = num(a1);
    for (int cap = 0; cap < 64; cap++) {
      if (keep & (1ULL << cap)) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) fail("process", "drop bounding capability", NULL);
    }
  } else if (!strcmp(op, "keepcaps")) {
    if (prctl(PR_SET_KEEPCAPS, num(a1), 0, 0, 0) < 0) fail("process", "prctl PR_SET_KEEPCAPS", NULL);
  } else if (!strcmp(op, "groups")) {
    gid_t g[64];
    int n = r->n - 1 > 64 ? 64 : r->n - 1;
    for (int i = 0; i < n; i++) g[i] = (gid_t)num(r->tok[i + 1]);
    if (setgroups((size_t)n, g) < 0) fail("process", "setgroups", NULL);
  } else if (!strcmp(op, "setgid")) {
    gid_t gid = (gid_t)num(a1);
    if (setresgid(gid, gid, gid) < 0) fail("process", "setgid", a1);
  } else if (!strcmp(op, "setuid")) {
    uid_t uid = (uid_t)num(a1);
    if (setresuid(uid, uid, uid) < 0) fail("process", "setuid", a1);
  } else if (!strcmp(op, "capset")) {
    do_capset(a1, a2, r->tok[3]);
  } else if (!strcmp(op, "ambient")) {
    unsigned long long amb = num(a1);
    for (int cap = 0; cap < 64; cap++)
      if (amb & (1ULL << cap)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  } else if (!strcmp(op, "nnp")) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("process", "prctl PR_SET_NO_NEW_PRIVS", NULL);
  } else if (!strcmp(op, "seccomp_load")) {
    if (sc_prog.len > 0) {
      /* What seccomp_load does with the attributes the shim sets (no_new_privs left to the
       * plan's own "nnp" step, as runc does; no filter flags): seccomp(2) with the program.
       * Without no_new_privs this needs CAP_SYS_ADMIN, which the plan keeps until here. */
      if (syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, &sc_prog) < 0) fail("seccomp", "seccomp_load", NULL);
    } else {
      int rc = seccomp_load(sc_ctx);
      if (rc < 0) { errno = -rc; fail("seccomp", "seccomp_load", NULL); }
    }
  } else if (!strcmp(op, "env")) {
    exec_env = calloc((size_t)r->n, sizeof(char *));
    for (int i = 1; i < r->n; i++) exec_env[i - 1] = r->tok[i];
  } else if (!strcmp(op, "exec")) {
    /* exec <argv...>: signals back to default and the mask cleared before execve. */
    sigset_t all;
    sigemptyset(&all);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (!exec_path[0]) lookpath(a1, NULL);
    execve(exec_path, &r->tok[1], exec_env ? exec_env : (char *[]){NULL});
    fail("exec", "execve", exec_path);
  } else {
    errno = EINVAL;
    fail("plan", "unknown step", op);
  }
}

/* The cgroup dirs the init joins itself, and whether it then unshares its cgroup namespace
 * (see "joining the cgroups" at the top). */
static const char *self_join[64];
static int nself_join;
static int unshare_cgroupns;

static int init_main(int syncfd) {
  /* Writes to the err pipe after the shim has gone must not kill us. */
  signal(SIGPIPE, SIG_IGN);
  char go;
  if (read_full(syncfd, &go, 1) < 0) _exit(1); /* the shim aborted */
  close(syncfd);
  for (int i = 0; i < nself_join; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tasks", self_join[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail("cgroup", "join cgroup", path);
    close(fd);
  }
  if (unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0) fail("init", "unshare cgroup namespace", NULL);
  for (int i = 0; i < nrecs; i++) run_step(&recs[i]);
  errno = EINVAL;
  fail("plan", "plan has no exec step", NULL);
  return 1;
}

/* ---- the monitor's log (Docker json-file format) ------------------------------ */

static const char *log_path;
static unsigned long long log_max, log_size;
static int log_files = 1;
/* log_tee: the shim's fd (1, 2) each stream is also copied to, or -1. */
static int tee_fd[2] = {-1, -1};

/* Docker's json-file rotation: log.json -> log.json.1 -> … -> log.json.<files-1>, the oldest
 * dropped; with one file the log just starts again. Readers read the rotated files oldest first. */
static void log_rotate(int *logfd) {
  close(*logfd);
  char from[4200], to[4200];
  if (log_files <= 1) unlink(log_path);
  for (int i = log_files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", log_path);
    else snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
    snprintf(to, sizeof to, "%s.%d", log_path, i);
    rename(from, to);
  }
  *logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  log_size = 0;
}

/* Appends one {"log","stream","time"} line per line of output (a chunk's tail without a
 * newline becomes its own record, as Docker does for partial lines). */
static void log_chunk(int *logfd, const char *stream, const char *data, size_t len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[64];
  size_t w = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + w, sizeof when - w, ".%09ldZ", ts.tv_nsec);
  size_t start = 0;
  while (start < len) {
    size_t end = start;
    while (end < len && data[end] != '\n') end++;
    if (end < len) end++; /* keep the newline in the record */
    char out[16384 + 256];
    size_t o = (size_t)snprintf(out, sizeof out, "{\"log\":\"");
    for (size_t i = start; i < end && o < sizeof out - 160; i++) {
      unsigned char c = (unsigned char)data[i];
      if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
      else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
      else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
      else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
      else if (c < 0x20) o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
      else out[o++] = (char)c;
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, when);
    if (log_max > 0 && log_size > 0 && log_size + o > log_max) log_rotate(logfd);
    if (*logfd >= 0) write_all(*logfd, out, o);
    log_size += o;
    start = end;
  }
}

/* Reaps every exited child without blocking (we are a subreaper: orphans of the container land
 * here too); records the status of `pid`, the container's init. No children left counts as exited. */
static void reap_children(pid_t pid, int *status, int *exited) {
  int st;
  pid_t w;
  while ((w = waitpid(-1, &st, WNOHANG)) > 0)
    if (w == pid) { *status = st; *exited = 1; }
  if (w < 0 && errno == ECHILD) *exited = 1;
}

/* ---- the monitor's socket -------------------------------------------------------
 *
 * Monitor mode with "socket <path>": a unix stream socket in the container's state dir, one
 * request line per connection:
 *
 *   state\n            -> "running <init pid>\n"
 *   kill <signal>\n    -> "ok\n"              (to the init)
 *   resize <rows> <cols>\n -> "ok\n"          (the pty's window size; a no-op without a pty)
 *   attach\n           -> the container's output from now on, raw, until it exits; with a pty,
 *                         what the client sends goes to the pty (the container's terminal input)
 */
#define MAX_CLIENTS 16
static int listen_fd = -1;
static const char *sock_path;
static int pty_master = -1;
static pid_t init_pid;
static struct client { int fd; int attached; size_t n; char line[128]; } clients[MAX_CLIENTS];

/* Binds relative to the socket's directory: a state dir path may exceed sun_path's 108 bytes. */
static void sock_open(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  const char *name = slash ? slash + 1 : dir;
  if (slash) *slash = 0;
  int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0 || (slash && chdir(dir[0] ? dir : "/") < 0)) { if (cwd >= 0) close(cwd); return; }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", name);
  unlink(name);
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  /* Owner only (connecting needs write permission): whoever reaches the socket can attach to the
   * container and kill it, whatever umask the shim was started with. */
  mode_t old_mask = umask(0177);
  if (listen_fd >= 0 && (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(listen_fd, 8) < 0)) {
    close(listen_fd);
    listen_fd = -1;
  }
  umask(old_mask);
  if (fchdir(cwd) < 0) { /* stay where we are: nothing else is relative */ }
  close(cwd);
  sock_path = path;
}

static void sock_close(void) {
  for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i].fd > 0) { close(clients[i].fd); clients[i].fd = 0; }
  if (listen_fd >= 0) { close(listen_fd); listen_fd = -1; unlink(sock_path); }
}

/* Copies output to the attached clients; one too slow to take it (its buffer full) is dropped. */
static void broadcast(const char *data, size_t len) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd <= 0 || !clients[i].attached) continue;
    if (send(clients[i].fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) { close(clients[i].fd); clients[i].fd = 0; }
  }
}

static void sock_accept(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i].fd > 0) continue;
    clients[i] = (struct client){.fd = fd};
    return;
  }
  close(fd); /* full */
}

static void client_request(struct client *c) {
  char *line = c->line;
  if (!strcmp(line, "attach")) { c->attached = 1; return; }
  if (!strcmp(line, "state")) say(c->fd, "running %d\n", init_pid);
  else if (!strncmp(line, "kill ", 5)) { kill(init_pid, atoi(line + 5)); say(c->fd, "ok\n"); }
  else if (!strncmp(line, "resize ", 7)) {
    struct winsize ws = {0};
    ws.ws_row = (unsigned short)strtoul(line + 7, &line, 10);
    ws.ws_col = (unsigned short)strtoul(line, NULL, 10);
    if (pty_master >= 0) ioctl(pty_master, TIOCSWINSZ, &ws);
    say(c->fd, "ok\n");
  } else say(c->fd, "error unknown request\n");
}

static void client_read(struct client *c) {
  char buf[4096];
  ssize_t r = read(c->fd, buf, sizeof buf);
  if (r <= 0) {
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    close(c->fd);
    c->fd = 0;
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    if (c->attached) { /* the rest is terminal input */
      if (pty_master >= 0) write_all(pty_master, buf + i, (size_t)(r - i));
      return;
    }
    if (buf[i] == '\n' || c->n == sizeof c->line - 1) {
      c->line[c->n] = 0;
      c->n = 0;
      client_request(c);
    } else c->line[c->n++] = buf[i];
  }
}

/* Drains the init's stdout/stderr pipes (or its pty master, as stdout) into the log, and serves
 * the socket, until the init has exited and the pipes are empty (a daemonized grandchild
 * holding them must not delay the exit status). */
static int drain_logs(pid_t pid, int outfd, int errfd2, int logfd) {
  struct pollfd fds[3 + MAX_CLIENTS];
  int fdv[2] = {outfd, errfd2};
  const char *names[2] = {"stdout", "stderr"};
  int status = 0, exited = 0;
  char buf[8192];
  for (;;) {
    int open_fds = (fdv[0] >= 0) + (fdv[1] >= 0);
    if (open_fds == 0 && exited) break;
    if (open_fds == 0 && listen_fd < 0) {
      /* Output over and no socket to serve: wait for the init itself (a poll would sleep out its
       * timeout, up to 100 ms, before noticing the exit). */
      int st;
      pid_t w = waitpid(-1, &st, 0);
      if (w == pid) { status = st; exited = 1; }
      else if (w < 0 && errno == ECHILD) exited = 1;
      continue;
    }
    fds[0] = (struct pollfd){.fd = fdv[0], .events = POLLIN};
    fds[1] = (struct pollfd){.fd = fdv[1], .events = POLLIN};
    fds[2] = (struct pollfd){.fd = exited ? -1 : listen_fd, .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS; i++) fds[3 + i] = (struct pollfd){.fd = clients[i].fd > 0 ? clients[i].fd : -1, .events = POLLIN};
    int n = poll(fds, 3 + MAX_CLIENTS, exited ? 0 : 100);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2 && n > 0; i++) {
      if (fdv[i] < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fdv[i], buf, sizeof buf);
      if (r > 0) {
        log_chunk(&logfd, names[i], buf, (size_t)r);
        broadcast(buf, (size_t)r);
        /* A reader that went away (EPIPE) stops the copy, not the container. */
        if (tee_fd[i] >= 0 && write_all(tee_fd[i], buf, (size_t)r) < 0) tee_fd[i] = -1;
      }
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) { close(fdv[i]); fdv[i] = -1; }
    }
    if (n > 0 && (fds[2].revents & POLLIN)) sock_accept();
    for (int i = 0; i < MAX_CLIENTS && n > 0; i++) {
      if (clients[i].fd > 0 && fds[3 + i].fd == clients[i].fd && (fds[3 + i].revents & (POLLIN | POLLHUP | POLLERR))) client_read(&clients[i]);
    }
    if (!exited) reap_children(pid, &status, &exited);
    else if (n == 0) {
      break; /* exited and nothing left to read right now */
    }
  }
  return status;
}

/* ---- the shim ------------------------------------------------------------ */

static int console_peer = -1; /* the shim's end of console_self's socketpair */
static void forward(int sig) {
  if (sig == SIGWINCH && pty_master >= 0) {
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(pty_master, TIOCSWINSZ, &ws);
    return;
  }
  if (init_pid > 0) kill(init_pid, sig);
}

/* Receives the pty master the init sent over console_self's socketpair. */
static int recv_master(int sock) {
  char name[4096];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) { errno = EPROTO; return -1; }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* Copies stdin -> pty and pty -> stdout until the init has exited and the pty is drained.
 * The host terminal, if stdin is one, is raw meanwhile (the container's pty does the line
 * discipline), and restored after. */
static int proxy_pty(pid_t pid, int master) {
  struct termios saved;
  int raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
  }
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = master, .events = POLLIN}};
  int status = 0, exited = 0;
  char buf[8192];
  for (;;) {
    int n = poll(fds, 2, exited ? 50 : 100);
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r > 0) write_all(master, buf, (size_t)r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) fds[0].fd = -1; /* stdin closed: stop reading it */
    }
    if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0) write_all(1, buf, (size_t)r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) break; /* EIO: every slave fd is closed */
    }
    if (!exited) reap_children(pid, &status, &exited);
    else if (n == 0) {
      break;
    }
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  if (!exited) waitpid(pid, &status, 0);
  return status;
}

static int is_header(const char *op) {
  return !strcmp(op, "mode") || !strcmp(op, "clone") || !strcmp(op, "setns") || !strncmp(op, "sc_", 3) ||
         !strcmp(op, "exitfile") || !strcmp(op, "console_connect") || !strcmp(op, "mkfifo") ||
         !strcmp(op, "cgroup") || !strcmp(op, "cgroup_self") || !strcmp(op, "log") || !strcmp(op, "console_self") ||
         !strcmp(op, "cleanup_cgroups") || !strcmp(op, "log_rotate") || !strcmp(op, "log_tee") || !strcmp(op, "exit_command") || !strcmp(op, "socket") ||
         !strcmp(op, "pidfile") || !strcmp(op, "rmstate") || !strcmp(op, "on_error") || !strcmp(op, "oom_note");
}

int main(void) {
  uint32_t len;
  if (read_full(CTL_IN, &len, 4) < 0) shim_fail("read plan", NULL);
  char *buf = malloc((size_t)len + 2);
  if (!buf || read_full(CTL_IN, buf, len) < 0) shim_fail("read plan", NULL);
  buf[len] = 0;
  buf[len + 1] = 0;

  /* Parse the records: tokens until an empty one. */
  int cap = 64;
  recs = calloc((size_t)cap, sizeof *recs);
  struct rec *all = calloc((size_t)cap, sizeof *all);
  int nall = 0;
  for (char *p = buf; p < buf + len;) {
    struct rec r = {0, NULL};
    int want = (int)num(p);
    p += strlen(p) + 1;
    if (want <= 0 || want > 100000) { errno = EINVAL; shim_fail("parse plan", NULL); }
    r.tok = calloc((size_t)want + 1, sizeof(char *));
    while (r.n < want) {
      if (p >= buf + len) { errno = EINVAL; shim_fail("parse plan", "truncated record"); }
      r.tok[r.n++] = p;
      p += strlen(p) + 1;
    }
    r.tok[r.n] = NULL;
    if (nall == cap) {
      cap *= 2;
      all = realloc(all, (size_t)cap * sizeof *all);
      recs = realloc(recs, (size_t)cap * sizeof *recs);
    }
    all[nall++] = r;
  }

  const char *mode = "exit";
  const char *logfile = NULL;
  int cleanup = 0;
  const char *cgroups[64];
  int joins_itself[64] = {0}; /* cgroup_self: the init joins cgroups[i] itself */
  int ncgroups = 0;
  const char *exitfile = NULL;
  char **exit_argv = NULL;
  const char *pidfiles[8];
  int npidfiles = 0;
  const char *rmstate = NULL, *oom_note = NULL, *oom_note_format = NULL;
  unsigned long flags = 0;
  uint32_t sc_def = SCMP_ACT_ALLOW;
  for (int i = 0; i < nall; i++)
    if (!strcmp(all[i].tok[0], "on_error") && all[i].n > 1) on_error_argv = &all[i].tok[1];
  for (int i = 0; i < nall; i++) {
    if (strcmp(all[i].tok[0], "sc_cache") || all[i].n < 2 || sc_cache_dirfd >= 0) continue;
    if (mkdirp(all[i].tok[1], 0700) == 0) sc_cache_dirfd = open(all[i].tok[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  for (int i = 0; i < nall; i++) {
    struct rec *r = &all[i];
    const char *op = r->tok[0];
    if (!is_header(op)) { recs[nrecs++] = *r; continue; }
    if (!strcmp(op, "mode")) mode = r->tok[1];
    else if (!strcmp(op, "exitfile")) exitfile = r->tok[1];
    else if (!strcmp(op, "cgroup") && ncgroups < 64) cgroups[ncgroups++] = r->tok[1];
    else if (!strcmp(op, "cgroup_self") && ncgroups < 64) { joins_itself[ncgroups] = 1; self_join[nself_join++] = cgroups[ncgroups++] = r->tok[1]; }
    else if (!strcmp(op, "log")) logfile = log_path = r->tok[1];
    else if (!strcmp(op, "log_rotate")) { log_max = num(r->tok[1]); log_files = (int)num(r->tok[2]); }
    else if (!strcmp(op, "log_tee") && r->n > 2) { tee_fd[0] = !strcmp(r->tok[1], "1") ? 1 : -1; tee_fd[1] = !strcmp(r->tok[2], "1") ? 2 : -1; }
    else if (!strcmp(op, "exit_command") && r->n > 1) exit_argv = &r->tok[1];
    else if (!strcmp(op, "socket")) sock_path = r->tok[1];
    else if (!strcmp(op, "cleanup_cgroups")) cleanup = 1;
    else if (!strcmp(op, "pidfile") && npidfiles < 8) pidfiles[npidfiles++] = r->tok[1];
    else if (!strcmp(op, "rmstate")) rmstate = r->tok[1];
    else if (!strcmp(op, "oom_note") && r->n > 2) { oom_note = r->tok[1]; oom_note_format = r->tok[2]; }
    else if (!strcmp(op, "on_error")) { /* taken above */ }
    else if (!strcmp(op, "console_self")) {
      /* Foreground with a terminal and no console socket (plain `runc run -t`): the init sends
       * the pty master to us over a socketpair, and we copy between our stdio and the pty. */
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) shim_fail("socketpair", NULL);
      console_fd = sv[1];
      console_peer = sv[0];
    }
    else if (!strcmp(op, "mkfifo")) {
      /* The exec fifo of create: 0622 so an init running as any user can open it for writing. */
      if (mkfifo(r->tok[1], 0622) < 0) shim_fail("mkfifo", r->tok[1]);
      chmod(r->tok[1], 0622);
    }
    else if (!strcmp(op, "clone")) flags = (unsigned long)num(r->tok[1]);
    else if (!strcmp(op, "console_connect")) {
      /* Connected by the shim, in the caller's mount namespace (before any setns); the init
       * inherits the fd and sends the pty master once its devpts exists. */
      console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un sa = {.sun_family = AF_UNIX};
      snprintf(sa.sun_path, sizeof sa.sun_path, "%s", r->tok[1]);
      if (console_fd < 0 || connect(console_fd, (struct sockaddr *)&sa, sizeof sa) < 0) shim_fail("connect console socket", r->tok[1]);
    }
    else if (!strcmp(op, "setns")) {
      /* Joining happens here, before clone: a pid namespace only applies to children. */
      int fd = open(r->tok[2], O_RDONLY | O_CLOEXEC);
      if (fd < 0) shim_fail("open namespace", r->tok[2]);
      if (setns(fd, (int)num(r->tok[1])) < 0) shim_fail("setns", r->tok[2]);
      close(fd);
    } else if (!strcmp(op, "sc_cache")) {
      /* opened below, before the header records run */
    } else if (!strncmp(op, "sc_", 3)) {
      sc_key_record(r); /* built below, unless the cache has it */
    }
  }
  if (sc_keylen > 0) {
    const struct scmp_version *v = seccomp_version();
    char id[128];
    int n = snprintf(id, sizeof id, "berth-seccomp 1 libseccomp %u.%u.%u api %u arch %u", v->major, v->minor, v->micro,
                     seccomp_api_get(), (unsigned)seccomp_arch_native());
    sc_key_add(id, (size_t)n + 1);
    char file[64] = "";
    if (sc_cache_dirfd >= 0) sc_cache_file(file, sizeof file);
    if (sc_cache_dirfd < 0 || sc_cache_load(file) < 0) {
      for (int i = 0; i < nall; i++) {
        struct rec *r = &all[i];
        const char *op = r->tok[0];
        if (!strcmp(op, "sc_default")) {
          sc_def = sc_action(r->tok[1], r->tok[2]);
          sc_ctx = seccomp_init(sc_def);
          if (!sc_ctx) { errno = ENOMEM; shim_fail("seccomp_init", NULL); }
          /* libseccomp would set no_new_privs when loading; whether the process gets it is
           * process.noNewPrivileges' call (the plan's "nnp" step), as in runc. */
          if (seccomp_attr_set(sc_ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) shim_fail("seccomp_attr_set", "SCMP_FLTATR_CTL_NNP");
        } else if (!strcmp(op, "sc_arch")) {
          uint32_t arch = seccomp_arch_resolve_name(r->tok[1]);
          if (arch) {
            int rc = seccomp_arch_add(sc_ctx, arch);
            if (rc < 0 && rc != -EEXIST) { errno = -rc; shim_fail("seccomp_arch_add", r->tok[1]); }
          }
        } else if (!strcmp(op, "sc_rule")) {
          sc_rule(r, sc_def);
        }
      }
      if (sc_cache_dirfd >= 0) sc_cache_store(file);
    }
  }
  if (sc_cache_dirfd >= 0) close(sc_cache_dirfd);

  /* Our caller may stop listening on fd 4 (a released monitor): a late report must not kill
   * us. The init and hooks put every signal back to default before they exec. */
  signal(SIGPIPE, SIG_IGN);
  int monitor = !strcmp(mode, "monitor");
  int foreground = !strcmp(mode, "foreground");
  if (monitor) {
    /* Outlive the caller: the parent exits at once, the child leads its own session. */
    pid_t p = fork();
    if (p < 0) shim_fail("fork", NULL);
    if (p > 0) _exit(0);
    setsid();
  }
  if (monitor || foreground) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  /* With a log file the init's stdout and stderr are pipes the monitor drains. */
  int outp[2] = {-1, -1}, errp2[2] = {-1, -1}, logfd = -1;
  if (logfile) {
    logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logfd < 0) shim_fail("open log", logfile);
    struct stat lst;
    if (fstat(logfd, &lst) == 0) log_size = (unsigned long long)lst.st_size;
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp2, O_CLOEXEC) < 0) shim_fail("pipe", NULL);
  }
  int syncp[2], errp[2];
  if (pipe2(syncp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) shim_fail("pipe", NULL);

  /* The init joins its cgroup_self dirs itself (see "joining the cgroups"), then makes its
   * cgroup namespace: not at clone, which would root it in the shim's cgroup. */
  if (nself_join > 0 && (flags & CLONE_NEWCGROUP)) {
    flags &= ~(unsigned long)CLONE_NEWCGROUP;
    unshare_cgroupns = 1;
  }
  /* A raw clone with no new stack behaves like fork, with namespace flags. The shim is
   * single-threaded, so the child may use malloc and libseccomp freely. */
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) shim_fail("clone", NULL);
  if (pid == 0) {
    close(syncp[1]);
    close(errp[0]);
    close(CTL_IN);
    close(CTL_OUT);
    errfd = errp[1];
    if (console_peer >= 0) close(console_peer);
    if (logfile) {
      /* dup2 clears close-on-exec on the new fds: the process keeps them. */
      if (dup2(outp[1], 1) < 0 || dup2(errp2[1], 2) < 0) fail("init", "dup2 log pipes", logfile);
      close(outp[0]); close(outp[1]); close(errp2[0]); close(errp2[1]); close(logfd);
    }
    return init_main(syncp[0]);
  }
  init_pid = pid;
  if (logfile) { close(outp[1]); close(errp2[1]); }
  if (console_peer >= 0) close(console_fd);
  close(syncp[0]);
  close(errp[1]);

  say(CTL_OUT, "pid %d\n", pid);
  char line[16];
  size_t n = 0;
  while (n < sizeof line - 1) {
    ssize_t r = read(CTL_IN, &line[n], 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || line[n] == '\n') break;
    n++;
  }
  line[n] = 0;
  if (strcmp(line, "go") != 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    _exit(1);
  }
  /* Join the init to its cgroups (TypeScript made them and listed their directories in the
   * plan) before it runs a single step, so every byte and pid it uses is accounted. */
  for (int i = 0; i < ncgroups; i++) {
    if (joins_itself[i]) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroups[i]);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    char pidbuf[32];
    int n = snprintf(pidbuf, sizeof pidbuf, "%d", pid);
    if (fd < 0 || write(fd, pidbuf, (size_t)n) != n) {
      int e = errno;
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      char msg[8400];
      snprintf(msg, sizeof msg, "error\tcgroup\tjoin cgroup\t%d\t%s\n", e, path);
      report_error(msg);
      failed_exit();
    }
    close(fd);
  }
  if (write(syncp[1], "g", 1) != 1) shim_fail("release init", NULL);
  close(syncp[1]);

  /* Relay the init's report lines until "ready" (exit mode stops there) or EOF (execve).
   * When nothing waits between "ready" and execve (run, exec: no wait_start step), "ready" is
   * held back until EOF: the err pipe is close-on-exec, so EOF without an error line means
   * execve succeeded, and an exec that fails (a directory, ENOEXEC, EACCES for the user) is
   * still a failure to start, reported as such, as runc reports it. */
  int hold_ready = 1;
  for (int i = 0; i < nrecs; i++)
    if (!strcmp(recs[i].tok[0], "wait_start")) hold_ready = 0;
  FILE *ef = fdopen(errp[0], "r");
  char rep[8192];
  int ready = 0, failed = 0, late_errno = 0;
  while (fgets(rep, sizeof rep, ef)) {
    if (!strcmp(rep, "ready\n")) {
      ready = 1;
      if (hold_ready) continue;
      write_all(CTL_OUT, rep, strlen(rep));
      if (!monitor && !foreground) break;
      continue;
    }
    if (!strncmp(rep, "error", 5)) report_error(rep);
    else write_all(CTL_OUT, rep, strlen(rep));
    if (!strncmp(rep, "error", 5)) {
      failed = 1;
      /* error\t<stage>\t<op>\t<errno>: kept for a monitor whose caller has gone (exec after start). */
      const char *t = rep;
      for (int k = 0; k < 3 && t; k++) { t = strchr(t, '\t'); if (t) t++; }
      if (t) late_errno = atoi(t);
    }
  }
  if (ready && hold_ready && !failed) write_all(CTL_OUT, "ready\n", 6);
  /* A failure after "ready" went out (create, then start: the exec fails once the caller of
   * create has gone): a monitor records it as the container's exit (126/127), as it would any. */
  int late_failure = monitor && ready && !hold_ready && failed;
  if ((failed || !ready) && !late_failure) {
    int st;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    if (!failed) report_error("error\tinit\tinit exited early\t0\t\n");
    failed_exit();
  }
  for (int i = 0; i < npidfiles; i++) write_pidfile(pidfiles[i], pid);
  if (!monitor && !foreground) _exit(0);
  fclose(ef);

  if (foreground) {
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    struct sigaction sa = {.sa_handler = forward};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  }
  /* Keep only what we report through: our stdio belongs to the container. */
  close(CTL_IN);
  int status = 0;
  if (console_peer >= 0) {
    pty_master = recv_master(console_peer);
    if (pty_master < 0) {
      say(CTL_OUT, "error\tconsole\treceive pty master\t%d\t\n", errno);
      kill(pid, SIGKILL);
    }
    close(console_peer);
  }
  if (monitor && logfile && sock_path && !late_failure) sock_open(sock_path);
  if (late_failure) {
    /* The init failed after "ready" (its execve, once started): record it as a shell would,
     * 127 for a command not found, 126 for one that cannot run, so the exit command sees it. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    status = (late_errno == ENOENT ? 127 : 126) << 8;
  } else if (pty_master >= 0 && monitor && logfile) {
    /* Detached with a terminal: what the pty shows is the container's output, logged as stdout
     * (as Docker does); the log pipes were replaced by the pty in the init and carry nothing. */
    close(outp[0]);
    close(errp2[0]);
    status = drain_logs(pid, pty_master, -1, logfd);
  } else if (pty_master >= 0) {
    status = proxy_pty(pid, pty_master);
  } else if (logfile) {
    status = drain_logs(pid, outp[0], errp2[0], logfd);
  } else {
    for (;;) {
      int st;
      pid_t w = waitpid(-1, &st, 0);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) break; /* ECHILD */
      if (w == pid) { status = st; break; }
    }
  }
  if (listen_fd >= 0) sock_close(); /* attached clients see the end of the output */
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  /* Did the OOM killer act in the container's cgroups (v1 memory.oom_control, v2 memory.events)? */
  int oom = 0;
  for (int i = 0; i < ncgroups && !oom; i++) {
    static const char *files[] = {"memory.oom_control", "memory.events"};
    for (int f = 0; f < 2 && !oom; f++) {
      char path[4200], text[1024];
      snprintf(path, sizeof path, "%s/%s", cgroups[i], files[f]);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, text, sizeof text - 1);
      close(fd);
      if (n <= 0) continue;
      text[n] = 0;
      char *k = strstr(text, "oom_kill ");
      if (k && strtol(k + 9, NULL, 10) > 0) oom = 1;
    }
  }
  if (cleanup) {
    /* Foreground run: the container is over; remove its (now empty) cgroups here, synchronously,
     * rather than from Node. A cgroup still busy is left for the caller's destroy. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    for (int i = ncgroups - 1; i >= 0; i--) rmdir(cgroups[i]);
  }
  if (exitfile) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", exitfile);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      say(fd, "{\"exitCode\":%d,\"signal\":%d}\n", code, sig);
      fsync(fd);
      close(fd);
      rename(tmp, exitfile);
    }
  }
  if (oom && oom_note) {
    int fd = open(oom_note, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      char when[64];
      struct timespec ts;
      struct tm tm;
      clock_gettime(CLOCK_REALTIME, &ts);
      gmtime_r(&ts.tv_sec, &tm);
      snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
               tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
      if (!strcmp(oom_note_format, "json"))
        say(fd, "{\"level\":\"info\",\"msg\":\"container was OOM-killed\",\"oomKilled\":true,\"time\":\"%s\"}\n", when);
      else
        say(fd, "time=\"%s\" level=info msg=\"container was OOM-killed\"\n", when);
      close(fd);
    }
  }
  if (foreground && rmstate) remove_state_dir(rmstate);
  say(CTL_OUT, "exit %d %d %d\n", code, sig, oom);
  /* Reap anything else left in our subtree (we are its subreaper) before going. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
  if (monitor && exit_argv) {
    /* Become the caller's cleanup (same pid: whoever checks the holder sees it alive until the
     * exit is recorded). Nothing of ours may leak into it but stdio. */
    if (logfd >= 0) close(logfd);
    close(CTL_OUT);
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    signal(SIGPIPE, SIG_DFL);
    execv(exit_argv[0], exit_argv);
    _exit(127);
  }
  return foreground ? code : 0;
}
