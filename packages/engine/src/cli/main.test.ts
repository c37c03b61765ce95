import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Command } from 'commander';
import { commandModules, commandName, program } from './main.js';

test('commandName: the first argument after the global --root/--state options', () => {
  assert.is(commandName(['version']), 'version');
  assert.is(commandName(['--root', '/r', '--state=/s', 'run', '--rm', 'x']), 'run');
  assert.is(commandName(['--root=/r', 'ps', '-a']), 'ps');
  assert.is(commandName([]), undefined);
  assert.is(commandName(['--help']), undefined);
  assert.is(commandName(['-v']), undefined);
  assert.is(commandName(['--root', '/r']), undefined);
});

test('each command module registers exactly the top-level commands the table names for it', async () => {
  for (const m of commandModules) {
    const cmd = new Command('berth').enablePositionalOptions();
    (await m.load()).register(cmd, () => ({ root: '/nonexistent', state: '/nonexistent' }));
    assert.equal(cmd.commands.map((c) => c.name()).sort(), [...m.names].sort(), m.names.join(','));
  }
  const all = commandModules.flatMap((m) => m.names);
  assert.is(new Set(all).size, all.length, 'no command is listed twice');
});

test('program builds only the group argv runs, and every group without argv or for help', async () => {
  assert.equal((await program(['version'])).commands.map((c) => c.name()), ['version']);
  const every = commandModules.flatMap((m) => m.names).sort();
  assert.equal((await program()).commands.map((c) => c.name()).sort(), every);
  assert.equal((await program(['--help'])).commands.map((c) => c.name()).sort(), every);
  assert.equal((await program(['no-such-command'])).commands.map((c) => c.name()).sort(), every);
});

test.run();
