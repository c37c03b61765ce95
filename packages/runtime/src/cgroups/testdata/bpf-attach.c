/*
 * bpf-attach PROGRAM CGROUP_DIR: loads the eBPF instructions in PROGRAM (8 bytes each) as a
 * BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to the cgroup v2 directory. Test
 * helper only: it stands in for the native loader so the device program berth builds can
 * be checked against the real verifier and the real device checks. The attachment holds a
 * reference to the program, so it stays in force after this process exits, until the
 * cgroup is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char logbuf[65536];

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: bpf-attach PROGRAM CGROUP_DIR\n"); return 2; }
  static unsigned char insns[4096 * 8];
  FILE *f = fopen(argv[1], "rbe");
  if (f == NULL) { perror("bpf-attach: open program"); return 1; }
  size_t n = fread(insns, 1, sizeof insns, f);
  fclose(f);
  if (n == 0 || n % 8 != 0) { fprintf(stderr, "bpf-attach: %zu bytes is not a whole number of instructions\n", n); return 1; }

  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (unsigned long)insns;
  load.insn_cnt = (unsigned)(n / 8);
  load.license = (unsigned long)"Apache";
  load.log_buf = (unsigned long)logbuf;
  load.log_size = sizeof logbuf;
  load.log_level = 1;
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
  if (prog < 0) { fprintf(stderr, "bpf-attach: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), logbuf); return 1; }

  int cg = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) { perror("bpf-attach: open cgroup"); return 1; }
  union bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = (unsigned)cg;
  attach.attach_bpf_fd = (unsigned)prog;
  attach.attach_type = BPF_CGROUP_DEVICE;
  if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) < 0) { fprintf(stderr, "bpf-attach: BPF_PROG_ATTACH: %s\n", strerror(errno)); return 1; }
  return 0;
}
