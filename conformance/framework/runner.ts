import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Agent } from 'undici'
import { CheckFailure, SkipSignal } from './assert.js'
import { createCounterparts, type Counterparts, type CounterpartsOptions } from './counterparts/counterparts.js'
import { createCredentials } from './credentials.js'
import { createHttpClient, type EvidenceRecorder, type Exchange } from './http.js'
import { REPORT_SCHEMA_ID, summarize, type CapabilityResult, type ConformanceReport, type RequirementResult, type SuiteResult } from './report.js'
import type { CapabilityState, CheckContext, Credentials, DiscoverContext, Discovery, ProtocolId, Requirement, Suite, SuiteOptions, TargetInfo } from './types.js'

/** The options are wrong (unknown id, version or option); nothing was run. */
export class RunConfigError extends Error {
  override readonly name = 'RunConfigError'
}

/** What the runner tells its caller while it runs (the CLI prints a line per result). */
export type RunEvent =
  | { type: 'suite-start'; protocol: ProtocolId; title: string; requirements: number }
  | { type: 'discovery'; protocol: ProtocolId; specVersion: string; discovery: SuiteResult['discovery'] }
  | { type: 'result'; protocol: ProtocolId; result: RequirementResult }
  | { type: 'suite-end'; protocol: ProtocolId; suite: SuiteResult }

export interface RunOptions {
  /** The target. */
  baseUrl: string
  /** The suites to run, in order. */
  suites: readonly Suite[]
  /** Protocols asked for (for the report); default: the suites' protocols. */
  protocols?: readonly ProtocolId[] | undefined
  /** Protocols asked for that have no suite yet. */
  protocolsWithoutSuite?: readonly ProtocolId[] | undefined
  /** Spec version per protocol (else discovery's choice, else the suite's first). */
  specVersions?: Partial<Record<ProtocolId, string>> | undefined
  /** Run only these ids; a pattern ending in `*` is a prefix (`CORE-IDEM-*`). */
  only?: readonly string[] | undefined
  credentials?: Credentials | undefined
  /** Values to redact everywhere (API keys given on the command line, dev.json keys). */
  secrets?: readonly string[] | undefined
  /** Suite options by protocol (`--set core.merchantId=demo`). */
  options?: Partial<Record<ProtocolId, Readonly<Record<string, string>>>> | undefined
  /** Counterparts to use (the caller closes them); else made from `counterpartsOptions` and closed at the end. */
  counterparts?: Counterparts | undefined
  counterpartsOptions?: CounterpartsOptions | undefined
  /** The target's dev.json, when it is an agentswitch dev-mode gateway. */
  devJson?: Readonly<Record<string, unknown>> | undefined
  /** Budget of one check (and of one discovery), ms. Default 30 000. */
  checkTimeoutMs?: number | undefined
  /** Timeout of one HTTP request, ms. Default 10 000. */
  requestTimeoutMs?: number | undefined
  toolVersion?: string | undefined
  onEvent?: ((event: RunEvent) => void) | undefined
}

/** Whether `id` is selected by `--only` patterns. */
export function matchesOnly(id: string, only: readonly string[] | undefined): boolean {
  if (!only || only.length === 0) return true
  return only.some((p) => (p.endsWith('*') ? id.startsWith(p.slice(0, -1)) : id === p))
}

/**
 * Check the options against the suites before anything runs: every `--only` pattern selects
 * something, every spec version and suite option exists. Throws {@link RunConfigError}.
 */
export function validateRunOptions(options: Pick<RunOptions, 'suites' | 'only' | 'specVersions' | 'options'>): void {
  const problems: string[] = []
  const ids = options.suites.flatMap((s) => s.requirements.map((r) => r.id))
  for (const p of options.only ?? []) if (!ids.some((id) => matchesOnly(id, [p]))) problems.push(`--only ${p} matches no requirement of the selected suites`)
  for (const [protocol, version] of Object.entries(options.specVersions ?? {})) {
    const suite = options.suites.find((s) => s.protocol === protocol)
    if (suite && version !== undefined && !suite.specVersions.includes(version)) {
      problems.push(`the ${protocol} suite checks spec versions ${suite.specVersions.join(', ')}, not ${version}`)
    }
  }
  for (const [protocol, opts] of Object.entries(options.options ?? {})) {
    const suite = options.suites.find((s) => s.protocol === protocol)
    if (!suite) continue
    for (const name of Object.keys(opts ?? {})) {
      if (!Object.hasOwn(suite.options ?? {}, name)) {
        const known = Object.keys(suite.options ?? {})
        problems.push(`the ${protocol} suite has no option ${name}${known.length ? ` (options: ${known.join(', ')})` : ''}`)
      }
    }
  }
  if (problems.length > 0) throw new RunConfigError(problems.join('\n'))
}

/**
 * Run suites against a target and return the report. Requirements run one after another, in
 * registry order, each with its own time budget and evidence; a check never sees another's
 * exchanges. Only HTTP reaches the target.
 */
export async function runConformance(options: RunOptions): Promise<ConformanceReport> {
  validateRunOptions(options)
  const startedAt = new Date()
  const t0 = performance.now()
  const counterparts = options.counterparts ?? createCounterparts(options.counterpartsOptions)
  const redactor = counterparts.redactor
  for (const s of options.secrets ?? []) redactor.addSecret(s)
  for (const suite of options.suites) {
    for (const [name, decl] of Object.entries(suite.options ?? {})) if (decl.secret) redactor.addSecret(options.options?.[suite.protocol]?.[name])
  }
  const credentials = options.credentials ?? createCredentials(new Map())
  const dispatcher = new Agent({ keepAliveTimeout: 4_000, connections: 16 })
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
  let counter = 0
  const unique = (label: string): string => `conf-${runId}-${label}-${++counter}`
  const checkTimeoutMs = options.checkTimeoutMs ?? 30_000
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000
  const baseUrl = options.baseUrl.replace(/\/+$/, '')

  const suites: SuiteResult[] = []
  try {
    for (const suite of options.suites) {
      const selected = suite.requirements.filter((r) => matchesOnly(r.id, options.only))
      if (selected.length === 0) continue
      options.onEvent?.({ type: 'suite-start', protocol: suite.protocol, title: suite.title, requirements: selected.length })
      const suiteOptions = optionsFor(suite, options.options?.[suite.protocol])
      const target: TargetInfo = { baseUrl, requestedSpecVersion: options.specVersions?.[suite.protocol], devJson: options.devJson }

      // A context for one step (discovery or a check): its own evidence, notes and time budget.
      const stepContext = (recorder: EvidenceRecorder, notes: string[], signal: AbortSignal): DiscoverContext => ({
        target,
        http: createHttpClient({ baseUrl, dispatcher, credentials, redactor, recorder, signal, defaultTimeoutMs: requestTimeoutMs }),
        auth: credentials,
        counterparts,
        options: suiteOptions,
        signal,
        unique,
        note: (text) => notes.push(text),
        record: (exchange) => recorder.add(exchange),
      })

      // Discovery.
      const dEvidence: Exchange[] = []
      const dNotes: string[] = []
      const dStart = performance.now()
      let discovery: Discovery<unknown> | undefined
      let discoveryError: string | undefined
      {
        const recorder: EvidenceRecorder = { add: (e) => dEvidence.push(e) }
        counterparts.evidence.current = recorder
        const ac = new AbortController()
        try {
          const dctx = stepContext(recorder, dNotes, ac.signal)
          discovery = await withBudget(Promise.resolve().then(() => suite.discover(dctx)), checkTimeoutMs, ac)
        } catch (err) {
          discoveryError = redactor.text(errorText(err))
        } finally {
          counterparts.evidence.current = undefined
          ac.abort()
        }
      }
      const capabilities = capabilityResults(suite, discovery?.capabilities, counterparts, dNotes)
      const available = new Set(capabilities.filter((c) => c.available).map((c) => c.id))
      let specVersion = target.requestedSpecVersion ?? suite.specVersions[0]
      if (!target.requestedSpecVersion && discovery?.specVersion) {
        if (suite.specVersions.includes(discovery.specVersion)) specVersion = discovery.specVersion
        else dNotes.push(`the target advertises spec version ${discovery.specVersion}, which this suite does not know; checking ${specVersion}`)
      }
      const discoveryResult: SuiteResult['discovery'] = {
        durationMs: Math.round(performance.now() - dStart),
        capabilities,
        notes: dNotes.map((n) => redactor.text(n)),
        evidence: dEvidence,
        ...(discoveryError === undefined ? {} : { error: discoveryError }),
      }
      options.onEvent?.({ type: 'discovery', protocol: suite.protocol, specVersion, discovery: discoveryResult })

      // Requirements.
      const fixtures = new Map<string, { by: string; value: Promise<unknown> }>()
      const runRequirement = async (req: Requirement<unknown>): Promise<RequirementResult> => {
        const base = {
          id: req.id,
          level: req.level,
          title: req.title,
          section: req.section,
          sectionTitle: suite.sections[req.section]?.title ?? req.section,
          spec: req.spec,
          requires: [...(req.requires ?? [])],
        }
        const done = (status: RequirementResult['status'], durationMs: number, reason: string | undefined, notes: string[], evidence: Exchange[]): RequirementResult => ({
          ...base,
          status,
          durationMs,
          ...(reason === undefined ? {} : { reason: redactor.text(reason) }),
          notes: notes.map((n) => redactor.text(n)),
          evidence,
        })
        if (discoveryError !== undefined || !discovery) return done('fail', 0, `discovery failed: ${discoveryError ?? 'no result'}`, [], [])
        if (req.versions && !req.versions.includes(specVersion)) return done('skip', 0, `applies to spec versions ${req.versions.join(', ')}; checking ${specVersion}`, [], [])
        for (const id of req.requires ?? []) {
          if (available.has(id)) continue
          const cap = capabilities.find((c) => c.id === id)
          const why = cap?.reason ?? 'not reported by discovery'
          if (cap?.mandatory) return done('fail', 0, `the target lacks ${id}, which the spec makes mandatory: ${why}`, [], [])
          return done('skip', 0, `needs ${id}: ${why}`, [], [])
        }

        const evidence: Exchange[] = []
        const notes: string[] = []
        const recorder: EvidenceRecorder = { add: (e) => evidence.push(e) }
        const ac = new AbortController()
        const ctx: CheckContext<unknown> = {
          ...stepContext(recorder, notes, ac.signal),
          requirement: { id: req.id, level: req.level, title: req.title },
          discovery: discovery.data,
          capabilities: available,
          specVersion,
          skip(reason) {
            throw new SkipSignal(reason)
          },
          once<T>(key: string, make: () => Promise<T>): Promise<T> {
            let f = fixtures.get(key)
            if (!f) {
              f = { by: req.id, value: make() }
              // A rejected fixture is reported by each check that awaits it; never unhandled here.
              f.value.catch(() => {})
              fixtures.set(key, f)
            } else if (f.by !== req.id) notes.push(`uses the fixture "${key}" made while checking ${f.by} (its exchanges are evidence there)`)
            return f.value as Promise<T>
          },
        }
        counterparts.evidence.current = recorder
        const start = performance.now()
        let status: RequirementResult['status'] = 'pass'
        let reason: string | undefined
        try {
          await withBudget(Promise.resolve().then(() => req.check(ctx)), checkTimeoutMs, ac)
        } catch (err) {
          if (err instanceof SkipSignal) {
            status = 'skip'
            reason = err.message
          } else {
            status = 'fail'
            reason = errorText(err)
          }
        } finally {
          counterparts.evidence.current = undefined
          ac.abort()
        }
        return done(status, Math.round(performance.now() - start), reason, notes, evidence)
      }
      const results: RequirementResult[] = []
      for (const req of selected) {
        const result = await runRequirement(req)
        results.push(result)
        options.onEvent?.({ type: 'result', protocol: suite.protocol, result })
      }
      const suiteResult: SuiteResult = {
        protocol: suite.protocol,
        title: suite.title,
        idPrefix: suite.idPrefix,
        specVersion,
        specVersions: [...suite.specVersions],
        discovery: discoveryResult,
        summary: summarize(results),
        requirements: results,
      }
      suites.push(suiteResult)
      options.onEvent?.({ type: 'suite-end', protocol: suite.protocol, suite: suiteResult })
    }
  } finally {
    await dispatcher.close().catch(() => {})
    if (!options.counterparts) await counterparts.close()
  }

  const all = suites.flatMap((s) => s.requirements)
  return {
    $schema: REPORT_SCHEMA_ID,
    reportVersion: 1,
    tool: { name: 'agentswitch conformance', version: options.toolVersion ?? '0.0.0' },
    target: { baseUrl: redactor.url(baseUrl).replace(/\/$/, '') },
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Math.round(performance.now() - t0),
    run: {
      protocols: [...(options.protocols ?? options.suites.map((s) => s.protocol))],
      ...(options.only && options.only.length > 0 ? { only: [...options.only] } : {}),
      seed: counterparts.seed,
    },
    protocolsWithoutSuite: [...(options.protocolsWithoutSuite ?? [])],
    summary: summarize(all),
    suites,
  }
}

function optionsFor(suite: Suite, given: Readonly<Record<string, string>> | undefined): SuiteOptions {
  return {
    get(name) {
      const decl = suite.options?.[name]
      if (!decl) throw new Error(`the ${suite.protocol} suite reads option ${name} but does not declare it`)
      return given?.[name] ?? decl.default
    },
  }
}

/** Discovery's answer for every declared capability; `runner.*` ones are the runner's own. */
function capabilityResults(suite: Suite, found: Readonly<Record<string, CapabilityState>> | undefined, counterparts: Counterparts, notes: string[]): CapabilityResult[] {
  const out: CapabilityResult[] = []
  for (const [id, decl] of Object.entries(suite.capabilities)) {
    let state: CapabilityState | undefined = found?.[id]
    if (!state && id === 'runner.rpc') {
      state = counterparts.rpcUrl ? { available: true, source: '--rpc-url' } : { available: false, reason: 'no --rpc-url was given' }
    }
    if (!state) {
      state = { available: false, reason: found ? 'discovery did not report it' : 'discovery did not complete' }
      if (found) notes.push(`suite bug: discover() did not report the declared capability ${id}`)
    }
    out.push({
      id,
      description: decl.description,
      mandatory: decl.mandatory === true,
      available: state.available,
      ...(state.available ? (state.source === undefined ? {} : { source: state.source }) : { reason: state.reason }),
    })
  }
  for (const id of Object.keys(found ?? {})) if (!Object.hasOwn(suite.capabilities, id)) notes.push(`suite bug: discover() reported the undeclared capability ${id}`)
  return out
}

/** Await `work`, failing after `ms` (and aborting the step's requests). */
async function withBudget<T>(work: Promise<T>, ms: number, ac: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort()
      reject(new CheckFailure(`did not finish within ${ms} ms`))
    }, ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
    // The losing promise may still reject later; it is already decided.
    work.catch(() => {})
  }
}

function errorText(err: unknown): string {
  if (err instanceof CheckFailure) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}
