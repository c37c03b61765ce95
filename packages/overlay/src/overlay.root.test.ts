// The conformance suite on overlayfs, through the real kernel door.
import { LinuxSys } from '@berth/native';
import { OverlaySnapshotter } from './overlay.js';
import { snapshotterSuite } from './testsuite.js';

const sys = new LinuxSys();
snapshotterSuite('overlay', sys, (root) => new OverlaySnapshotter({ root, sys, mountOptions: ['index=off', 'redirect_dir=off', 'metacopy=off'] }));
