/** The pure request checks: Host names, cross-site headers, body depth, and the route table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/server/apiErrors.js';
import {
  crossSiteProblem,
  hostNameOf,
  hostProblem,
  isJsonContentType,
  nestsDeeperThan,
} from '../../src/server/requestGuard.js';
import { routeOf, validateQuery } from '../../src/server/routes.js';

describe('request guard', () => {
  it('reads host names from Host headers', () => {
    assert.equal(hostNameOf('127.0.0.1:6790'), '127.0.0.1');
    assert.equal(hostNameOf('[::1]:6790'), '::1');
    assert.equal(hostNameOf('LocalHost'), 'localhost');
  });

  it('accepts only Host headers that name this server', () => {
    const loopback = { address: '127.0.0.1' };
    assert.equal(hostProblem('127.0.0.1:1', loopback), undefined);
    assert.equal(hostProblem('localhost:1', loopback), undefined);
    assert.equal(hostProblem('[::1]:1', loopback), undefined);
    assert.match(hostProblem('evil.example:1', loopback)!, /does not name this server/);
    assert.match(hostProblem(undefined, loopback)!, /no Host header/);
    assert.equal(hostProblem('ops.example', { ...loopback, allowedHosts: ['OPS.example'] }), undefined);
    const wildcard = { address: '0.0.0.0' };
    assert.equal(hostProblem('10.1.2.3:80', wildcard), undefined, 'an IP literal cannot be rebound');
    assert.match(hostProblem('rebind.example', wildcard)!, /does not name this server/);
    assert.match(hostProblem('127.0.0.1', { address: '10.0.0.5' })!, /does not name this server/);
  });

  it('refuses cross-site requests', () => {
    const host = '127.0.0.1:6790';
    assert.equal(crossSiteProblem({ host }), undefined, 'no Origin: not a browser');
    assert.equal(crossSiteProblem({ host, origin: `http://${host}` }), undefined);
    assert.match(crossSiteProblem({ host, origin: 'http://evil.example' })!, /cross-site/);
    assert.match(crossSiteProblem({ host, origin: 'null' })!, /cross-site/);
    assert.match(crossSiteProblem({ host, 'sec-fetch-site': 'same-site' })!, /cross-site/);
    assert.equal(crossSiteProblem({ host, 'sec-fetch-site': 'same-origin' }), undefined);
    assert.ok(isJsonContentType('application/json; charset=utf-8'));
    assert.ok(!isJsonContentType('text/plain'));
    assert.ok(!isJsonContentType(undefined));
  });

  it('measures nesting depth without parsing, ignoring brackets in strings', () => {
    assert.ok(nestsDeeperThan('['.repeat(65), 64));
    assert.ok(!nestsDeeperThan('['.repeat(64) + ']'.repeat(64), 64));
    assert.ok(!nestsDeeperThan(JSON.stringify({ a: '[[[[[[{{{{{', b: '\\"[[[' }), 1));
    assert.ok(nestsDeeperThan('{"a":{"b":1}}', 1));
  });
});

describe('route table', () => {
  it('knows its own handlers only', () => {
    assert.ok(routeOf('kill_task')?.mutating);
    assert.equal(routeOf('jobs')?.mutating, false);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 5, null])
      assert.equal(routeOf(name), undefined, String(name));
  });

  it('validates arguments with messages that name them; unknown keys are ignored', () => {
    const bad = (query: unknown, message: RegExp) =>
      assert.throws(
        () => validateQuery(query),
        (error: unknown) => error instanceof ApiError && error.status === 400 && message.test(error.message),
      );
    bad(null, /must be an object/);
    bad({}, /needs a "handler"/);
    bad({ handler: 'nope' }, /unknown handler: "nope"/);
    bad({ handler: 'job_node_statuses', job: 'j', offset: 2 ** 32 + 5 }, /"offset" Too big/);
    bad({ handler: 'job_node_statuses', job: '' }, /"job" must be a non-empty string/);
    bad({ handler: 'task_logs', log_type: 'stdout', line_id: '1e5' }, /"line_id" must be a line id/);
    bad({ handler: 'kill_task', job_id: 'j' }, /"node_id"/);
    assert.deepEqual(validateQuery({ handler: 'task_logs', log_type: 'stdout', sort: 'ASC', extra: 1 }), {
      handler: 'task_logs',
      args: { log_type: 'stdout', sort: 'asc' },
    });
  });
});
