import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_SEED } from './framework/counterparts/counterparts.js'
import { AuthArgumentError, bearerCredentials, createCredentials, credentialsFromArguments, parseAuthArgument } from './framework/credentials.js'
import { findDevJson } from './framework/devJson.js'
import { toHtml } from './framework/html.js'
import { toJUnit } from './framework/junit.js'
import { fromRoot } from './framework/paths.js'
import { summaryLine, type RequirementResult } from './framework/report.js'
import { runConformance, RunConfigError, validateRunOptions, type RunEvent } from './framework/runner.js'
import { PROTOCOLS, type ProtocolId } from './framework/types.js'
import { loadSuites, protocolsWithSuites } from './suites.js'

/** Where the CLI writes and what it reads from its environment (the entry point passes the real ones). */
export interface CliIo {
  out(line: string): void
  err(line: string): void
  env: Readonly<Record<string, string | undefined>>
  cwd: string
}

export const CONFORMANCE_USAGE = `Usage:
  agentswitch conformance run --base-url URL [--protocol P] [options]
  agentswitch conformance list [--protocol P] [--json]

  --protocol P        core | acp | ucp | ap2 | x402 | mpp | all (default all: every suite that exists)
  --base-url URL      the server under test
  --auth HEADER       credentials, repeatable: "Authorization: Bearer KEY" (every role), a bare KEY,
                      or per role: agent=…, admin=…, merchant=…
  --dev-json FILE     an agentswitch dev-mode dev.json (URLs, demo keys); found by itself in
                      $AGENTSWITCH_DATA_DIR or ./data when its gateway.url is --base-url
  --spec-version V    spec version to check (or P=V, repeatable; default: what the target advertises)
  --only IDS          only these requirement ids, comma-separated (CORE-IDEM-* selects a prefix)
  --set P.NAME=VALUE  a suite option (see conformance list), repeatable
  --rpc-url URL       EVM JSON-RPC for the chain helpers (settlement checks)
  --webhook-port N    port of the runner's webhook receiver (default: any free port)
  --seed S            seed of wallets and signing keys (default ${DEFAULT_SEED})
  --timeout-ms N      time budget of one requirement (default 30000)
  --json F, --junit F, --html F   write the reports
  --verbose           print every exchange and note

  Exit status: 0 when no MUST requirement failed, 1 when one did, 2 on a usage error.
`

function toolVersion(): string {
  try {
    return (JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

class UsageError extends Error {
  override readonly name = 'UsageError'
}

function parseProtocol(value: string | undefined): ProtocolId[] {
  if (value === undefined || value === 'all') return [...PROTOCOLS]
  const list = value.split(',').map((p) => p.trim())
  for (const p of list) if (!(PROTOCOLS as readonly string[]).includes(p)) throw new UsageError(`--protocol ${p}: expected one of ${PROTOCOLS.join(', ')}, or all`)
  return list as ProtocolId[]
}

/** `agentswitch conformance …`; returns the exit status. */
export async function conformanceCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv
  try {
    switch (sub) {
      case 'run':
        return await run(rest, io)
      case 'list':
        return await list(rest, io)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(CONFORMANCE_USAGE)
        return sub === undefined ? 2 : 0
      default:
        throw new UsageError(`unknown subcommand conformance ${sub}`)
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof RunConfigError || err instanceof AuthArgumentError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.err(`${(err as Error).message}\n\n${CONFORMANCE_USAGE}`)
      return 2
    }
    throw err
  }
}

async function run(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      protocol: { type: 'string', short: 'p' },
      'base-url': { type: 'string' },
      'spec-version': { type: 'string', multiple: true },
      only: { type: 'string', multiple: true },
      json: { type: 'string' },
      junit: { type: 'string' },
      html: { type: 'string' },
      'rpc-url': { type: 'string' },
      auth: { type: 'string', multiple: true },
      'dev-json': { type: 'string' },
      set: { type: 'string', multiple: true },
      seed: { type: 'string' },
      'webhook-port': { type: 'string' },
      'timeout-ms': { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    },
  })
  const baseUrl = values['base-url']
  if (!baseUrl) throw new UsageError('conformance run needs --base-url URL')
  try {
    const u = new URL(baseUrl)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)')
  } catch {
    throw new UsageError(`--base-url ${baseUrl} is not an http(s) URL`)
  }
  const protocols = parseProtocol(values.protocol)
  const { suites, missing } = await loadSuites(protocols)
  if (suites.length === 0) throw new UsageError(`no conformance suite exists yet for ${missing.join(', ')} (suites: ${protocolsWithSuites().join(', ')})`)

  const specVersions: Partial<Record<ProtocolId, string>> = {}
  for (const v of values['spec-version'] ?? []) {
    const m = /^([a-z0-9]+)=(.+)$/.exec(v)
    if (m) {
      if (!(PROTOCOLS as readonly string[]).includes(m[1]!)) throw new UsageError(`--spec-version ${v}: unknown protocol ${m[1]}`)
      specVersions[m[1] as ProtocolId] = m[2]!
    } else for (const s of suites) specVersions[s.protocol] = v
  }
  const only = (values.only ?? []).flatMap((o) => o.split(',')).map((o) => o.trim().toUpperCase()).filter(Boolean)
  const options: Partial<Record<ProtocolId, Record<string, string>>> = {}
  for (const s of values.set ?? []) {
    const m = /^([a-z0-9]+)\.([A-Za-z][A-Za-z0-9]*)=(.*)$/s.exec(s)
    if (!m || !(PROTOCOLS as readonly string[]).includes(m[1]!)) throw new UsageError(`--set ${s}: expected PROTOCOL.NAME=VALUE (see conformance list)`)
    ;(options[m[1] as ProtocolId] ??= {})[m[2]!] = m[3]!
  }
  const port = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number, got ${v}`)
    return n
  }
  const timeout = values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms'])
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 100)) throw new UsageError('--timeout-ms must be an integer ≥ 100')

  validateRunOptions({ suites, only, specVersions, options })

  // Credentials: --auth first; dev.json fills the roles --auth did not give.
  for (const a of values.auth ?? []) parseAuthArgument(a)
  const given = credentialsFromArguments(values.auth ?? [])
  const dev = findDevJson({ explicit: values['dev-json'], baseUrl, env: io.env, cwd: io.cwd })
  const secrets = [...given.secrets]
  let credentials = given.credentials
  if (dev.info) {
    const fromDev = bearerCredentials(dev.info.apiKeys)
    secrets.push(...fromDev.secrets)
    const byRole = new Map<string, Readonly<Record<string, string>>>()
    for (const role of fromDev.credentials.roles) byRole.set(role, fromDev.credentials.headers(role)!)
    for (const role of given.credentials.roles) byRole.set(role, given.credentials.headers(role)!)
    credentials = createCredentials(byRole)
  }

  const version = toolVersion()
  io.out(`agentswitch conformance ${version}: ${baseUrl}`)
  if (dev.message) io.out(`dev.json: ${dev.message} (API keys for ${Object.keys(dev.info?.apiKeys ?? {}).join(', ') || 'no role'})`)
  if (credentials.roles.length === 0) io.out('no credentials (--auth): requirements that need an API key will be skipped')
  if (missing.length > 0) io.out(`no suite yet for ${missing.join(', ')}: nothing is run for ${missing.length === 1 ? 'it' : 'them'}`)

  const idWidth = Math.max(...suites.flatMap((s) => s.requirements.map((r) => r.id.length)), 10)
  const line = (r: RequirementResult): string => {
    const status = r.status.toUpperCase().padEnd(4)
    const text = r.reason ? `${r.title} — ${r.reason}` : r.title
    return `  ${status}  ${r.id.padEnd(idWidth)}  ${r.level.padEnd(6)}  ${String(r.durationMs).padStart(5)} ms  ${text}`
  }
  const onEvent = (e: RunEvent): void => {
    if (e.type === 'suite-start') io.out(`\n${e.protocol}: ${e.title} (${e.requirements} requirement${e.requirements === 1 ? '' : 's'})`)
    else if (e.type === 'discovery') {
      const caps = e.discovery.capabilities
      if (e.discovery.error) io.out(`  discovery FAILED: ${e.discovery.error}`)
      else io.out(`  spec ${e.specVersion}; discovery: ${caps.filter((c) => c.available).length} of ${caps.length} capabilities available (${e.discovery.durationMs} ms)`)
      if (values.verbose) for (const c of caps) io.out(`    ${c.available ? '+' : '-'} ${c.id}: ${c.available ? (c.source ?? 'available') : c.reason}`)
      for (const n of e.discovery.notes) io.out(`    note: ${n}`)
    } else if (e.type === 'result') {
      io.out(line(e.result))
      if (values.verbose) {
        for (const n of e.result.notes) io.out(`        note: ${n}`)
        for (const x of e.result.evidence) {
          io.out(`        ${x.direction === 'inbound' ? '<=' : '=>'} ${x.request.method} ${x.request.url} -> ${x.response ? x.response.status : `error: ${x.error}`} (${x.durationMs} ms)`)
        }
      }
    }
  }

  const report = await runConformance({
    baseUrl,
    suites,
    protocols,
    protocolsWithoutSuite: missing,
    specVersions,
    only,
    credentials,
    secrets,
    options,
    counterpartsOptions: { seed: values.seed, webhookPort: port('webhook-port', values['webhook-port']), rpcUrl: values['rpc-url'] },
    devJson: dev.info?.json,
    checkTimeoutMs: timeout,
    toolVersion: version,
    onEvent,
  })
  io.out('')
  const write = (file: string | undefined, what: string, content: () => string): void => {
    if (!file) return
    const abs = resolve(io.cwd, file)
    mkdirSync(dirname(abs), { recursive: true })
    writeFileSync(abs, content())
    io.out(`wrote ${what} ${file}`)
  }
  write(values.json, 'JSON report', () => JSON.stringify(report, null, 2) + '\n')
  write(values.junit, 'JUnit report', () => toJUnit(report))
  write(values.html, 'HTML report', () => toHtml(report))
  if (report.summary.mustFailed > 0) {
    const failed = report.suites.flatMap((s) => s.requirements).filter((r) => r.status === 'fail' && r.level === 'MUST')
    io.out(`MUST requirements failed: ${failed.map((r) => r.id).join(', ')}`)
  }
  io.out(summaryLine(report.summary))
  return report.summary.mustFailed > 0 ? 1 : 0
}

async function list(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], strict: true, options: { protocol: { type: 'string', short: 'p' }, json: { type: 'boolean' } } })
  const protocols = parseProtocol(values.protocol)
  const { suites, missing } = await loadSuites(protocols)
  if (values.json) {
    io.out(
      JSON.stringify(
        {
          suites: suites.map((s) => ({
            protocol: s.protocol,
            title: s.title,
            specVersions: s.specVersions,
            capabilities: s.capabilities,
            options: s.options ?? {},
            requirements: s.requirements.map((r) => ({ id: r.id, level: r.level, section: r.section, sectionTitle: s.sections[r.section]?.title, title: r.title, spec: r.spec, requires: r.requires ?? [], versions: r.versions ?? s.specVersions })),
          })),
          protocolsWithoutSuite: missing,
        },
        null,
        2,
      ),
    )
    return 0
  }
  for (const s of suites) {
    const levels = (l: string): number => s.requirements.filter((r) => r.level === l).length
    io.out(`${s.protocol}: ${s.title} — spec ${s.specVersions.join(', ')} — ${s.requirements.length} requirements (${levels('MUST')} MUST, ${levels('SHOULD')} SHOULD, ${levels('MAY')} MAY)`)
    io.out('  capabilities (discovered from the target, or given to the runner):')
    for (const [id, c] of Object.entries(s.capabilities)) io.out(`    ${id}${c.mandatory ? ' (mandatory)' : ''}: ${c.description}`)
    const opts = Object.entries(s.options ?? {})
    if (opts.length > 0) {
      io.out(`  options (--set ${s.protocol}.NAME=VALUE):`)
      for (const [name, o] of opts) io.out(`    ${name}${o.default !== undefined ? ` (default ${o.default})` : ''}: ${o.description}`)
    }
    const width = Math.max(...s.requirements.map((r) => r.id.length))
    for (const [key, sec] of Object.entries(s.sections)) {
      const reqs = s.requirements.filter((r) => r.section === key)
      if (reqs.length === 0) continue
      io.out(`  ${sec.title} (${key})`)
      for (const r of reqs) {
        io.out(`    ${r.id.padEnd(width)}  ${r.level.padEnd(6)}  ${r.title}`)
        io.out(`    ${''.padEnd(width)}  ${''.padEnd(6)}  ${r.spec.doc} ${r.spec.version}, ${r.spec.section} <${r.spec.url}>${r.requires?.length ? `; needs ${r.requires.join(', ')}` : ''}`)
      }
    }
    io.out('')
  }
  for (const p of missing) io.out(`${p}: no suite yet`)
  return 0
}
