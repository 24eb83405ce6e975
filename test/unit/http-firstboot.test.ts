// The first-boot report's pure decisions: which machine a request names, whether its source
// address may speak for it, and the status it leads to (none for a repeat).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLpmosError } from '../../core/errors.ts';
import { clientAddress, firstbootMachine, firstbootStatus, sourceAllowed } from '../../seed/http/firstboot.ts';

const url = (q: string) => new URL(`http://seed.invalid/api/v1/firstboot${q}`);
const T = '2026-11-22T18:00:00.000Z';

test('machine parameter: exactly one valid name, else E_USAGE naming the problem', () => {
  assert.equal(firstbootMachine(url('?machine=web-01')), 'web-01');
  for (const [q, re] of [['', /missing/], ['?machine=', /not a machine name/], ['?machine=Web', /not a machine name/], ['?machine=a&machine=b', /more than once/], ['?machine=a%2Fb', /not a machine name/]] as const) {
    assert.throws(() => firstbootMachine(url(q)), (e) => isLpmosError(e, 'E_USAGE') && re.test(e.message), q);
  }
});

test('source address: anything without a lease on record; otherwise a leased or the reserved address', () => {
  assert.equal(clientAddress('::ffff:10.213.112.5'), '10.213.112.5');
  assert.equal(clientAddress('10.213.112.5'), '10.213.112.5');
  assert.equal(sourceAllowed('10.0.0.9', [], undefined), true);
  assert.equal(sourceAllowed('10.0.0.9', ['10.0.0.9', '10.0.0.10'], undefined), true);
  assert.equal(sourceAllowed('10.0.0.10', ['10.0.0.9'], undefined), false);
  assert.equal(sourceAllowed('10.0.0.20', ['10.0.0.9'], '10.0.0.20'), true);
});

test('status: provisioned at step firstboot, from any state; nothing to write when already provisioned', () => {
  assert.deepEqual(firstbootStatus(undefined), { state: 'provisioned', step: 'firstboot', progress: 100 });
  assert.deepEqual(firstbootStatus({ state: 'provisioning', step: 'reboot', progress: 100, since: T, updatedAt: T })?.state, 'provisioned');
  assert.equal(firstbootStatus({ state: 'provisioned', step: 'firstboot', since: T, updatedAt: T }), undefined);
});
