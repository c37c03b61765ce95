// The conformance suite on the copy fallback, through the real kernel door.
import { LinuxSys } from '@berth/native';
import { CopySnapshotter } from './vfs.js';
import { snapshotterSuite } from './testsuite.js';

const sys = new LinuxSys();
snapshotterSuite('vfs', sys, (root) => new CopySnapshotter({ root, sys }));
