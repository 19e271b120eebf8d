import type { ConformanceReport, RequirementResult } from './report.js'

// XML 1.0 allows only these characters; anything else (control bytes from a target's body) is dropped.
const INVALID_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

/** Escape text for XML content and attribute values. */
export function xmlEscape(text: string): string {
  return text.replace(INVALID_XML, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3)

/** The evidence of a result as plain lines (for `<system-out>`). */
function evidenceText(r: RequirementResult): string {
  const lines = [`${r.id} [${r.level}] ${r.title}`, `spec: ${r.spec.doc} ${r.spec.version}, ${r.spec.section} (${r.spec.url})`]
  if (r.reason) lines.push(`reason: ${r.reason}`)
  for (const n of r.notes) lines.push(`note: ${n}`)
  for (const e of r.evidence) {
    const arrow = e.direction === 'inbound' ? '<=' : '=>'
    lines.push(`${arrow} ${e.request.method} ${e.request.url} -> ${e.response ? e.response.status : `error: ${e.error ?? 'no response'}`} (${e.durationMs} ms)`)
  }
  return lines.join('\n')
}

/**
 * JUnit XML: one `<testsuite>` per protocol, one `<testcase>` per requirement (classname
 * `conformance.<protocol>.<section>`, name `<id> <title>`). A failed requirement is a
 * `<failure type="MUST|SHOULD|MAY">`; a skipped one `<skipped message="reason">`; the level and
 * the spec clause are testcase properties; the evidence summary is `<system-out>`. Discovery's
 * capabilities (and its error, if any) are properties of the `<testsuite>`.
 */
export function toJUnit(report: ConformanceReport): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>']
  const s = report.summary
  out.push(
    `<testsuites name="agentswitch conformance" tests="${s.total}" failures="${s.failed}" errors="0" skipped="${s.skipped}" time="${seconds(report.durationMs)}" timestamp="${xmlEscape(report.startedAt)}">`,
  )
  for (const suite of report.suites) {
    const ss = suite.summary
    const time = suite.requirements.reduce((t, r) => t + r.durationMs, suite.discovery.durationMs)
    out.push(
      `  <testsuite name="${xmlEscape(`${suite.protocol}: ${suite.title} ${suite.specVersion}`)}" tests="${ss.total}" failures="${ss.failed}" errors="0" skipped="${ss.skipped}" time="${seconds(time)}" timestamp="${xmlEscape(report.startedAt)}">`,
    )
    out.push('    <properties>')
    out.push(`      <property name="target" value="${xmlEscape(report.target.baseUrl)}"/>`)
    out.push(`      <property name="specVersion" value="${xmlEscape(suite.specVersion)}"/>`)
    for (const c of suite.discovery.capabilities) {
      out.push(`      <property name="capability.${xmlEscape(c.id)}" value="${xmlEscape(c.available ? `available${c.source ? ` (${c.source})` : ''}` : `unavailable: ${c.reason ?? ''}`)}"/>`)
    }
    if (suite.discovery.error) out.push(`      <property name="discoveryError" value="${xmlEscape(suite.discovery.error)}"/>`)
    out.push('    </properties>')
    for (const r of suite.requirements) {
      out.push(`    <testcase classname="${xmlEscape(`conformance.${suite.protocol}.${r.section}`)}" name="${xmlEscape(`${r.id} ${r.title}`)}" time="${seconds(r.durationMs)}">`)
      out.push('      <properties>')
      out.push(`        <property name="id" value="${xmlEscape(r.id)}"/>`)
      out.push(`        <property name="level" value="${r.level}"/>`)
      out.push(`        <property name="spec" value="${xmlEscape(`${r.spec.doc} ${r.spec.version}, ${r.spec.section}`)}"/>`)
      out.push(`        <property name="specUrl" value="${xmlEscape(r.spec.url)}"/>`)
      out.push('      </properties>')
      if (r.status === 'fail') out.push(`      <failure type="${r.level}" message="${xmlEscape(r.reason ?? 'failed')}">${xmlEscape(r.reason ?? '')}</failure>`)
      else if (r.status === 'skip') out.push(`      <skipped message="${xmlEscape(r.reason ?? 'skipped')}"/>`)
      out.push(`      <system-out>${xmlEscape(evidenceText(r))}</system-out>`)
      out.push('    </testcase>')
    }
    out.push('  </testsuite>')
  }
  out.push('</testsuites>')
  return out.join('\n') + '\n'
}
