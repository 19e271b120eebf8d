import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertEqual, expectStatus, fail } from './assert.js'
import { createCounterparts } from './counterparts/counterparts.js'
import { bearerCredentials } from './credentials.js'
import { defineSuite, SuiteDefinitionError } from './defineSuite.js'
import { matchesOnly, runConformance, RunConfigError } from './runner.js'
import type { Requirement, SpecRef, Suite } from './types.js'

const spec: SpecRef = { doc: 'Toy spec', version: '2', section: '§1', url: 'https://example.test/spec#1' }
const SECRET_KEY = 'ask_toy_secret_key_000000000000'

/** A toy suite exercising every outcome the runner knows. */
function toySuite(discover: Suite<{ hello: string }>['discover']): Suite<{ hello: string }> {
  const req = (id: string, r: Partial<Requirement<{ hello: string }>>): Requirement<{ hello: string }> => ({
    id,
    level: 'MUST',
    section: id.split('-')[1]!,
    title: `requirement ${id}`,
    spec,
    check: async () => {},
    ...r,
  })
  return defineSuite<{ hello: string }>({
    protocol: 'acp',
    title: 'Toy',
    idPrefix: 'TOY',
    specVersions: ['2', '1'],
    sections: { A: { title: 'Section A' }, B: { title: 'Section B' } },
    capabilities: {
      present: { description: 'advertised' },
      optional: { description: 'not advertised, optional' },
      required: { description: 'not advertised, mandatory', mandatory: true },
      'runner.rpc': { description: '--rpc-url given' },
    },
    options: { greeting: { description: 'a greeting', default: 'hi' }, token: { description: 'a secret', secret: true } },
    discover,
    requirements: [
      req('TOY-A-001', {
        requires: ['present'],
        check: async (ctx) => {
          const r = await ctx.http.get('/echo', { as: 'agent', query: { token: ctx.options.get('token')! } })
          expectStatus(r, 200)
          assertEqual(ctx.discovery.hello, 'world', 'discovery data')
          assertEqual(ctx.options.get('greeting'), 'hi', 'default option')
        },
      }),
      req('TOY-A-002', { requires: ['optional'] }),
      req('TOY-A-003', { requires: ['required'] }),
      req('TOY-A-004', { versions: ['1'] }),
      req('TOY-A-005', { check: async () => fail('the widget is blue, expected green') }),
      req('TOY-A-006', {
        level: 'SHOULD',
        check: async () => {
          throw new TypeError('boom')
        },
      }),
      req('TOY-B-001', { check: async (ctx) => ctx.skip('the target has no widgets') }),
      req('TOY-B-002', { check: () => new Promise(() => {}) }),
      req('TOY-B-003', {
        check: async (ctx) => {
          const n = await ctx.once('fixture', async () => (await ctx.http.get('/echo')).status)
          assertEqual(n, 200, 'fixture')
        },
      }),
      req('TOY-B-004', {
        check: async (ctx) => {
          assertEqual(await ctx.once('fixture', async () => 0), 200, 'fixture made by TOY-B-003')
        },
      }),
      req('TOY-B-005', { requires: ['runner.rpc'] }),
    ],
  })
}

describe('runConformance', () => {
  let server: Server
  let url: string
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, auth: req.headers.authorization }))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  const discoverOk: Suite<{ hello: string }>['discover'] = async (ctx) => {
    await ctx.http.get('/discovery')
    return {
      data: { hello: 'world' },
      specVersion: '2',
      capabilities: {
        present: { available: true, source: 'the profile' },
        optional: { available: false, reason: 'the profile does not list it' },
        required: { available: false, reason: 'the profile does not list it' },
      },
    }
  }

  it('gates by capability and version, reports every outcome with its reason, and keeps redacted evidence', async () => {
    const events: string[] = []
    const { credentials, secrets } = bearerCredentials({ agent: SECRET_KEY })
    const report = await runConformance({
      baseUrl: `${url}/`,
      suites: [toySuite(discoverOk)],
      credentials,
      secrets,
      options: { acp: { token: 'tok_very_secret_value' } },
      checkTimeoutMs: 300,
      onEvent: (e) => events.push(e.type),
    })
    const by = Object.fromEntries(report.suites[0]!.requirements.map((r) => [r.id, r]))
    expect(by['TOY-A-001']).toMatchObject({ status: 'pass' })
    expect(by['TOY-A-002']).toMatchObject({ status: 'skip', reason: 'needs optional: the profile does not list it' })
    expect(by['TOY-A-003']).toMatchObject({ status: 'fail', reason: 'the target lacks required, which the spec makes mandatory: the profile does not list it' })
    expect(by['TOY-A-004']).toMatchObject({ status: 'skip', reason: 'applies to spec versions 1; checking 2' })
    expect(by['TOY-A-005']).toMatchObject({ status: 'fail', reason: 'the widget is blue, expected green' })
    expect(by['TOY-A-006']).toMatchObject({ status: 'fail', level: 'SHOULD', reason: 'TypeError: boom' })
    expect(by['TOY-B-001']).toMatchObject({ status: 'skip', reason: 'the target has no widgets' })
    expect(by['TOY-B-002']).toMatchObject({ status: 'fail', reason: 'did not finish within 300 ms' })
    expect(by['TOY-B-003']).toMatchObject({ status: 'pass' })
    expect(by['TOY-B-003']!.evidence).toHaveLength(1)
    expect(by['TOY-B-004']).toMatchObject({ status: 'pass', evidence: [] })
    expect(by['TOY-B-004']!.notes[0]).toContain('made while checking TOY-B-003')
    expect(by['TOY-B-005']).toMatchObject({ status: 'skip', reason: 'needs runner.rpc: no --rpc-url was given' })
    expect(report.summary).toEqual({ total: 11, passed: 3, failed: 4, skipped: 4, mustFailed: 3 })
    expect(by['TOY-A-001']!.sectionTitle).toBe('Section A')
    // Evidence: the exchange, with the API key and the secret option redacted everywhere.
    const ex = by['TOY-A-001']!.evidence[0]!
    expect(ex.request.method).toBe('GET')
    expect(ex.request.headers['authorization']).toMatch(/^Bearer \[REDACTED:[0-9a-f]{8}\]$/)
    expect(ex.response!.status).toBe(200)
    const text = JSON.stringify(report)
    expect(text).not.toContain(SECRET_KEY)
    expect(text).not.toContain('tok_very_secret_value')
    expect(report.suites[0]!.discovery.evidence[0]!.request.url).toBe(`${url}/discovery`)
    expect(report.target.baseUrl).toBe(url)
    expect(events.filter((e) => e === 'result')).toHaveLength(11)
  })

  it('fails every selected requirement when discovery fails, with its error', async () => {
    const report = await runConformance({
      baseUrl: 'http://127.0.0.1:9',
      suites: [
        toySuite(async (ctx) => {
          await ctx.http.get('/')
          return { data: { hello: '' }, capabilities: {} }
        }),
      ],
      only: ['TOY-A-00*'],
    })
    const s = report.suites[0]!
    expect(s.discovery.error).toMatch(/ECONNREFUSED/)
    expect(s.requirements.map((r) => r.id)).toEqual(['TOY-A-001', 'TOY-A-002', 'TOY-A-003', 'TOY-A-004', 'TOY-A-005', 'TOY-A-006'])
    for (const r of s.requirements) expect(r.reason).toMatch(/^discovery failed: GET \/: ECONNREFUSED/)
    expect(report.run.only).toEqual(['TOY-A-00*'])
  })

  it('refuses unknown --only ids, spec versions and options before running anything', async () => {
    const suite = toySuite(discoverOk)
    await expect(runConformance({ baseUrl: url, suites: [suite], only: ['TOY-Z-001'] })).rejects.toThrow(RunConfigError)
    await expect(runConformance({ baseUrl: url, suites: [suite], specVersions: { acp: '3' } })).rejects.toThrow('checks spec versions 2, 1, not 3')
    await expect(runConformance({ baseUrl: url, suites: [suite], options: { acp: { nope: '1' } } })).rejects.toThrow('no option nope')
    expect(matchesOnly('CORE-IDEM-002', ['CORE-IDEM-*'])).toBe(true)
    expect(matchesOnly('CORE-IDEM-002', ['CORE-IDEM-00'])).toBe(false)
  })

  it('uses counterparts it is given without closing them', async () => {
    const counterparts = createCounterparts({ seed: 'toy' })
    const rx = await counterparts.webhookReceiver()
    await runConformance({ baseUrl: url, suites: [toySuite(discoverOk)], counterparts, only: ['TOY-A-002'] })
    const res = await fetch(rx.urlFor('/still-up'), { method: 'POST', body: '{}' })
    expect(res.status).toBe(200)
    await counterparts.close()
  })
})

describe('defineSuite', () => {
  it('rejects a malformed registry, listing every problem', () => {
    const bad = (): unknown =>
      defineSuite({
        protocol: 'acp',
        title: 'Bad',
        idPrefix: 'BAD',
        specVersions: ['1'],
        sections: { A: { title: 'A' } },
        capabilities: {},
        discover: async () => ({ data: undefined, capabilities: {} }),
        requirements: [
          { id: 'BAD-A-001', level: 'MUST', section: 'A', title: 'ok', spec, check: async () => {} },
          { id: 'BAD-A-001', level: 'MUST', section: 'A', title: 'dup', spec, check: async () => {} },
          { id: 'OTHER-A-002', level: 'MUST', section: 'A', title: 'prefix', spec, check: async () => {} },
          { id: 'BAD-B-003', level: 'MUST', section: 'B', title: 'section', spec, check: async () => {} },
          { id: 'BAD-A-004', level: 'MUST', section: 'A', title: 'cap', spec, requires: ['nope'], check: async () => {} },
          { id: 'BAD-A-005', level: 'MUST', section: 'A', title: 'version', spec, versions: ['9'], check: async () => {} },
        ],
      })
    expect(bad).toThrow(SuiteDefinitionError)
    try {
      bad()
    } catch (e) {
      expect((e as SuiteDefinitionError).problems).toEqual([
        'BAD-A-001: duplicate id',
        'OTHER-A-002: id must start with BAD-',
        'BAD-B-003: section B is not declared',
        'BAD-A-004: capability nope is not declared',
        'BAD-A-005: version 9 is not one of the suite\'s',
      ])
    }
  })
})
