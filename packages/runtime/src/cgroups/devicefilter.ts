import { invalidArgument } from '@berth/errors';
import type { LinuxDeviceCgroup } from './resources.js';

/**
 * cgroup v2 has no devices files: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * cgroup decides each device access. This builds that program from the same rule list the
 * v1 devices controller takes, as eBPF bytecode (8 bytes per instruction, host byte
 * order); loading and attaching it (bpf(2) BPF_PROG_LOAD, then BPF_PROG_ATTACH with
 * BPF_CGROUP_DEVICE) is the job of a {@link DeviceFilterLoader}.
 *
 * The kernel calls the program with `struct bpf_cgroup_dev_ctx` (linux/bpf.h):
 *
 * ```
 *   offset 0  u32 access_type   low 16 bits: BPF_DEVCG_DEV_BLOCK 1 | BPF_DEVCG_DEV_CHAR 2
 *                               high 16 bits: BPF_DEVCG_ACC_MKNOD 1 | READ 2 | WRITE 4
 *   offset 4  u32 major
 *   offset 8  u32 minor
 * ```
 *
 * and allows the access when it returns 1. Semantics follow the v1 controller: an
 * all-devices rule (`a`) sets the default and discards what came before it; later rules
 * are exceptions, the last matching one wins; a rule matches when the type and numbers
 * match and the requested access is within the rule's.
 *
 * Program layout:
 *
 * ```
 *   r2 = ctx.access_type & 0xffff      (device type)
 *   r3 = ctx.access_type >> 16         (requested access)
 *   r4 = ctx.major ; r5 = ctx.minor
 *   for each exception, last first:    if it matches: r0 = allow ; exit
 *   r0 = default ; exit
 * ```
 */
export interface DeviceFilterProgram {
  /** eBPF instructions, 8 bytes each. */
  readonly instructions: Uint8Array;
  /** The license string the program is loaded with (it calls no GPL-only helper). */
  readonly license: string;
}

/** Loads a device program and attaches it to a cgroup v2 directory, replacing the one berth attached before. */
export interface DeviceFilterLoader {
  attach(cgroupDir: string, program: DeviceFilterProgram): Promise<void>;
}

const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC = { m: 1, r: 2, w: 4 } as const;

// eBPF opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K = 0x57;
const ALU64_RSH_K = 0x77;
const ALU64_MOV_K = 0xb7;
const ALU64_MOV_X = 0xbf;
const JMP_JNE_K = 0x55; // if dst != imm goto pc + 1 + off
const JMP_EXIT = 0x95;

type Insn = readonly [op: number, dst: number, src: number, off: number, imm: number];

function accessMask(access: string | undefined): number {
  let mask = 0;
  for (const ch of access ?? 'rwm') {
    const bit = ACC[ch as keyof typeof ACC];
    if (bit === undefined) throw invalidArgument(`device rule access "${access}" must be letters from rwm`);
    mask |= bit;
  }
  return mask;
}

function number(n: number | undefined, what: string): number | undefined {
  if (n === undefined || n === -1) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw invalidArgument(`device rule ${what} number ${n} is not a non-negative 32-bit integer`);
  return n;
}

/** The instructions of one exception: fall through to the next block when it does not match. */
function ruleBlock(rule: LinuxDeviceCgroup): Insn[] {
  const checks: Insn[][] = [];
  const type = rule.type ?? 'a';
  if (type === 'c' || type === 'b') checks.push([[JMP_JNE_K, 2, 0, 0, type === 'c' ? DEV_CHAR : DEV_BLOCK]]);
  else if (type !== 'a') throw invalidArgument(`device rule type "${type}" is not one of a, b, c`);
  const access = accessMask(rule.access);
  if (access !== 7) {
    // (requested & ~allowed) != 0 → not within the rule's access.
    checks.push([[ALU64_MOV_X, 1, 3, 0, 0], [ALU64_AND_K, 1, 0, 0, ~access & 7], [JMP_JNE_K, 1, 0, 0, 0]]);
  }
  const major = number(rule.major, 'major');
  if (major !== undefined) checks.push([[JMP_JNE_K, 4, 0, 0, major | 0]]);
  const minor = number(rule.minor, 'minor');
  if (minor !== undefined) checks.push([[JMP_JNE_K, 5, 0, 0, minor | 0]]);
  const body: Insn[] = [...checks.flat(), [ALU64_MOV_K, 0, 0, 0, rule.allow ? 1 : 0], [JMP_EXIT, 0, 0, 0, 0]];
  // Every jump skips to the end of this block.
  return body.map((insn, i) => (insn[0] === JMP_JNE_K ? [insn[0], insn[1], insn[2], body.length - i - 1, insn[4]] : insn));
}

/** The device program for `rules` (the OCI `linux.resources.devices` list). */
export function deviceFilterProgram(rules: readonly LinuxDeviceCgroup[]): DeviceFilterProgram {
  let allowByDefault = true; // a new v1 cgroup below the root allows everything
  let exceptions: LinuxDeviceCgroup[] = [];
  for (const rule of rules) {
    const isAll = (rule.type === undefined || rule.type === 'a') && number(rule.major, 'major') === undefined && number(rule.minor, 'minor') === undefined;
    if (isAll && accessMask(rule.access) === 7) {
      allowByDefault = rule.allow;
      exceptions = [];
    } else {
      exceptions.push(rule);
    }
  }
  const insns: Insn[] = [
    [LDX_MEM_W, 2, 1, 0, 0],
    [ALU64_AND_K, 2, 0, 0, 0xffff],
    [LDX_MEM_W, 3, 1, 0, 0],
    [ALU64_RSH_K, 3, 0, 0, 16],
    [LDX_MEM_W, 4, 1, 4, 0],
    [LDX_MEM_W, 5, 1, 8, 0],
  ];
  for (const rule of [...exceptions].reverse()) insns.push(...ruleBlock(rule));
  insns.push([ALU64_MOV_K, 0, 0, 0, allowByDefault ? 1 : 0], [JMP_EXIT, 0, 0, 0, 0]);
  return { instructions: encode(insns), license: 'Apache' };
}

/** struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; } (little-endian layout). */
function encode(insns: readonly Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach(([op, dst, src, off, imm], i) => {
    view.setUint8(i * 8, op);
    view.setUint8(i * 8 + 1, (src << 4) | dst);
    view.setInt16(i * 8 + 2, off, true);
    view.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

/**
 * Runs a device program the way the kernel would, for tests and for explaining a rule
 * list: true when `type major:minor` may be accessed with `access` (some of `rwm`).
 */
export function deviceAllowed(program: DeviceFilterProgram, type: 'c' | 'b', major: number, minor: number, access: string): boolean {
  const view = new DataView(program.instructions.buffer, program.instructions.byteOffset, program.instructions.byteLength);
  const ctx = [((accessMask(access) << 16) | (type === 'c' ? DEV_CHAR : DEV_BLOCK)) >>> 0, major >>> 0, minor >>> 0];
  const r: bigint[] = new Array<bigint>(11).fill(0n);
  const mask64 = (1n << 64n) - 1n;
  for (let pc = 0; pc < program.instructions.byteLength / 8; pc++) {
    const op = view.getUint8(pc * 8);
    const regs = view.getUint8(pc * 8 + 1);
    const dst = regs & 0xf;
    const src = regs >> 4;
    const off = view.getInt16(pc * 8 + 2, true);
    const imm = BigInt(view.getInt32(pc * 8 + 4, true)) & mask64;
    switch (op) {
      case LDX_MEM_W:
        if (src !== 1) throw new Error(`unexpected load base r${src}`);
        r[dst] = BigInt(ctx[off / 4] ?? 0);
        break;
      case ALU64_AND_K: r[dst] = (r[dst] ?? 0n) & imm; break;
      case ALU64_RSH_K: r[dst] = (r[dst] ?? 0n) >> imm; break;
      case ALU64_MOV_K: r[dst] = imm; break;
      case ALU64_MOV_X: r[dst] = r[src] ?? 0n; break;
      case JMP_JNE_K: if ((r[dst] ?? 0n) !== imm) pc += off; break;
      case JMP_EXIT: return r[0] === 1n;
      default: throw new Error(`unexpected opcode 0x${op.toString(16)}`);
    }
  }
  throw new Error('device program ran off its end');
}
