/**
 * Container IDs (64 lower-case hex, like Docker's) and generated names in Docker's
 * `adjective_surname` style.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Random bytes from the kernel's /dev/urandom (what crypto.randomBytes draws on too): loading
 * node:crypto costs a `berth run` several ms for the 32 bytes of an ID.
 */
function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let off = 0; off < n;) off += readSync(fd, b, off, n - off, null);
  } finally {
    closeSync(fd);
  }
  return b;
}

/** A uniform integer in [0, max) (max ≤ 2^16: rejection sampling over two random bytes). */
function randomInt(max: number): number {
  const limit = 65536 - (65536 % max);
  for (;;) {
    const v = randomBytes(2).readUInt16LE(0);
    if (v < limit) return v % max;
  }
}
import { invalidArgument } from '@berth/errors';

/** A container ID: 64 lower-case hex characters. */
export type ContainerId = string & { readonly __brand: 'ContainerId' };

/** Parses a full container ID. */
export function parseContainerId(s: string): ContainerId {
  if (!/^[0-9a-f]{64}$/.test(s)) throw invalidArgument(`invalid container ID "${s}": expected 64 hex characters`);
  return s as ContainerId;
}

/** A new random ID whose 12-character short form is never all digits (it would read as a number). */
export function newContainerId(): ContainerId {
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!/^\d{12}/.test(id)) return id as ContainerId;
  }
}

const adjectives = [
  'admiring', 'adoring', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'brave', 'busy', 'charming',
  'clever', 'cool', 'compassionate', 'competent', 'confident', 'crazy', 'dazzling', 'determined', 'eager', 'ecstatic',
  'elastic', 'elegant', 'epic', 'exciting', 'fervent', 'festive', 'focused', 'friendly', 'frosty', 'funny', 'gallant',
  'gifted', 'goofy', 'gracious', 'happy', 'hardcore', 'heuristic', 'hopeful', 'hungry', 'infallible', 'inspiring',
  'jolly', 'jovial', 'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying',
  'naughty', 'nervous', 'nice', 'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful', 'pensive', 'practical',
  'priceless', 'quirky', 'quizzical', 'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly', 'sleepy',
  'stoic', 'strange', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'upbeat', 'vibrant', 'vigilant',
  'vigorous', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];

const surnames = [
  'agnesi', 'albattani', 'allen', 'archimedes', 'babbage', 'banach', 'bardeen', 'bartik', 'bell', 'bhabha', 'blackwell',
  'bohr', 'booth', 'borg', 'bose', 'brahmagupta', 'brattain', 'brown', 'burnell', 'carson', 'cerf', 'chandrasekhar',
  'clarke', 'curie', 'darwin', 'dijkstra', 'driscoll', 'einstein', 'elion', 'engelbart', 'euclid', 'euler', 'faraday',
  'fermat', 'fermi', 'feynman', 'franklin', 'galileo', 'gauss', 'goldberg', 'goodall', 'hamilton', 'hawking',
  'heisenberg', 'hertz', 'hodgkin', 'hopper', 'hypatia', 'jackson', 'jennings', 'johnson', 'kalam', 'kepler', 'khayyam',
  'knuth', 'kowalevski', 'lamarr', 'lamport', 'leakey', 'lovelace', 'lumiere', 'mayer', 'mccarthy', 'mclean',
  'meitner', 'mendel', 'mirzakhani', 'montalcini', 'moore', 'morse', 'napier', 'newton', 'nobel', 'noether', 'noyce',
  'pascal', 'pasteur', 'payne', 'perlman', 'pike', 'poincare', 'ramanujan', 'ritchie', 'rosalind', 'sammet', 'shannon',
  'shockley', 'sinoussi', 'stallman', 'swanson', 'tesla', 'thompson', 'torvalds', 'turing', 'varahamihira', 'villani',
  'wescoff', 'wilbur', 'wiles', 'williams', 'wing', 'wozniak', 'wright', 'yalow', 'yonath', 'zhukovsky',
];

/**
 * A generated name: `adjective_surname`, with a digit appended after a collision (`retry` > 0),
 * as Docker does.
 */
export function generateName(retry = 0): string {
  const name = `${adjectives[randomInt(adjectives.length)]}_${surnames[randomInt(surnames.length)]}`;
  return retry > 0 ? `${name}${randomInt(10)}` : name;
}
