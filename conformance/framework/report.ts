import type { Exchange } from './http.js'
import type { Level, ProtocolId, SpecRef, Status } from './types.js'

/** `$id` of `schemas/conformance-report.schema.json`. */
export const REPORT_SCHEMA_ID = 'https://agentswitch.dev/schemas/conformance-report.schema.json'

/** Counts over a set of results. */
export interface Summary {
  total: number
  passed: number
  failed: number
  skipped: number
  /** Failed requirements of level MUST: any makes the run exit 1. */
  mustFailed: number
}

/** The outcome of one requirement. */
export interface RequirementResult {
  id: string
  level: Level
  title: string
  /** Section key (`IDEM`) and its title (`Idempotency`). */
  section: string
  sectionTitle: string
  spec: SpecRef
  requires: string[]
  status: Status
  durationMs: number
  /** Why it failed or was skipped (absent when it passed). */
  reason?: string | undefined
  /** Lines the check wrote about what it compared. */
  notes: string[]
  /** Every HTTP exchange of the check, secrets redacted. */
  evidence: Exchange[]
}

/** Whether the target has a declared capability, as discovery found. */
export interface CapabilityResult {
  id: string
  description: string
  mandatory: boolean
  available: boolean
  reason?: string | undefined
  source?: string | undefined
}

/** One protocol suite's part of a report. */
export interface SuiteResult {
  protocol: ProtocolId
  title: string
  idPrefix: string
  specVersion: string
  specVersions: string[]
  discovery: {
    durationMs: number
    capabilities: CapabilityResult[]
    notes: string[]
    evidence: Exchange[]
    /** Discovery itself failed (the target did not answer): every selected requirement fails. */
    error?: string | undefined
  }
  summary: Summary
  requirements: RequirementResult[]
}

/** A whole run: what `--json` writes (validated by `schemas/conformance-report.schema.json`). */
export interface ConformanceReport {
  $schema: typeof REPORT_SCHEMA_ID
  reportVersion: 1
  tool: { name: string; version: string }
  target: { baseUrl: string }
  startedAt: string
  finishedAt: string
  durationMs: number
  run: {
    /** Protocols asked for (`all` expanded). */
    protocols: ProtocolId[]
    /** `--only` patterns, when given. */
    only?: string[] | undefined
    seed: string
  }
  /** Protocols asked for that have no suite yet (nothing was faked for them). */
  protocolsWithoutSuite: ProtocolId[]
  summary: Summary
  suites: SuiteResult[]
}

/** Count results. */
export function summarize(results: ReadonlyArray<Pick<RequirementResult, 'status' | 'level'>>): Summary {
  const s: Summary = { total: results.length, passed: 0, failed: 0, skipped: 0, mustFailed: 0 }
  for (const r of results) {
    if (r.status === 'pass') s.passed++
    else if (r.status === 'skip') s.skipped++
    else {
      s.failed++
      if (r.level === 'MUST') s.mustFailed++
    }
  }
  return s
}

/** The last line the CLI prints: exactly `N passed, N failed, N skipped`. */
export function summaryLine(s: Summary): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`
}
