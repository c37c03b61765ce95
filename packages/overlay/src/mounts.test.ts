import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MountFlags, RecordingSys, UmountFlags } from '@berth/native';
import { findOrphanMounts, mountCalls, parseMountInfo, performMounts, type MountInfo } from './mounts.js';
import { writeMountRecords } from './layout.js';

const table: Array<[string, Parameters<typeof mountCalls>[0], ReturnType<typeof mountCalls>]> = [
  ['overlay: data carries the options, no flags',
    { type: 'overlay', source: 'overlay', target: '/r', options: ['lowerdir=l/a', 'upperdir=/u', 'workdir=/w'] },
    [{ source: 'overlay', target: '/r', fstype: 'overlay', flags: 0, data: 'lowerdir=l/a,upperdir=/u,workdir=/w' }]],
  ['read-only overlay: ro becomes MS_RDONLY',
    { type: 'overlay', source: 'overlay', target: '/r', options: ['ro', 'lowerdir=l/a:l/b'] },
    [{ source: 'overlay', target: '/r', fstype: 'overlay', flags: MountFlags.RDONLY, data: 'lowerdir=l/a:l/b' }]],
  ['rw bind: one call',
    { type: 'bind', source: '/u', target: '/r', options: ['rbind', 'rw'] },
    [{ source: '/u', target: '/r', fstype: null, flags: MountFlags.BIND | MountFlags.REC, data: null }]],
  ['ro bind: bind, then remount read-only (MS_RDONLY is ignored on the first call)',
    { type: 'bind', source: '/l', target: '/r', options: ['rbind', 'ro', 'nosuid'] },
    [
      { source: '/l', target: '/r', fstype: null, flags: MountFlags.BIND | MountFlags.REC, data: null },
      { source: '/l', target: '/r', fstype: null, flags: MountFlags.BIND | MountFlags.REMOUNT | MountFlags.RDONLY | MountFlags.NOSUID, data: null },
    ]],
];
for (const [name, spec, want] of table) {
  test(`mountCalls: ${name}`, () => assert.equal(mountCalls(spec), want));
}

test('performMounts mounts from the description\'s cwd and comes back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-mounts-'));
  try {
    const before = process.cwd();
    const seen: string[] = [];
    const sys = new RecordingSys();
    const door = { mount: (...a: Parameters<RecordingSys['mount']>) => { seen.push(process.cwd()); sys.mount(...a); }, umount2: sys.umount2.bind(sys) };
    performMounts(door, [{ type: 'overlay', source: 'overlay', target: '/r', options: ['lowerdir=l/a'], cwd: dir }]);
    assert.equal(seen, [dir]);
    assert.is(process.cwd(), before);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('performMounts undoes the mounts made so far when a later one fails', () => {
  const sys = new RecordingSys().failOn({ op: 'mount', nth: 2, errno: 'EPERM' });
  let err: unknown;
  try {
    performMounts(sys, [{ type: 'bind', source: '/l', target: '/r', options: ['rbind', 'ro'] }]);
  } catch (e) { err = e; }
  assert.is((err as { errno?: string }).errno, 'EPERM');
  assert.equal(sys.callsOf('umount2').map((c) => c.args), [['/r', UmountFlags.DETACH]]);
  assert.equal(sys.mounts, []);
});

test('performMounts refuses options over the one-page limit before calling mount', () => {
  const sys = new RecordingSys();
  const lower = Array.from({ length: 300 }, (_, i) => `/var/lib/berth/layers/${String(i).padStart(64, '0')}`).join(':');
  assert.throws(() => performMounts(sys, [{ type: 'overlay', source: 'overlay', target: '/r', options: [`lowerdir=${lower}`] }]), /over the kernel's 4095/);
  assert.equal(sys.calls, []);
});

test('parseMountInfo reads fields and unescapes mount points', () => {
  const text = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '171 27 0:39 / /var/lib/my\\040root/containers/a/rootfs rw,relatime shared:5 - overlay overlay rw,lowerdir=l/a',
    'garbage',
  ].join('\n');
  const m = parseMountInfo(text);
  assert.is(m.length, 2);
  assert.equal(m[1], { id: 171, parent: 27, mountPoint: '/var/lib/my root/containers/a/rootfs', fstype: 'overlay', source: 'overlay', superOptions: 'rw,lowerdir=l/a' });
});

test('findOrphanMounts: mounts of unknown containers and unrecorded rootfs mounts are orphans; recorded ones, their submounts and the engine\'s other mounts are not', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-orphans-'));
  try {
    await mkdir(join(root, 'containers/a/rootfs'), { recursive: true });
    writeMountRecords(root, 'a', [{ target: join(root, 'containers/a/rootfs'), type: 'overlay', mountedAt: 'now' }]);
    await mkdir(join(root, 'containers/b'), { recursive: true });
    let id = 100;
    const m = (mountPoint: string, fstype = 'overlay'): MountInfo => ({ id: id++, parent: 1, mountPoint, fstype, source: fstype, superOptions: '' });
    const mountInfo = [
      m('/'),
      m(join(root, 'containers/a/rootfs')),
      m(join(root, 'containers/a/rootfs/proc'), 'proc'),
      m(join(root, 'containers/b/rootfs')),
      m(join(root, 'containers/b/shm'), 'tmpfs'),
      m(join(root, 'containers/gone/rootfs')),
      m(join(root, 'overlay/probe-1234/merged')),
      m(join(root, 'volumes/v/_data'), 'tmpfs'),
    ];
    const got = await findOrphanMounts(root, ['a', 'b'], { mountInfo });
    assert.equal(got.map((o) => [o.target.slice(root.length), o.key ?? null, o.reason]).sort(), [
      ['/containers/b/rootfs', 'b', 'not recorded'],
      ['/containers/gone/rootfs', 'gone', 'unknown container'],
      ['/overlay/probe-1234/merged', null, 'probe leftover'],
    ]);
    assert.equal(await findOrphanMounts(join(root, 'missing'), [], { mountInfo }), []);
  } finally {
    await rm(root, { recursive: true });
  }
});

test.run();
