import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { chromium } from 'playwright-core'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from './framework/paths.js'
import type { ConformanceReport } from './framework/report.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Acceptance 1 and 3 of the conformance issue: `agentswitch conformance run --protocol all`
 * against a dev-mode gateway (what `npm start` runs, spawned as a child process) exits 0 and
 * writes three reports; the JSON validates against its schema, the XML parses as JUnit, and a
 * headless Chromium finds one row per requirement in the HTML.
 */
describe('conformance run --protocol all against a dev-mode gateway (npm start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentswitch-conformance-dev-'))
  const outDir = mkdtempSync(join(tmpdir(), 'agentswitch-conformance-out-'))
  let gateway: ChildProcess
  let baseUrl: string
  let run: { code: number | null; out: string }
  let report: ConformanceReport

  beforeAll(async () => {
    gateway = spawn(process.execPath, [fromRoot('bin', 'agentswitch.js'), 'dev'], {
      cwd: fromRoot(),
      env: { ...process.env, PORT: '0', AGENTSWITCH_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const dev = await until(
      'dev.json',
      () => (existsSync(join(dataDir, 'dev.json')) ? (JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { gateway: { url: string } }) : undefined),
      20_000,
    )
    baseUrl = dev.gateway.url
    await until(
      'GET /healthz',
      async () => {
        try {
          const r = await request(`${baseUrl}/healthz`)
          await r.body.text()
          return r.statusCode === 200 ? true : undefined
        } catch {
          return undefined
        }
      },
      20_000,
    )
    // Exactly the documented command; the keys come from dev.json, found through AGENTSWITCH_DATA_DIR.
    const cli = spawn(
      process.execPath,
      [fromRoot('bin', 'agentswitch.js'), 'conformance', 'run', '--protocol', 'all', '--base-url', baseUrl, '--json', 'r.json', '--junit', 'r.xml', '--html', 'r.html'],
      { cwd: outDir, env: { ...process.env, AGENTSWITCH_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    cli.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    cli.stderr!.on('data', (b: Buffer) => (out += b.toString()))
    const [code] = (await once(cli, 'exit')) as [number | null]
    run = { code, out }
    report = JSON.parse(readFileSync(join(outDir, 'r.json'), 'utf8')) as ConformanceReport
  }, 90_000)

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      gateway.kill('SIGTERM')
      await Promise.race([once(gateway, 'exit'), new Promise((r) => setTimeout(r, 5000))])
      if (gateway.exitCode === null) gateway.kill('SIGKILL')
    }
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(outDir, { recursive: true, force: true })
  })

  it('exits 0, prints a line per requirement and ends with "N passed, N failed, N skipped"', () => {
    expect(run.code, run.out).toBe(0)
    const lines = run.out.trimEnd().split('\n')
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed, \d+ skipped$/)
    const all = report.suites.flatMap((s) => s.requirements)
    for (const r of all) expect(run.out).toMatch(new RegExp(`^\\s+${r.status.toUpperCase()}\\s+${r.id}\\s+${r.level}\\s+\\d+ ms\\s`, 'm'))
    expect(run.out).toContain('dev.json: using')
    expect(run.out).not.toMatch(/no suite yet/)
    expect(lines.at(-1)).toBe(`${report.summary.passed} passed, ${report.summary.failed} failed, ${report.summary.skipped} skipped`)
  })

  it('r.json validates against schemas/conformance-report.schema.json and says which protocols have no suite', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true })
    addFormats(ajv)
    const validate = ajv.compile(JSON.parse(readFileSync(fromRoot('schemas', 'conformance-report.schema.json'), 'utf8')) as object)
    expect(validate(report), JSON.stringify(validate.errors, null, 2)).toBe(true)
    expect(report.protocolsWithoutSuite).toEqual([])
    expect(report.run.protocols).toEqual(['core', 'acp', 'ucp', 'ap2', 'x402', 'mpp'])
    const core = report.suites.find((s) => s.protocol === 'core')!
    // Dev mode: the demo merchant's webhooks go to /dev/webhook-sink; that check ran.
    expect(core.requirements.find((r) => r.id === 'CORE-HOOK-003')!.status).toBe('pass')
    for (const r of core.requirements.filter((x) => x.status === 'skip')) expect(r.reason).toMatch(/^needs /)
    const keys = JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as { apiKeys: Record<string, string> }
    const text = readFileSync(join(outDir, 'r.json'), 'utf8') + readFileSync(join(outDir, 'r.xml'), 'utf8') + readFileSync(join(outDir, 'r.html'), 'utf8')
    for (const k of Object.values(keys.apiKeys)) expect(text).not.toContain(k)
  })

  it('r.xml is well-formed JUnit: testsuites > testsuite > testcase, with failures and skips counted', () => {
    const xml = readFileSync(join(outDir, 'r.xml'), 'utf8')
    expect(XMLValidator.validate(xml)).toBe(true)
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name) }).parse(xml) as {
      testsuites: { tests: string; failures: string; skipped: string; testsuite: Array<{ name: string; tests: string; testcase: Array<{ name: string; classname: string; time: string; skipped?: { message: string }; failure?: unknown }> }> }
    }
    expect(Number(doc.testsuites.tests)).toBe(report.summary.total)
    expect(Number(doc.testsuites.failures)).toBe(0)
    expect(Number(doc.testsuites.skipped)).toBe(report.summary.skipped)
    const cases = doc.testsuites.testsuite.flatMap((s) => s.testcase)
    expect(cases).toHaveLength(report.summary.total)
    for (const { protocol, r } of report.suites.flatMap((s) => s.requirements.map((r) => ({ protocol: s.protocol, r })))) {
      const c = cases.find((x) => x.name.startsWith(`${r.id} `))!
      expect(c, r.id).toBeDefined()
      expect(c.classname).toBe(`conformance.${protocol}.${r.section}`)
      expect(Number(c.time)).toBeGreaterThanOrEqual(0)
      expect(c.skipped !== undefined).toBe(r.status === 'skip')
      expect(c.failure).toBeUndefined()
    }
  })

  it('r.html, opened in headless Chromium, has one row per requirement showing its status', async (ctx) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env['CI']) throw new Error(`${CHROMIUM} is missing; .ci/run installs it (apt-get install -y chromium)`)
      ctx.skip(`${CHROMIUM} is not installed (apt-get install -y chromium); CI installs it and runs this test`)
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    try {
      const page = await browser.newPage()
      // The page must not fetch anything: it is self-contained.
      const fetched: string[] = []
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) fetched.push(r.url())
      })
      await page.goto(pathToFileURL(join(outDir, 'r.html')).href)
      const rows = await page.locator('tr.req').evaluateAll((trs) =>
        trs.map((tr) => ({
          id: tr.getAttribute('data-req-id'),
          status: tr.getAttribute('data-status'),
          level: tr.getAttribute('data-level'),
          shown: tr.querySelector('td.status')?.textContent?.trim(),
          // Runs in the page, where getComputedStyle exists (this project compiles without the DOM lib).
          colour: (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(tr.querySelector('td.status .badge')).backgroundColor,
        })),
      )
      const all = report.suites.flatMap((s) => s.requirements)
      // One row per requirement (the page groups them by protocol and section).
      expect(rows.map((r) => r.id).sort()).toEqual(all.map((r) => r.id).sort())
      for (const r of all) {
        const row = rows.find((x) => x.id === r.id)!
        expect(row, r.id).toMatchObject({ status: r.status, level: r.level, shown: r.status.toUpperCase() })
        expect(row.colour, `${r.id} badge colour`).not.toBe('rgba(0, 0, 0, 0)')
      }
      const colours = new Map(rows.map((r) => [r.status, r.colour]))
      if (colours.has('pass') && colours.has('skip')) expect(colours.get('pass')).not.toBe(colours.get('skip'))
      // The evidence of a requirement opens and shows the redacted Authorization header.
      const idem = page.locator('tr.req[data-req-id="CORE-IDEM-002"]')
      await idem.locator('details.evidence > summary').click()
      await idem.locator('details.exchange > summary').first().click()
      await expect.poll(() => idem.locator('pre.http-request').first().innerText()).toMatch(/authorization: Bearer \[REDACTED:[0-9a-f]{8}\]/)
      expect(await page.locator('table.matrix tr.matrix-row[data-protocol="mpp"]').innerText()).not.toMatch(/no suite yet/)
      expect(fetched).toEqual([])
    } finally {
      await browser.close()
    }
  }, 60_000)
})
