import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isBerthError } from '@berth/errors';
import { parseMountFlag, parseMountFlags, parseTmpfsFlag, parseVolumeFlag, parseVolumesFromFlag, parseSize } from './parse.js';

function throwsInvalid(fn: () => unknown, message: RegExp): void {
  try { fn(); } catch (e) {
    assert.ok(isBerthError(e, 'InvalidArgument'), String(e));
    assert.match((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected an error matching ${message}`);
}

test('-v forms: anonymous, named, bind, with options', () => {
  assert.equal(parseVolumeFlag('/data'), { type: 'volume', target: '/data', readonly: false, nocopy: false });
  assert.equal(parseVolumeFlag('cache:/var/cache/'), { type: 'volume', source: 'cache', target: '/var/cache', readonly: false, nocopy: false });
  assert.equal(parseVolumeFlag('cache:/c:ro,nocopy'), { type: 'volume', source: 'cache', target: '/c', readonly: true, nocopy: true });
  assert.equal(parseVolumeFlag('/srv/x:/x:ro,rshared,z'), { type: 'bind', source: '/srv/x', target: '/x', readonly: true, createSource: true, propagation: 'rshared', recursive: true });
  assert.equal(parseVolumeFlag('/srv//x/:/x:rw'), { type: 'bind', source: '/srv/x', target: '/x', readonly: false, createSource: true, propagation: 'rprivate', recursive: true });
});

const badVolumes: [string, RegExp][] = [
  ['', /empty/],
  ['./data:/data', /host path "\.\/data" is relative/],
  ['data/sub:/data', /relative/],
  ['x:/data', /neither a volume name/],
  ['bad$name:/data', /neither a volume name/],
  ['vol:data', /"data" must be absolute/],
  ['vol:', /target\) is missing/],
  [':/data', /source before ":" is empty/],
  ['vol:/', /cannot be "\/"/],
  ['/data:ro', /anonymous volume takes no options/],
  ['vol:/data:bogus', /unknown option "bogus"/],
  ['vol:/data:ro,rw', /ro or rw once/],
  ['/h:/data:nocopy', /nocopy applies to volumes/],
  ['vol:/data:rshared', /propagation/],
  ['a:/b:ro:x', /too many/],
];
for (const [v, re] of badVolumes) test(`-v "${v}" is refused: ${re.source}`, () => throwsInvalid(() => parseVolumeFlag(v), re));

test('--mount forms', () => {
  assert.equal(parseMountFlag('type=bind,source=/h,target=/c,readonly'), { type: 'bind', source: '/h', target: '/c', readonly: true, createSource: false, propagation: 'rprivate', recursive: true });
  assert.equal(parseMountFlag('type=bind,src=/h,dst=/c,bind-propagation=rslave,bind-nonrecursive=true,ro=false'), { type: 'bind', source: '/h', target: '/c', readonly: false, createSource: false, propagation: 'rslave', recursive: false });
  assert.equal(parseMountFlag('source=v1,target=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs'), {
    type: 'volume', source: 'v1', target: '/d', readonly: false, nocopy: true, labels: { a: 'b' }, driverOptions: { type: 'tmpfs', device: 'tmpfs' },
  });
  assert.equal(parseMountFlag('type=volume,destination=/d'), { type: 'volume', target: '/d', readonly: false, nocopy: false });
  assert.equal(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770'), { type: 'tmpfs', target: '/t', readonly: false, options: [], size: 64 * 1024 * 1024, mode: 0o1770 });
});

const badMounts: [string, RegExp][] = [
  ['type=bind,target=/c', /needs source=/],
  ['type=bind,source=rel,target=/c', /relative/],
  ['type=bind,source=/h', /target\) is missing/],
  ['type=bind,source=/h,target=c', /must be absolute/],
  ['type=nfs,target=/c', /type "nfs" is not supported/],
  ['type=tmpfs,source=/x,target=/c', /takes no source/],
  ['type=bind,source=/h,target=/c,volume-nocopy', /volume-\* options do not apply/],
  ['type=volume,target=/c,tmpfs-size=1m', /tmpfs-\* options do not apply/],
  ['type=tmpfs,target=/c,tmpfs-size=lots', /size like 64m/],
  ['type=tmpfs,target=/c,tmpfs-mode=999', /octal mode/],
  ['type=bind,source=/h,target=/c,readonly=maybe', /not a boolean/],
  ['target=/c,color=red', /unknown key "color"/],
  ['target=/c,target=/d', /given twice/],
  ['source=/abs,target=/c', /use type=bind/],
  ['source=x,target=/c', /not a valid volume name/],
  ['type=bind,source=/h,target=/c,bind-propagation=weird', /bind-propagation/],
  ['target=/c,volume-label=nokey', /key=value/],
];
for (const [v, re] of badMounts) test(`--mount "${v}" is refused: ${re.source}`, () => throwsInvalid(() => parseMountFlag(v), re));

test('--tmpfs forms and errors', () => {
  assert.equal(parseTmpfsFlag('/run'), { type: 'tmpfs', target: '/run', readonly: false, options: [] });
  assert.equal(parseTmpfsFlag('/run:size=64m,mode=1777,exec,uid=1000,ro'), { type: 'tmpfs', target: '/run', readonly: true, options: ['exec', 'uid=1000'], size: 64 << 20, mode: 0o1777 });
  throwsInvalid(() => parseTmpfsFlag('run'), /must be absolute/);
  throwsInvalid(() => parseTmpfsFlag('/run:bogus'), /unknown tmpfs option "bogus"/);
  throwsInvalid(() => parseTmpfsFlag('/run:size=x'), /size like/);
});

test('--volumes-from and sizes', () => {
  assert.equal(parseVolumesFromFlag('web'), { container: 'web' });
  assert.equal(parseVolumesFromFlag('web:ro'), { container: 'web', readonly: true });
  throwsInvalid(() => parseVolumesFromFlag('web:rx'), /mode "rx"/);
  throwsInvalid(() => parseVolumesFromFlag(''), /container\[:ro\|rw\]/);
  assert.is(parseSize('s', '1g'), 1 << 30);
  assert.is(parseSize('s', '512k'), 512 * 1024);
  assert.is(parseSize('s', '100'), 100);
  assert.is(parseSize('s', '1.5MiB'), 1.5 * 1024 * 1024);
});

test('all mount flags of a container at once: in flag order, two mounts at one target refused', () => {
  const all = parseMountFlags({ volume: ['v1:/a'], mount: ['type=bind,source=/h,target=/b'], tmpfs: ['/c'] });
  assert.equal(all.map((m) => `${m.type}:${m.target}`), ['volume:/a', 'bind:/b', 'tmpfs:/c']);
  throwsInvalid(() => parseMountFlags({ volume: ['v1:/a/'], tmpfs: ['/a'] }), /duplicate mount point "\/a"/);
});

test.run();
