import { test } from 'uvu';
import { Type } from '@sinclair/typebox';
import * as assert from 'uvu/assert';
import { BerthError } from '@berth/errors';
import {
  digestOf,
  emptyDescriptor,
  ImageManifestSchema,
  MediaType,
  parseDescriptor,
  parseDockerManifest,
  parseDockerManifestList,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseLayoutIndex,
  parseManifestDocument,
  parseOciLayout,
  parsePlatform,
  parseRuntimeSpec,
  parseRuntimeState,
  validate,
  type Issue,
} from './index.js';

const d = (s: string) => digestOf(s);

// The image-spec's own examples (manifest.md, image-index.md, config.md), lightly trimmed.
const manifest = () => ({
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, digest: d('config'), size: 7023 },
  layers: [
    { mediaType: MediaType.OciLayerGzip, digest: d('l0'), size: 32654 },
    { mediaType: MediaType.OciLayerGzip, digest: d('l1'), size: 16724 },
    { mediaType: MediaType.OciLayerZstd, digest: d('l2'), size: 73109, urls: ['https://example.com/l2'] },
  ],
  subject: { mediaType: MediaType.OciManifest, digest: d('subject'), size: 7682 },
  annotations: { 'com.example.key1': 'value1' },
});

const index = () => ({
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [
    { mediaType: MediaType.OciManifest, size: 7143, digest: d('ppc'), platform: { architecture: 'ppc64le', os: 'linux' } },
    { mediaType: MediaType.OciManifest, size: 7682, digest: d('amd'), platform: { architecture: 'amd64', os: 'linux' } },
    { mediaType: 'application/vnd.example.unknown+json', size: 1, digest: d('x') }, // unknown types MUST NOT error
  ],
  annotations: { 'com.example.key1': 'value1' },
});

const config = () => ({
  created: '2015-10-31T22:22:56.015925234Z',
  author: 'Alyssa P. Hacker <alyspdev@example.com>',
  architecture: 'amd64',
  os: 'linux',
  config: {
    User: 'alice',
    ExposedPorts: { '8080/tcp': {} },
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=oci_is_a'],
    Entrypoint: ['/bin/my-app-binary'],
    Cmd: ['--foreground', '--config', '/etc/my-app.d/default.cfg'],
    Volumes: { '/var/job-result-data': {}, '/var/log/my-app-logs': {} },
    WorkingDir: '/home/alice',
    Labels: { 'com.example.project.git.url': 'https://example.com/project.git' },
    StopSignal: 'SIGTERM',
    Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 30_000_000_000, Retries: 3 },
  },
  rootfs: { diff_ids: [d('diff0'), d('diff1')], type: 'layers' },
  history: [
    { created: '2015-10-31T22:22:54.690851953Z', created_by: '/bin/sh -c #(nop) ADD file:a3bc1e842b69636f9df5256c49c5374fb4eef1e281fe3f282c65fb853ee171c5 in /' },
    { created: '2015-10-31T22:22:55.613815829Z', created_by: '/bin/sh -c #(nop) CMD ["sh"]', empty_layer: true },
  ],
});

function issuesOf(f: () => unknown): Issue[] {
  try {
    f();
  } catch (e) {
    assert.instance(e, BerthError);
    assert.is((e as BerthError).code, 'InvalidArgument');
    return (e as BerthError).detail?.['issues'] as Issue[];
  }
  assert.unreachable('validated');
  return [];
}

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.instance(e, BerthError);
    return (e as Error).message;
  }
  assert.unreachable('validated');
  return '';
}

test('the spec examples validate and come back as the same object', () => {
  const m = manifest();
  assert.is(parseImageManifest(m), m);
  const x = index();
  assert.is(parseImageIndex(x), x);
  const c = config();
  assert.is(parseImageConfig(c), c);
  assert.equal(parseOciLayout({ imageLayoutVersion: '1.0.0' }), { imageLayoutVersion: '1.0.0' });
  assert.is(parseLayoutIndex({ schemaVersion: 2, manifests: [] }).manifests.length, 0);
  assert.equal(parsePlatform({ architecture: 'arm64', os: 'linux', variant: 'v8', 'os.features': ['x'] }).variant, 'v8');
  assert.is(parseDescriptor(emptyDescriptor), emptyDescriptor);
  // Docker writes null for empty lists and maps
  const nulls = { ...config(), config: { ...config().config, Labels: null, Env: null, Cmd: null, Entrypoint: null, Volumes: null, ExposedPorts: null } };
  assert.is(parseImageConfig(nulls).config?.Labels, null);
  for (const created of ['0001-01-01T00:00:00Z', '2024-01-01T00:00:00+02:00', '2015-10-31T22:22:56.015925234Z']) assert.ok(parseImageConfig({ ...config(), created }));
});

test('unknown fields are kept, at every level', () => {
  const m = { ...manifest(), 'x-extra': { nested: [1, 2] } };
  m.layers[0] = { ...m.layers[0]!, ...{ 'x-layer-note': 'kept' } };
  const got = parseImageManifest(JSON.parse(JSON.stringify(m))) as unknown as Record<string, unknown>;
  assert.equal(got['x-extra'], { nested: [1, 2] });
  assert.is(((got['layers'] as Array<Record<string, unknown>>)[0] ?? {})['x-layer-note'], 'kept');
  const c = parseImageConfig({ ...config(), 'moby.buildkit.buildinfo.v1': 'e30=' }) as unknown as Record<string, unknown>;
  assert.is(c['moby.buildkit.buildinfo.v1'], 'e30=');
});

test('errors name the JSON path of the bad field', () => {
  const m = manifest();
  (m.layers[2] as { digest: string }).digest = 'sha256:abc';
  assert.is(messageOf(() => parseImageManifest(m)), 'manifest.layers[2].digest: not a digest');

  const cases: Array<[() => unknown, string]> = [
    [() => parseImageManifest({ ...manifest(), schemaVersion: 1 }), 'manifest.schemaVersion: must be 2'],
    [() => parseImageManifest({ ...manifest(), config: undefined }), 'manifest.config: required'],
    [() => parseImageManifest({ ...manifest(), layers: 'x' }), 'manifest.layers: must be an array'],
    [() => parseImageManifest({ ...manifest(), mediaType: MediaType.OciIndex }), 'manifest.mediaType: must be "application/vnd.oci.image.manifest.v1+json"'],
    [() => parseImageManifest({ ...manifest(), annotations: { 'org.example': 1 } }), 'manifest.annotations["org.example"]: must be a string'],
    [() => parseImageManifest({ ...manifest(), config: { ...manifest().config, size: -1 } }), 'manifest.config.size: not a non-negative integer'],
    [() => parseImageManifest({ ...manifest(), config: { ...manifest().config, size: 1.5 } }), 'manifest.config.size: not a non-negative integer'],
    [() => parseImageManifest({ ...manifest(), config: { ...manifest().config, mediaType: 'not a type' } }), 'manifest.config.mediaType: not a media type'],
    [() => parseImageManifest('{}'), 'manifest: must be an object'],
    [() => parseImageManifest(null), 'manifest: must be an object'],
    [() => parseImageIndex({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: d('a'), size: 1, platform: { os: 'linux' } }] }), 'index.manifests[0].platform.architecture: required'],
    [() => parseImageConfig({ ...config(), rootfs: { type: 'layer', diff_ids: [] } }), 'config.rootfs.type: must be "layers"'],
    [() => parseImageConfig({ ...config(), rootfs: { type: 'layers', diff_ids: ['sha256:x'] } }), 'config.rootfs.diff_ids[0]: not a digest'],
    [() => parseImageConfig({ ...config(), config: { ...config().config, Env: 'A=1' } }), 'config.config.Env: not an array of strings'],
    [() => parseImageConfig({ ...config(), architecture: undefined }), 'config.architecture: required'],
    [() => parseImageConfig({ ...config(), created: 'yesterday' }), 'config.created: not an RFC 3339 date-time'],
    [() => parseImageConfig({ ...config(), history: [{ created: '2015-10-31 22:22' }] }), 'config.history[0].created: not an RFC 3339 date-time'],
    [() => parseImageConfig({ ...config(), config: { ...config().config, Labels: { a: 1 } } }), 'config.config.Labels: not an object of strings'],
    [() => parseImageConfig({ ...config(), config: { ...config().config, ExposedPorts: ['80/tcp'] } }), 'config.config.ExposedPorts: not an object of objects'],
    [() => parseImageConfig({ ...config(), 'os.version': 10 }), 'config["os.version"]: must be a string'],
    [() => parseOciLayout({}), 'oci-layout.imageLayoutVersion: required'],
    [() => parseLayoutIndex({ schemaVersion: 2 }), 'index.json.manifests: required'],
    [() => parseImageManifest(manifest().layers, 'blob sha256:123'), 'blob sha256:123: must be an object'],
  ];
  for (const [f, want] of cases) assert.is(messageOf(f), want);
});

test('every issue is listed, one per field, the first in the message', () => {
  const m = manifest();
  (m.layers[0] as { digest: string }).digest = 'nope';
  (m.layers[1] as { size: number }).size = -5;
  const issues = issuesOf(() => parseImageManifest({ ...m, schemaVersion: 3 }));
  assert.equal(issues.map((i) => i.path).sort(), ['manifest.layers[0].digest', 'manifest.layers[1].size', 'manifest.schemaVersion']);
  assert.match(messageOf(() => parseImageManifest({ ...m, schemaVersion: 3 })), /\(and 2 more\)$/);
  const r = validate(ImageManifestSchema, m, 'm');
  assert.is(r.ok, false);
  assert.ok(validate(ImageManifestSchema, manifest(), 'm').ok);
});

test('a schema checked first by the interpreter, then compiled, gives the same verdicts and issues', () => {
  const schema = Type.Object({ n: Type.Integer({ minimum: 0 }), s: Type.String({ minLength: 1 }) });
  const bad = { n: -1, s: '' };
  const first = validate(schema, bad, 'x');
  const second = validate(schema, bad, 'x');
  const third = validate(schema, bad, 'x');
  assert.is(first.ok, false);
  assert.equal(second, first);
  assert.equal(third, first);
  assert.ok(validate(schema, { n: 1, s: 'a' }, 'x').ok);
});

test('embedded descriptor data must match its size and digest', () => {
  const data = Buffer.from('{"hello":"world"}');
  const good = { mediaType: 'application/json', digest: digestOf(data), size: data.length, data: data.toString('base64') };
  assert.is(parseDescriptor(good), good);
  assert.is(messageOf(() => parseDescriptor({ ...good, size: 3 })), `descriptor.data: has ${data.length} bytes, size says 3`);
  assert.is(messageOf(() => parseDescriptor({ ...good, digest: d('other') })), 'descriptor.data: does not match the digest');
  assert.is(messageOf(() => parseDescriptor({ ...good, data: '***' })), 'descriptor.data: not base64 data');
  const m = { ...manifest(), config: { ...emptyDescriptor, data: 'e3s=' } }; // decodes to "{{"
  assert.is(messageOf(() => parseImageManifest(m)), 'manifest.config.data: does not match the digest');
  // an unknown algorithm cannot be checked, and is let through
  const odd = { ...good, digest: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564' };
  assert.is(parseDescriptor(odd), odd);
});

test('the image-spec schema test vectors for descriptors', () => {
  const base = { mediaType: MediaType.OciManifest, size: 7682, digest: 'sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270' };
  const long = '1234567890'.repeat(13);
  const cases: Array<[Record<string, unknown>, boolean]> = [
    [base, true],
    [{ mediaType: 'application/octet-stream', size: 0, digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }, true],
    [{ ...base, mediaType: undefined }, false],
    [{ ...base, mediaType: 'application' }, false],
    [{ ...base, mediaType: '.foo/bar' }, false],
    [{ ...base, mediaType: 'foo/.bar' }, false],
    [{ ...base, mediaType: `${long.slice(0, 127)}/${long.slice(0, 127)}` }, true],
    [{ ...base, mediaType: `${long.slice(0, 128)}/bar` }, false],
    [{ ...base, mediaType: `foo/${long.slice(0, 128)}` }, false],
    [{ ...base, size: undefined }, false],
    [{ ...base, size: '7682' }, false],
    [{ ...base, size: -7682 }, false],
    [{ ...base, digest: undefined }, false],
    [{ ...base, digest: ':5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270' }, false],
    [{ ...base, digest: 'sha256' }, false],
    [{ ...base, digest: 'SHA256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270' }, false],
    [{ ...base, digest: 'sha256:5B0BCABD1ED22E9FB1310CF6C2DEC7CDEF19F0AD69EFA1F392E94A4333501270' }, false],
    [{ ...base, urls: ['https://example.com/foo'] }, true],
    [{ ...base, urls: ['value'] }, false],
    [{ ...base, artifactType: MediaType.OciManifest }, true],
    [{ ...base, artifactType: 'foo/.bar' }, false],
    [{ mediaType: 'text/plain', size: 34, data: 'aHR0cHM6Ly9naXRodWIuY29tL29wZW5jb250YWluZXJzCg==', digest: 'sha256:2690af59371e9eca9453dc29882643f46e5ca47ec2862bd517b5e17351325153' }, true],
    [{ mediaType: 'text/plain', size: 34, data: 'aHR0cHM6Ly9naXRodWIuY29tL29wZW5jb250YWluZXJzCg', digest: 'sha256:2690af59371e9eca9453dc29882643f46e5ca47ec2862bd517b5e17351325153' }, false],
    [{ ...base, digest: 'sha256+b64:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b' }, true],
    [{ ...base, digest: 'sha256+foo-bar:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b' }, true],
    [{ ...base, digest: 'sha256.foo-bar:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b' }, true],
    [{ ...base, digest: 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8' }, true],
    [{ ...base, digest: 'sha256+foo+-b:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b' }, false],
    [{ ...base, digest: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564' }, true],
    [{ ...base, digest: 'sha256+b64u.unknownlength:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564=' }, true],
  ];
  for (const [value, ok] of cases) {
    let passed = true;
    try { parseDescriptor(JSON.parse(JSON.stringify(value))); } catch (e) { assert.instance(e, BerthError); passed = false; }
    assert.is(passed, ok, JSON.stringify(value));
  }
});

test('Docker schema2 manifest and manifest list', () => {
  const dm = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: { mediaType: MediaType.DockerConfig, size: 1469, digest: d('c') },
    layers: [
      { mediaType: MediaType.DockerLayerGzip, size: 2479, digest: d('l') },
      { mediaType: MediaType.DockerLayerForeignGzip, size: 1, digest: d('f'), urls: ['https://mcr.microsoft.com/x'] },
    ],
  };
  assert.is(parseDockerManifest(dm), dm);
  assert.is(messageOf(() => parseDockerManifest({ ...dm, mediaType: undefined })), 'manifest.mediaType: required');
  const list = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifestList,
    manifests: [{ mediaType: MediaType.DockerManifest, size: 527, digest: d('arm'), platform: { architecture: 'arm', os: 'linux', variant: 'v7' } }],
  };
  assert.is(parseDockerManifestList(list), list);
  assert.is(messageOf(() => parseDockerManifestList({ ...list, mediaType: MediaType.OciIndex })), 'manifest list.mediaType: must be "application/vnd.docker.distribution.manifest.list.v2+json"');
});

test('parseManifestDocument: the kind from the Content-Type, the document, or its shape', () => {
  const m = manifest();
  const byHeader = parseManifestDocument(m, `${MediaType.OciManifest}; charset=utf-8`);
  assert.is(byHeader.kind, 'manifest');
  assert.is(byHeader.mediaType, MediaType.OciManifest);
  const { mediaType: _drop, ...bare } = index();
  const byShape = parseManifestDocument(bare);
  assert.is(byShape.kind, 'index');
  assert.is(parseManifestDocument(manifest(), 'application/json').kind, 'manifest');
  assert.is(parseManifestDocument(index(), 'application/octet-stream').kind, 'index');
  assert.is(parseManifestDocument(manifest(), 'Application/VND.OCI.image.manifest.v1+json').kind, 'manifest');
  const docker = parseManifestDocument({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] });
  assert.is(docker.mediaType, MediaType.DockerManifestList);
  assert.match(messageOf(() => parseManifestDocument(m, MediaType.OciIndex)), /does not match the content type/);
  assert.match(messageOf(() => parseManifestDocument({ schemaVersion: 1 }, MediaType.DockerManifestSchema1Signed)), /schema1 manifests .* are no longer supported/);
  assert.match(messageOf(() => parseManifestDocument({}, 'text/html')), /unsupported manifest media type "text\/html"/);
  assert.is(messageOf(() => parseManifestDocument({ schemaVersion: 2, mediaType: MediaType.DockerManifest, layers: [] })), 'manifest.config: required');
});

// A config.json as containerd/podman write them: every Linux section in use.
const spec = () => ({
  ociVersion: '1.2.0',
  root: { path: 'rootfs', readonly: true },
  hostname: 'box',
  domainname: 'example.com',
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'], uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] },
  ],
  process: {
    terminal: false,
    consoleSize: { height: 24, width: 80 },
    user: { uid: 1000, gid: 1000, umask: 18, additionalGids: [5, 6] },
    args: ['sh', '-c', 'echo hi'],
    env: ['PATH=/bin'],
    cwd: '/',
    capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: [] },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
    oomScoreAdj: 100,
    scheduler: { policy: 'SCHED_OTHER', nice: 5 },
    ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
    apparmorProfile: 'berth-default',
    selinuxLabel: 'system_u:system_r:svirt_lxc_net_t:s0:c124,c675',
  },
  hooks: {
    createRuntime: [{ path: '/usr/bin/net-setup', args: ['net-setup', 'up'], env: ['X=1'], timeout: 5 }],
    poststop: [{ path: '/usr/bin/cleanup' }],
  },
  annotations: { 'com.example.key': 'v' },
  linux: {
    namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/x' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'user' }, { type: 'cgroup' }, { type: 'time' }],
    uidMappings: [{ containerID: 0, hostID: 1000, size: 32000 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 32000 }],
    timeOffsets: { monotonic: { secs: 10, nanosecs: 0 } },
    devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 }, { path: '/dev/fifo', type: 'p' }],
    cgroupsPath: '/berth/abc',
    resources: {
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }],
      memory: { limit: 536870912, reservation: 268435456, swap: -1, swappiness: 0, disableOOMKiller: false },
      cpu: { shares: 1024, quota: 1000000, period: 500000, cpus: '2-3', mems: '0-7', idle: 0 },
      blockIO: { weight: 10, weightDevice: [{ major: 8, minor: 0, weight: 500 }], throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 600 }] },
      hugepageLimits: [{ pageSize: '2MB', limit: 209715200 }],
      network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] },
      pids: { limit: 32771 },
      rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
      unified: { 'memory.high': '500M' },
    },
    sysctl: { 'net.ipv4.ip_forward': '1' },
    seccomp: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    },
    rootfsPropagation: 'private',
    maskedPaths: ['/proc/kcore'],
    readonlyPaths: ['/proc/sys'],
    mountLabel: 'system_u:object_r:svirt_sandbox_file_t:s0:c715,c811',
    personality: { domain: 'LINUX' },
  },
});

// The bound is loose on purpose: a linear scan of 1 MiB takes milliseconds even on a loaded
// CI machine, while backtracking over it takes minutes. Speed itself is a benchmark's job.
const linearBoundMs = 5000;

test('hostile megabyte strings in a document are refused in linear time', () => {
  for (const digest of ['a.'.repeat(1 << 19), `${'a'.repeat(1 << 20)}!`, `sha256:${'f'.repeat(1 << 20)}`]) {
    const t = performance.now();
    assert.is(messageOf(() => parseImageManifest({ ...manifest(), config: { ...manifest().config, digest } })), 'manifest.config.digest: not a digest');
    assert.ok(performance.now() - t < linearBoundMs, `${(performance.now() - t).toFixed(0)} ms`);
  }
  const t = performance.now();
  assert.match(messageOf(() => parseImageManifest({ ...manifest(), config: { ...manifest().config, data: `${'A'.repeat(1 << 20)}!` } })), /config\.data: not base64 data/);
  assert.ok(performance.now() - t < linearBoundMs);
});

test('runtime spec: a config.json using every Linux section validates', () => {
  const s = spec();
  assert.is(parseRuntimeSpec(s), s);
  assert.ok(parseRuntimeSpec({ ociVersion: '1.0.2-dev' }));
});

test('runtime spec: errors name the field', () => {
  const bad = (patch: (s: ReturnType<typeof spec>) => void): string => {
    const s = spec();
    patch(s);
    return messageOf(() => parseRuntimeSpec(s));
  };
  assert.is(bad((s) => { (s.linux.namespaces[2] as { type: string }).type = 'pidx'; }), 'config.linux.namespaces[2].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time');
  assert.is(bad((s) => { (s.linux.seccomp as { defaultAction: string }).defaultAction = 'ALLOW'; }), `config.linux.seccomp.defaultAction: must be one of ${['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY'].join(', ')}`);
  assert.is(bad((s) => { s.process.oomScoreAdj = 1001; }), 'config.process.oomScoreAdj: not an integer from -1000 to 1000');
  assert.is(bad((s) => { s.ociVersion = '1.2'; }), 'config.ociVersion: not a semantic version');
  assert.is(bad((s) => { s.hooks.createRuntime[0]!.timeout = 0; }), 'config.hooks.createRuntime[0].timeout: not a positive integer');
  assert.is(bad((s) => { (s.linux.devices[0] as { type: string }).type = 'x'; }), 'config.linux.devices[0].type: must be one of c, b, u, p');
  assert.is(bad((s) => { delete (s.process.user as { uid?: number }).uid; }), 'config.process.user.uid: required');
  assert.is(bad((s) => { delete (s.process as { cwd?: string }).cwd; }), 'config.process.cwd: required');
  assert.is(bad((s) => { s.process.rlimits[0]!.type = 'NOFILE'; }), 'config.process.rlimits[0].type: not an RLIMIT_ name');
  assert.is(bad((s) => { s.linux.resources.devices[0]!.access = 'rwx'; }), 'config.linux.resources.devices[0].access: not some of r, w, m');
  assert.is(bad((s) => { delete (s.mounts[1] as { destination?: string }).destination; }), 'config.mounts[1].destination: required');
  assert.is(bad((s) => { (s.linux as { rootfsPropagation: string }).rootfsPropagation = 'rshared'; }), 'config.linux.rootfsPropagation: must be one of shared, slave, private, unbindable');
  assert.is(bad((s) => { s.linux.uidMappings[0]!.size = -1; }), 'config.linux.uidMappings[0].size: not a non-negative integer');
});

test('runtime state: the spec example, and bad ones', () => {
  const st = { ociVersion: '0.2.0', id: 'oci-container1', status: 'running', pid: 4422, bundle: '/containers/redis', annotations: { myKey: 'myValue' } };
  assert.is(parseRuntimeState(st), st);
  assert.ok(parseRuntimeState({ ...st, status: 'paused' }));
  assert.is(messageOf(() => parseRuntimeState({ ...st, status: 'zombie' })), 'state.status: must be one of creating, created, running, stopped, paused');
  assert.is(messageOf(() => parseRuntimeState({ ...st, id: '' })), 'state.id: not a non-empty string');
  assert.is(messageOf(() => parseRuntimeState({ ...st, pid: -1 })), 'state.pid: not a non-negative integer');
  assert.is(messageOf(() => parseRuntimeState({ ...st, bundle: undefined })), 'state.bundle: required');
});

test.run();
