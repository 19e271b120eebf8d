import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { describe, expect, it } from 'vitest'
import { toHtml } from './html.js'
import { toJUnit, xmlEscape } from './junit.js'
import { fromRoot } from './paths.js'
import { REPORT_SCHEMA_ID, summarize, summaryLine, type ConformanceReport, type RequirementResult } from './report.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

const NASTY = 'a <script>alert("x")</script> & \u0001control\u0007 \'quote\' ]]> \uD83D\uDE00'

function result(id: string, status: RequirementResult['status'], level: RequirementResult['level'], reason?: string): RequirementResult {
  return {
    id,
    level,
    title: `title of ${id} ${NASTY}`,
    section: id.split('-')[1]!,
    sectionTitle: `Section ${id.split('-')[1]}`,
    spec: { doc: 'Doc', version: '1', section: '§1', url: 'https://example.test/#1' },
    requires: [],
    status,
    durationMs: 12,
    ...(reason === undefined ? {} : { reason }),
    notes: [`note ${NASTY}`],
    evidence: [
      {
        direction: 'outbound',
        startedAt: '2026-01-01T00:00:00.000Z',
        durationMs: 3,
        request: { method: 'POST', url: 'http://t.test/v1/x', headers: { authorization: 'Bearer [REDACTED:0123abcd]' }, body: `{"q":"${NASTY.replace(/"/g, '\\"').replaceAll('\u0001', '').replaceAll('\u0007', '')}"}`, bodyBytes: 40 },
        response: { status: 500, headers: { 'content-type': 'text/plain' }, body: NASTY, bodyBytes: 30, bodyTruncated: true },
      },
      { direction: 'inbound', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 0, request: { method: 'POST', url: 'http://127.0.0.1:1/hooks', headers: {}, bodyBytes: 0 }, response: { status: 200, headers: {}, bodyBytes: 0 } },
      { direction: 'outbound', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 5, request: { method: 'GET', url: 'http://t.test/', headers: {}, bodyBytes: 0 }, error: 'ECONNRESET: socket hang up' },
    ],
  }
}

function sampleReport(): ConformanceReport {
  const requirements = [result('TOY-A-001', 'pass', 'MUST'), result('TOY-A-002', 'fail', 'MUST', `broken ${NASTY}`), result('TOY-B-001', 'fail', 'SHOULD', 'meh'), result('TOY-B-002', 'skip', 'MAY', 'needs x: no')]
  const summary = summarize(requirements)
  return {
    $schema: REPORT_SCHEMA_ID,
    reportVersion: 1,
    tool: { name: 'agentswitch conformance', version: 'test' },
    target: { baseUrl: 'http://t.test' },
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    durationMs: 1000,
    run: { protocols: ['acp', 'ucp'], only: ['TOY-*'], seed: 's' },
    protocolsWithoutSuite: ['ucp'],
    summary,
    suites: [
      {
        protocol: 'acp',
        title: `Toy ${NASTY}`,
        idPrefix: 'TOY',
        specVersion: '1',
        specVersions: ['1'],
        discovery: {
          durationMs: 4,
          capabilities: [
            { id: 'x', description: 'x', mandatory: false, available: false, reason: 'no' },
            { id: 'y', description: 'y', mandatory: true, available: true, source: 'profile' },
          ],
          notes: [],
          evidence: [],
        },
        summary,
        requirements,
      },
    ],
  }
}

describe('reports', () => {
  it('the summary line is exactly "N passed, N failed, N skipped"', () => {
    expect(summaryLine(sampleReport().summary)).toBe('1 passed, 2 failed, 1 skipped')
    expect(sampleReport().summary.mustFailed).toBe(1)
  })

  it('a report with every kind of result and exchange validates against the published schema (strict)', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true })
    addFormats(ajv)
    const validate = ajv.compile(JSON.parse(readFileSync(fromRoot('schemas', 'conformance-report.schema.json'), 'utf8')) as object)
    const report = sampleReport()
    expect(validate(report), JSON.stringify(validate.errors)).toBe(true)
    const noReason = structuredClone(report)
    delete noReason.suites[0]!.requirements[1]!.reason
    expect(validate(noReason)).toBe(false)
    const extra = structuredClone(report) as unknown as { suites: Array<{ requirements: Array<{ evidence: Array<{ request: Record<string, unknown> }> }> }> }
    extra.suites[0]!.requirements[0]!.evidence[0]!.request['password'] = 'x'
    expect(validate(extra)).toBe(false)
  })

  it('JUnit: well-formed even with markup and control characters, failures typed by level, skips with reasons', () => {
    const xml = toJUnit(sampleReport())
    expect(XMLValidator.validate(xml)).toBe(true)
    expect(xml.includes('\u0001') || xml.includes('\u0007')).toBe(false)
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['testsuite', 'testcase', 'property'].includes(n) }).parse(xml) as {
      testsuites: { tests: string; failures: string; skipped: string; testsuite: Array<{ testcase: Array<{ name: string; failure?: { type: string; message: string }; skipped?: { message: string } }> }> }
    }
    expect(doc.testsuites).toMatchObject({ tests: '4', failures: '2', skipped: '1' })
    const cases = doc.testsuites.testsuite[0]!.testcase
    expect(cases.map((c) => c.name.split(' ')[0])).toEqual(['TOY-A-001', 'TOY-A-002', 'TOY-B-001', 'TOY-B-002'])
    expect(cases[1]!.failure).toMatchObject({ type: 'MUST' })
    expect(cases[1]!.failure!.message).toContain('<script>')
    expect(cases[2]!.failure).toMatchObject({ type: 'SHOULD', message: 'meh' })
    expect(cases[3]!.skipped).toMatchObject({ message: 'needs x: no' })
    expect(xmlEscape('a&b<c>"d\'')).toBe('a&amp;b&lt;c&gt;&quot;d&apos;')
  })

  it('HTML: self-contained, escapes everything a target sent, one row per requirement with a stable id and status', () => {
    const html = toHtml(sampleReport())
    expect(html).not.toContain('<script>')
    expect(html).toContain('&lt;script&gt;')
    expect(html).not.toMatch(/<link\b|<img\b|src=|@import|url\(/)
    const rows = [...html.matchAll(/<tr class="req status-(\w+) level-(\w+)" id="[^"]+" data-req-id="([^"]+)" data-status="(\w+)" data-level="(\w+)"/g)].map((m) => [m[3], m[4], m[1]])
    expect(rows).toEqual([
      ['TOY-A-001', 'pass', 'pass'],
      ['TOY-A-002', 'fail', 'fail'],
      ['TOY-B-001', 'fail', 'warn'],
      ['TOY-B-002', 'skip', 'skip'],
    ])
    expect(html).toMatch(/<tr class="matrix-row no-suite" data-protocol="ucp">/)
    expect(html).toContain('<details class="evidence">')
    expect(html).toContain('ECONNRESET: socket hang up')
  })
})
