/*
 * seccomp-exec FILTER PROGRAM [ARGS...]: loads a seccomp filter described by FILTER, then
 * execs PROGRAM. Test helper only: it lets the profile tests run real programs under the
 * profile without the container runtime. FILTER lines (one per rule, words split by spaces):
 *
 *   default ERRNO_RET
 *   arch NAME                               (libseccomp arch name: x86_64, x86, x32 …)
 *   rule ACTION ERRNO_RET SYSCALL NARGS [INDEX OP VALUE VALUE_TWO]...
 *
 * ACTION is ALLOW or ERRNO; OP is the SCMP_CMP_* suffix (EQ, MASKED_EQ …). Names unknown to
 * libseccomp are skipped, as runc skips them.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum scmp_compare op_of(const char *s) {
  static const char *names[] = {"", "NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"};
  for (int i = 1; i < 8; i++) if (strcmp(s, names[i]) == 0) return (enum scmp_compare)i;
  fprintf(stderr, "seccomp-exec: unknown op %s\n", s);
  exit(125);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: seccomp-exec FILTER PROGRAM [ARGS...]\n"); return 125; }
  FILE *f = fopen(argv[1], "re");
  if (f == NULL) { perror("seccomp-exec: open filter"); return 125; }
  char word[64], name[64];
  unsigned def = 1;
  if (fscanf(f, "%63s %u", word, &def) != 2 || strcmp(word, "default") != 0) { fprintf(stderr, "seccomp-exec: first line must be 'default ERRNO'\n"); return 125; }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(def));
  if (ctx == NULL) { fprintf(stderr, "seccomp-exec: seccomp_init failed\n"); return 125; }
  int skipped = 0;
  while (fscanf(f, "%63s", word) == 1) {
    if (strcmp(word, "arch") == 0) {
      if (fscanf(f, "%63s", name) != 1) return 125;
      uint32_t arch = seccomp_arch_resolve_name(name);
      int rc = arch == 0 ? -EINVAL : seccomp_arch_add(ctx, arch);
      if (rc != 0 && rc != -EEXIST) { fprintf(stderr, "seccomp-exec: arch %s: %s\n", name, strerror(-rc)); return 125; }
      continue;
    }
    unsigned ret; int nargs; char action[16];
    if (strcmp(word, "rule") != 0 || fscanf(f, "%15s %u %63s %d", action, &ret, name, &nargs) != 4 || nargs < 0 || nargs > 6) {
      fprintf(stderr, "seccomp-exec: bad line at %s\n", word); return 125;
    }
    struct scmp_arg_cmp cmp[6];
    for (int i = 0; i < nargs; i++) {
      unsigned idx; char op[16]; unsigned long long a, b;
      if (fscanf(f, "%u %15s %llu %llu", &idx, op, &a, &b) != 4) return 125;
      cmp[i] = (struct scmp_arg_cmp){idx, op_of(op), a, b};
    }
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) { skipped++; continue; }
    uint32_t act = strcmp(action, "ALLOW") == 0 ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(ret);
    int rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)nargs, cmp);
    if (rc != 0) { fprintf(stderr, "seccomp-exec: rule %s: %s\n", name, strerror(-rc)); return 125; }
  }
  fclose(f);
  int rc = seccomp_load(ctx);
  if (rc != 0) { fprintf(stderr, "seccomp-exec: load: %s\n", strerror(-rc)); return 125; }
  seccomp_release(ctx);
  execv(argv[2], argv + 2);
  perror("seccomp-exec: execv");
  return 127;
}
