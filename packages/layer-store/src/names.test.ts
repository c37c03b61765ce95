import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { familiar, normalizeName, parseName } from './names.js';
import { applyChanges } from './import.js';

test('names are fully qualified in the store and familiar on screen', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['localhost/busybox', 'localhost/busybox:latest', 'localhost/busybox:latest'],
    ['quay.io/x/y', 'quay.io/x/y:latest', 'quay.io/x/y:latest'],
  ];
  for (const [input, full, short] of cases) {
    assert.is(normalizeName(input), full, input);
    assert.is(familiar(full), short, full);
  }
  const d = `sha256:${'a'.repeat(64)}`;
  assert.equal(parseName(`busybox@${d}`), { repo: 'docker.io/library/busybox', digest: d });
  assert.throws(() => parseName('library/UPPER'), /invalid|lowercase|repository name/i);
  assert.throws(() => parseName('a'.repeat(64)), /64-byte hexadecimal/);
});

test('--change instructions shape the config like a Dockerfile', () => {
  const c = applyChanges({ Env: ['PATH=/bin'] }, [
    'CMD echo hi', 'ENTRYPOINT ["/init"]', 'ENV PATH=/usr/bin B="two words"', 'ENV C 3', 'LABEL a=b',
    'EXPOSE 80 53/udp', 'VOLUME /data', 'USER 1000:1000', 'WORKDIR /srv', 'STOPSIGNAL SIGINT',
  ]);
  assert.equal(c, {
    Env: ['PATH=/usr/bin', 'B=two words', 'C=3'], Cmd: ['/bin/sh', '-c', 'echo hi'], Entrypoint: ['/init'], Labels: { a: 'b' },
    ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Volumes: { '/data': {} }, User: '1000:1000', WorkingDir: '/srv', StopSignal: 'SIGINT',
  });
  assert.throws(() => applyChanges({}, ['RUN rm -rf /']), /"RUN" is not supported/);
  assert.throws(() => applyChanges({}, ['CMD']), /invalid --change/);
});

test.run();
