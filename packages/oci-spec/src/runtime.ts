/**
 * Schemas of the OCI runtime spec v1.2 (`config.json` and the container `state`),
 * as TypeBox definitions: one definition gives the static type and the runtime check.
 * Objects keep unknown fields. Linux is covered in full; the other platform objects
 * (`windows`, `solaris`, `vm`, `zos`, `freebsd`) are kept as opaque objects.
 */
import { Type, type Static } from '@sinclair/typebox';
import { AnnotationsSchema, expectKey } from './image.js';

const open = { additionalProperties: true } as const;
const opt = Type.Optional;
const Str = Type.String;
const Int = Type.Integer;
const Bool = Type.Boolean;
const Strings = Type.Array(Type.String());
const Uint = (): ReturnType<typeof Type.Integer> => Type.Integer({ minimum: 0, [expectKey]: 'a non-negative integer' });
const oneOf = <const T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v)), { [expectKey]: `one of ${values.join(', ')}` }));

/** A uid/gid mapping of a user namespace or an idmapped mount. */
export const IdMappingSchema = Type.Object({ containerID: Uint(), hostID: Uint(), size: Uint() }, open);
/** A uid/gid mapping: `size` ids from `containerID` map to `hostID`. */
export type IdMapping = Static<typeof IdMappingSchema>;

/** A mount in config.json. */
export const MountSchema = Type.Object(
  {
    destination: Str(),
    source: opt(Str()),
    options: opt(Strings),
    type: opt(Str()),
    uidMappings: opt(Type.Array(IdMappingSchema)),
    gidMappings: opt(Type.Array(IdMappingSchema)),
  },
  open,
);
/** A mount: `destination` inside the container, `type`, `source`, `options` as for mount(8). */
export type Mount = Static<typeof MountSchema>;

/** The container's root filesystem. */
export const RootSchema = Type.Object({ path: Str(), readonly: opt(Bool()) }, open);
/** The container's root filesystem: a path relative to the bundle or absolute. */
export type Root = Static<typeof RootSchema>;

/** A POSIX resource limit. */
export const RlimitSchema = Type.Object({ type: Str({ pattern: '^RLIMIT_[A-Z]+$', [expectKey]: 'an RLIMIT_ name' }), soft: Uint(), hard: Uint() }, open);
/** A POSIX resource limit: `{ type: 'RLIMIT_NOFILE', soft, hard }`. */
export type Rlimit = Static<typeof RlimitSchema>;

/** The process's capability sets. */
export const CapabilitiesSchema = Type.Object(
  { bounding: opt(Strings), effective: opt(Strings), inheritable: opt(Strings), permitted: opt(Strings), ambient: opt(Strings) },
  open,
);
/** The process's capability sets, each a list of `CAP_*` names. */
export type Capabilities = Static<typeof CapabilitiesSchema>;

/** The user the process runs as. */
export const UserSchema = Type.Object(
  { uid: Uint(), gid: Uint(), umask: opt(Uint()), additionalGids: opt(Type.Array(Uint())), username: opt(Str()) },
  open,
);
/** The user the process runs as (`uid`, `gid`, supplementary groups, umask). */
export type User = Static<typeof UserSchema>;

/** The container process. */
export const ProcessSchema = Type.Object(
  {
    terminal: opt(Bool()),
    consoleSize: opt(Type.Object({ height: Uint(), width: Uint() }, open)),
    cwd: Str(),
    env: opt(Strings),
    args: opt(Strings),
    commandLine: opt(Str()),
    rlimits: opt(Type.Array(RlimitSchema)),
    apparmorProfile: opt(Str()),
    capabilities: opt(CapabilitiesSchema),
    noNewPrivileges: opt(Bool()),
    oomScoreAdj: opt(Int({ minimum: -1000, maximum: 1000, [expectKey]: 'an integer from -1000 to 1000' })),
    scheduler: opt(
      Type.Object(
        {
          policy: oneOf(['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'] as const),
          nice: opt(Int()),
          priority: opt(Int()),
          flags: opt(Strings),
          runtime: opt(Uint()),
          deadline: opt(Uint()),
          period: opt(Uint()),
        },
        open,
      ),
    ),
    selinuxLabel: opt(Str()),
    ioPriority: opt(Type.Object({ class: oneOf(['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] as const), priority: opt(Int()) }, open)),
    execCPUAffinity: opt(Type.Object({ initial: opt(Str()), final: opt(Str()) }, open)),
    user: UserSchema,
  },
  open,
);
/** The container process: args, env, cwd, user, capabilities, rlimits, terminal. */
export type Process = Static<typeof ProcessSchema>;

/** A hook: an executable run at a lifecycle point with the state on stdin. */
export const HookSchema = Type.Object(
  { path: Str(), args: opt(Strings), env: opt(Strings), timeout: opt(Int({ minimum: 1, [expectKey]: 'a positive integer' })) },
  open,
);
/** A hook: absolute `path`, `args` (argv, with argv[0]), `env`, `timeout` in seconds. */
export type Hook = Static<typeof HookSchema>;

const Hooks = Type.Array(HookSchema);
/** The lifecycle hooks. */
export const HooksSchema = Type.Object(
  {
    prestart: opt(Hooks),
    createRuntime: opt(Hooks),
    createContainer: opt(Hooks),
    startContainer: opt(Hooks),
    poststart: opt(Hooks),
    poststop: opt(Hooks),
  },
  open,
);
/** The lifecycle hooks by stage (`prestart` is deprecated). */
export type Hooks = Static<typeof HooksSchema>;

/** The namespace types of Linux. */
export const namespaceTypes = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
/** A Linux namespace type. */
export type NamespaceType = (typeof namespaceTypes)[number];

/** A namespace the container gets: new, or joined when `path` is set. */
export const NamespaceSchema = Type.Object({ type: oneOf(namespaceTypes), path: opt(Str()) }, open);
/** A namespace the container gets: new, or the one at `path`. */
export type Namespace = Static<typeof NamespaceSchema>;

/** A device node to create in the container. */
export const DeviceSchema = Type.Object(
  {
    type: oneOf(['c', 'b', 'u', 'p'] as const),
    path: Str(),
    major: opt(Int()),
    minor: opt(Int()),
    fileMode: opt(Uint()),
    uid: opt(Uint()),
    gid: opt(Uint()),
  },
  open,
);
/** A device node to create: `c`/`b`/`u` need `major` and `minor`; `fileMode` is decimal. */
export type Device = Static<typeof DeviceSchema>;

/** A device cgroup rule. */
export const DeviceCgroupSchema = Type.Object(
  { allow: Bool(), type: opt(oneOf(['a', 'c', 'b'] as const)), major: opt(Type.Union([Int(), Type.Null()], { [expectKey]: 'an integer or null' })), minor: opt(Type.Union([Int(), Type.Null()], { [expectKey]: 'an integer or null' })), access: opt(Str({ pattern: '^[rwm]*$', [expectKey]: 'some of r, w, m' })) },
  open,
);
/** A device cgroup rule: allow or deny `access` (`rwm`) to a type/major/minor (absent = all). */
export type DeviceCgroup = Static<typeof DeviceCgroupSchema>;

const WeightDevice = Type.Object({ major: Int(), minor: Int(), weight: opt(Uint()), leafWeight: opt(Uint()) }, open);
const ThrottleDevice = Type.Object({ major: Int(), minor: Int(), rate: Uint() }, open);

/** cgroup resource limits. Memory values are bytes; `-1` means unlimited where the kernel allows it. */
export const ResourcesSchema = Type.Object(
  {
    devices: opt(Type.Array(DeviceCgroupSchema)),
    memory: opt(
      Type.Object(
        {
          limit: opt(Int()),
          reservation: opt(Int()),
          swap: opt(Int()),
          kernel: opt(Int()),
          kernelTCP: opt(Int()),
          swappiness: opt(Uint()),
          disableOOMKiller: opt(Bool()),
          useHierarchy: opt(Bool()),
          checkBeforeUpdate: opt(Bool()),
        },
        open,
      ),
    ),
    cpu: opt(
      Type.Object(
        {
          shares: opt(Uint()),
          quota: opt(Int()),
          burst: opt(Uint()),
          period: opt(Uint()),
          realtimeRuntime: opt(Int()),
          realtimePeriod: opt(Uint()),
          cpus: opt(Str()),
          mems: opt(Str()),
          idle: opt(Int()),
        },
        open,
      ),
    ),
    blockIO: opt(
      Type.Object(
        {
          weight: opt(Uint()),
          leafWeight: opt(Uint()),
          weightDevice: opt(Type.Array(WeightDevice)),
          throttleReadBpsDevice: opt(Type.Array(ThrottleDevice)),
          throttleWriteBpsDevice: opt(Type.Array(ThrottleDevice)),
          throttleReadIOPSDevice: opt(Type.Array(ThrottleDevice)),
          throttleWriteIOPSDevice: opt(Type.Array(ThrottleDevice)),
        },
        open,
      ),
    ),
    hugepageLimits: opt(Type.Array(Type.Object({ pageSize: Str(), limit: Uint() }, open))),
    network: opt(Type.Object({ classID: opt(Uint()), priorities: opt(Type.Array(Type.Object({ name: Str(), priority: Uint() }, open))) }, open)),
    pids: opt(Type.Object({ limit: Int() }, open)),
    rdma: opt(Type.Record(Str(), Type.Object({ hcaHandles: opt(Uint()), hcaObjects: opt(Uint()) }, open))),
    unified: opt(Type.Record(Str(), Str())),
  },
  open,
);
/** cgroup resource limits: devices, memory, cpu, blockIO, hugepages, network, pids, rdma, unified (v2 files). */
export type Resources = Static<typeof ResourcesSchema>;

/** The seccomp actions of the runtime spec. */
export const seccompActions = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;
/** A seccomp action. */
export type SeccompAction = (typeof seccompActions)[number];

/** The seccomp argument comparison operators. */
export const seccompOperators = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;
/** A seccomp argument comparison operator. */
export type SeccompOperator = (typeof seccompOperators)[number];

/** A seccomp rule: an action for a set of syscalls, optionally only when arguments match. */
export const SeccompSyscallSchema = Type.Object(
  {
    names: Strings,
    action: oneOf(seccompActions),
    errnoRet: opt(Uint()),
    args: opt(Type.Array(Type.Object({ index: Uint(), value: Uint(), valueTwo: opt(Uint()), op: oneOf(seccompOperators) }, open))),
  },
  open,
);
/** A seccomp rule: `action` for the syscalls in `names` (when `args` match). */
export type SeccompSyscall = Static<typeof SeccompSyscallSchema>;

/** A seccomp filter. */
export const SeccompSchema = Type.Object(
  {
    defaultAction: oneOf(seccompActions),
    defaultErrnoRet: opt(Uint()),
    architectures: opt(Strings),
    flags: opt(Strings),
    listenerPath: opt(Str()),
    listenerMetadata: opt(Str()),
    syscalls: opt(Type.Array(SeccompSyscallSchema)),
  },
  open,
);
/** A seccomp filter: default action, architectures, flags and rules. */
export type Seccomp = Static<typeof SeccompSchema>;

/** The Linux part of config.json. */
export const LinuxSchema = Type.Object(
  {
    namespaces: opt(Type.Array(NamespaceSchema)),
    uidMappings: opt(Type.Array(IdMappingSchema)),
    gidMappings: opt(Type.Array(IdMappingSchema)),
    timeOffsets: opt(Type.Record(Str(), Type.Object({ secs: opt(Int()), nanosecs: opt(Uint()) }, open))),
    devices: opt(Type.Array(DeviceSchema)),
    netDevices: opt(Type.Record(Str(), Type.Object({ name: opt(Str()) }, open))),
    cgroupsPath: opt(Str()),
    resources: opt(ResourcesSchema),
    intelRdt: opt(Type.Object({}, open)),
    memoryPolicy: opt(Type.Object({ mode: Str(), nodes: opt(Str()), flags: opt(Strings) }, open)),
    sysctl: opt(Type.Record(Str(), Str())),
    seccomp: opt(SeccompSchema),
    rootfsPropagation: opt(oneOf(['shared', 'slave', 'private', 'unbindable'] as const)),
    maskedPaths: opt(Strings),
    readonlyPaths: opt(Strings),
    mountLabel: opt(Str()),
    personality: opt(Type.Object({ domain: Str(), flags: opt(Strings) }, open)),
  },
  open,
);
/** The Linux part of config.json: namespaces, id mappings, devices, cgroups, sysctl, seccomp, masked/readonly paths. */
export type Linux = Static<typeof LinuxSchema>;

/** An OCI runtime bundle's `config.json`. */
export const RuntimeSpecSchema = Type.Object(
  {
    ociVersion: Str({ pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\\+[0-9A-Za-z.-]+)?$', [expectKey]: 'a semantic version' }),
    root: opt(RootSchema),
    mounts: opt(Type.Array(MountSchema)),
    process: opt(ProcessSchema),
    hostname: opt(Str()),
    domainname: opt(Str()),
    hooks: opt(HooksSchema),
    annotations: opt(AnnotationsSchema),
    linux: opt(LinuxSchema),
    windows: opt(Type.Object({}, open)),
    solaris: opt(Type.Object({}, open)),
    vm: opt(Type.Object({}, open)),
    zos: opt(Type.Object({}, open)),
    freebsd: opt(Type.Object({}, open)),
  },
  open,
);
/** An OCI runtime bundle's `config.json`. */
export type RuntimeSpec = Static<typeof RuntimeSpecSchema>;

/** The runtime spec version berth writes and implements. */
export const runtimeSpecVersion = '1.2.0';

/** Container status values: the spec's four plus runc's `paused`. */
export const containerStatuses = ['creating', 'created', 'running', 'stopped', 'paused'] as const;
/** A container status. */
export type ContainerStatus = (typeof containerStatuses)[number];

/** The state of a container as `berth-runtime state` prints it and hooks read it on stdin. */
export const RuntimeStateSchema = Type.Object(
  {
    ociVersion: Str(),
    id: Str({ minLength: 1, [expectKey]: 'a non-empty string' }),
    status: oneOf(containerStatuses),
    pid: opt(Uint()),
    bundle: Str(),
    annotations: opt(AnnotationsSchema),
  },
  open,
);
/** The state of a container: id, status, pid (when created or running), absolute bundle path. */
export type RuntimeState = Static<typeof RuntimeStateSchema>;

const Enabled = Type.Object({ enabled: opt(Bool()) }, open);

/** What a runtime supports (`runc features`, runtime-spec features.md). */
export const RuntimeFeaturesSchema = Type.Object(
  {
    ociVersionMin: opt(Str()),
    ociVersionMax: Str(),
    hooks: opt(Strings),
    mountOptions: opt(Strings),
    linux: opt(
      Type.Object(
        {
          namespaces: opt(Strings),
          capabilities: opt(Strings),
          cgroup: opt(Type.Object({ v1: opt(Bool()), v2: opt(Bool()), systemd: opt(Bool()), systemdUser: opt(Bool()), rdma: opt(Bool()) }, open)),
          seccomp: opt(
            Type.Object(
              { enabled: opt(Bool()), actions: opt(Strings), operators: opt(Strings), archs: opt(Strings), knownFlags: opt(Strings), supportedFlags: opt(Strings) },
              open,
            ),
          ),
          apparmor: opt(Enabled),
          selinux: opt(Enabled),
          intelRdt: opt(Type.Object({ enabled: opt(Bool()), schemata: opt(Bool()), monitoring: opt(Bool()) }, open)),
          memoryPolicy: opt(Type.Object({ modes: opt(Strings), flags: opt(Strings) }, open)),
          mountExtensions: opt(Type.Object({ idmap: opt(Enabled) }, open)),
        },
        open,
      ),
    ),
    annotations: opt(AnnotationsSchema),
    potentiallyUnsafeConfigAnnotations: opt(Strings),
  },
  open,
);
/** What a runtime supports: OCI versions, hooks, mount options, and Linux namespaces, capabilities, cgroups, seccomp. */
export type RuntimeFeatures = Static<typeof RuntimeFeaturesSchema>;
