import type { Exchange } from './http.js'
import type { ConformanceReport, RequirementResult, SuiteResult } from './report.js'
import { PROTOCOLS } from './types.js'

/** Escape text for HTML content and attribute values. */
export function htmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

const h = htmlEscape

/** The colour class of a set of results: a failed MUST is red, any other failure amber, a pass green, only skips grey. */
function aggregate(results: readonly RequirementResult[]): 'fail' | 'warn' | 'pass' | 'skip' {
  if (results.some((r) => r.status === 'fail' && r.level === 'MUST')) return 'fail'
  if (results.some((r) => r.status === 'fail')) return 'warn'
  if (results.some((r) => r.status === 'pass')) return 'pass'
  return 'skip'
}

/** The class of one result: a failed SHOULD/MAY is `warn`, not `fail`. */
const statusClass = (r: RequirementResult): string => (r.status === 'fail' && r.level !== 'MUST' ? 'warn' : r.status)

const anchor = (...parts: string[]): string => parts.join('-').replace(/[^A-Za-z0-9_-]/g, '_')

function pretty(body: string | undefined): string {
  if (body === undefined) return ''
  try {
    return JSON.stringify(JSON.parse(body), null, 2)
  } catch {
    return body
  }
}

function messageText(m: { headers: Record<string, string>; body?: string | undefined; bodyBytes: number; bodyTruncated?: boolean | undefined }, first: string): string {
  const lines = [first, ...Object.entries(m.headers).map(([k, v]) => `${k}: ${v}`)]
  if (m.body !== undefined) lines.push('', pretty(m.body) + (m.bodyTruncated ? `\n… (cut; ${m.bodyBytes} bytes in all)` : ''))
  return lines.join('\n')
}

function exchangeHtml(e: Exchange): string {
  const arrow = e.direction === 'inbound' ? '⇐ to the runner:' : '⇒'
  const outcome = e.response ? String(e.response.status) : `error: ${e.error ?? 'no response'}`
  const path = (() => {
    try {
      const u = new URL(e.request.url)
      return `${u.pathname}${u.search}`
    } catch {
      return e.request.url
    }
  })()
  return [
    `<details class="exchange ${e.direction}"><summary>${h(arrow)} ${h(e.request.method)} ${h(path)} → ${h(outcome)} <span class="ms">(${e.durationMs} ms)</span></summary>`,
    `<pre class="http-request">${h(messageText(e.request, `${e.request.method} ${e.request.url}`))}</pre>`,
    e.response ? `<pre class="http-response">${h(messageText(e.response, `HTTP ${e.response.status}`))}</pre>` : `<pre class="http-error">${h(e.error ?? '')}</pre>`,
    '</details>',
  ].join('')
}

function requirementRow(suite: SuiteResult, r: RequirementResult): string {
  const evidence = r.evidence.length + r.notes.length > 0
  return [
    `<tr class="req status-${statusClass(r)} level-${r.level.toLowerCase()}" id="${anchor('req', r.id)}" data-req-id="${h(r.id)}" data-status="${r.status}" data-level="${r.level}" data-protocol="${suite.protocol}" data-section="${h(r.section)}">`,
    `<td class="id"><code>${h(r.id)}</code></td>`,
    `<td class="level">${r.level}</td>`,
    `<td class="status"><span class="badge">${r.status.toUpperCase()}</span></td>`,
    `<td class="title">${h(r.title)}<div class="spec"><a href="${h(r.spec.url)}">${h(`${r.spec.doc} ${r.spec.version}: ${r.spec.section}`)}</a>${r.requires.length ? ` · needs ${r.requires.map((c) => `<code>${h(c)}</code>`).join(', ')}` : ''}</div></td>`,
    `<td class="ms">${r.durationMs}</td>`,
    `<td class="detail">${r.reason ? `<div class="reason">${h(r.reason)}</div>` : ''}`,
    evidence
      ? `<details class="evidence"><summary>Evidence: ${r.evidence.length} exchange${r.evidence.length === 1 ? '' : 's'}${r.notes.length ? `, ${r.notes.length} note${r.notes.length === 1 ? '' : 's'}` : ''}</summary>${r.notes.map((n) => `<p class="note">${h(n)}</p>`).join('')}${r.evidence.map(exchangeHtml).join('')}</details>`
      : '',
    '</td></tr>',
  ].join('')
}

function sectionsOf(suite: SuiteResult): Array<{ key: string; title: string; results: RequirementResult[] }> {
  const out: Array<{ key: string; title: string; results: RequirementResult[] }> = []
  for (const r of suite.requirements) {
    let s = out.find((x) => x.key === r.section)
    if (!s) out.push((s = { key: r.section, title: r.sectionTitle, results: [] }))
    s.results.push(r)
  }
  return out
}

function counts(results: readonly RequirementResult[]): string {
  const pass = results.filter((r) => r.status === 'pass').length
  const fail = results.filter((r) => r.status === 'fail').length
  const skip = results.filter((r) => r.status === 'skip').length
  return [pass ? `${pass} passed` : '', fail ? `${fail} failed` : '', skip ? `${skip} skipped` : ''].filter(Boolean).join(', ')
}

function suiteHtml(suite: SuiteResult): string {
  const d = suite.discovery
  const parts = [
    `<section class="suite" id="${anchor('suite', suite.protocol)}" data-protocol="${suite.protocol}">`,
    `<h2>${h(suite.protocol)}: ${h(suite.title)} <span class="version">spec ${h(suite.specVersion)}</span></h2>`,
    `<p class="suite-summary">${h(counts(suite.requirements))}</p>`,
    `<details class="discovery"${d.error ? ' open' : ''}><summary>Discovery (${d.durationMs} ms)${d.error ? ` — <strong class="reason">failed: ${h(d.error)}</strong>` : ''}</summary>`,
    '<table class="capabilities"><thead><tr><th>capability</th><th>available</th><th>why / from</th><th>meaning</th></tr></thead><tbody>',
    ...d.capabilities.map(
      (c) =>
        `<tr class="capability ${c.available ? 'status-pass' : c.mandatory ? 'status-fail' : 'status-skip'}" data-capability="${h(c.id)}"><td><code>${h(c.id)}</code>${c.mandatory ? ' <em>mandatory</em>' : ''}</td><td>${c.available ? 'yes' : 'no'}</td><td>${h((c.available ? c.source : c.reason) ?? '')}</td><td>${h(c.description)}</td></tr>`,
    ),
    '</tbody></table>',
    ...d.notes.map((n) => `<p class="note">${h(n)}</p>`),
    ...d.evidence.map(exchangeHtml),
    '</details>',
  ]
  for (const sec of sectionsOf(suite)) {
    parts.push(
      `<h3 id="${anchor('sec', suite.protocol, sec.key)}" class="section status-${aggregate(sec.results)}">${h(sec.title)} <small>(${h(sec.key)}; ${h(counts(sec.results))})</small></h3>`,
      '<table class="requirements"><thead><tr><th>id</th><th>level</th><th>status</th><th>requirement</th><th>ms</th><th>reason and evidence</th></tr></thead><tbody>',
      ...sec.results.map((r) => requirementRow(suite, r)),
      '</tbody></table>',
    )
  }
  parts.push('</section>')
  return parts.join('\n')
}

function matrixHtml(report: ConformanceReport): string {
  const rows: string[] = []
  for (const p of PROTOCOLS) {
    const suite = report.suites.find((s) => s.protocol === p)
    if (suite) {
      const cells = sectionsOf(suite).map(
        (sec) =>
          `<a class="cell status-${aggregate(sec.results)}" href="#${anchor('sec', p, sec.key)}" title="${h(counts(sec.results))}">${h(sec.title)} <span>${sec.results.filter((r) => r.status === 'pass').length}/${sec.results.length}</span></a>`,
      )
      rows.push(
        `<tr class="matrix-row status-${aggregate(suite.requirements)}" data-protocol="${p}"><th><a href="#${anchor('suite', p)}">${p}</a></th><td>${h(suite.specVersion)}</td><td class="cells">${cells.join(' ')}</td><td>${h(counts(suite.requirements))}</td></tr>`,
      )
    } else if (report.protocolsWithoutSuite.includes(p)) {
      rows.push(`<tr class="matrix-row no-suite" data-protocol="${p}"><th>${p}</th><td>—</td><td class="cells"><em>no suite yet: nothing was run</em></td><td></td></tr>`)
    }
  }
  return `<table class="matrix"><thead><tr><th>protocol</th><th>spec</th><th>sections (passed / requirements)</th><th>results</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

const CSS = `
:root{--pass:#1a7f37;--fail:#cf222e;--warn:#bc4c00;--skip:#6e7781;--bg-pass:#dafbe1;--bg-fail:#ffebe9;--bg-warn:#fff1e5;--bg-skip:#f6f8fa}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1400px;padding:1rem 1.5rem;color:#1f2328}
h1{margin:.2rem 0}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}.version{font-size:.8em;color:#59636e;font-weight:normal}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}thead th{background:#f6f8fa}
.summary span{display:inline-block;padding:.15rem .6rem;border-radius:1rem;margin-right:.4rem;font-weight:600}
.summary .passed{background:var(--bg-pass);color:var(--pass)}.summary .failed{background:var(--bg-fail);color:var(--fail)}.summary .skipped{background:var(--bg-skip);color:var(--skip)}
.cell{display:inline-block;padding:.15rem .5rem;margin:.1rem;border-radius:.3rem;text-decoration:none;border:1px solid}
.cell span{opacity:.8;font-size:.85em}
tr.status-pass .badge,.cell.status-pass{background:var(--bg-pass);color:var(--pass);border-color:var(--pass)}
tr.status-fail .badge,.cell.status-fail{background:var(--bg-fail);color:var(--fail);border-color:var(--fail)}
tr.status-warn .badge,.cell.status-warn{background:var(--bg-warn);color:var(--warn);border-color:var(--warn)}
tr.status-skip .badge,.cell.status-skip{background:var(--bg-skip);color:var(--skip);border-color:var(--skip)}
tr.req.status-pass{border-left:4px solid var(--pass)}tr.req.status-fail{border-left:4px solid var(--fail);background:var(--bg-fail)}tr.req.status-warn{border-left:4px solid var(--warn);background:var(--bg-warn)}tr.req.status-skip{border-left:4px solid var(--skip);color:#59636e}
td.status .badge{display:inline-block;padding:.05rem .45rem;border-radius:.3rem;font-weight:700;font-size:.8em;border:1px solid}
h3.section.status-fail{color:var(--fail)}h3.section.status-warn{color:var(--warn)}h3.section.status-pass{color:var(--pass)}h3.section.status-skip{color:var(--skip)}
tr.capability.status-pass td:nth-child(2){color:var(--pass)}tr.capability.status-fail td:nth-child(2){color:var(--fail)}tr.capability.status-skip td:nth-child(2){color:var(--skip)}
tr.no-suite{color:var(--skip)}
td.id{white-space:nowrap}td.ms{text-align:right;white-space:nowrap}.spec{font-size:.85em;color:#59636e}.reason{font-weight:600}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:30rem;white-space:pre-wrap;word-break:break-all;font-size:12px}
details.exchange{margin:.3rem 0 .3rem 1rem}details.exchange.inbound>summary{color:#8250df}.note{margin:.3rem 0;font-style:italic}
`

/**
 * A self-contained HTML report (inline CSS, no scripts, no external assets): a matrix of
 * protocols × sections coloured by status, then per suite its discovery and one table row per
 * requirement (`tr.req[data-req-id][data-status]`) with the evidence in `<details>`.
 */
export function toHtml(report: ConformanceReport): string {
  const s = report.summary
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conformance report: ${h(report.target.baseUrl)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>Conformance report</h1>
<p>Target <code>${h(report.target.baseUrl)}</code> · ${h(report.startedAt)} · ${report.durationMs} ms · ${h(report.tool.name)} ${h(report.tool.version)} · seed <code>${h(report.run.seed)}</code>${report.run.only ? ` · only ${h(report.run.only.join(', '))}` : ''}</p>
<p class="summary" data-passed="${s.passed}" data-failed="${s.failed}" data-skipped="${s.skipped}"><span class="passed">${s.passed} passed</span><span class="failed">${s.failed} failed</span><span class="skipped">${s.skipped} skipped</span>${s.mustFailed ? ` <strong class="reason">${s.mustFailed} MUST requirement${s.mustFailed === 1 ? '' : 's'} failed</strong>` : ''}</p>
</header>
<main>
<h2>Matrix</h2>
${matrixHtml(report)}
${report.suites.map(suiteHtml).join('\n')}
</main>
</body>
</html>
`
}
