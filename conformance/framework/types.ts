import type { Counterparts } from './counterparts/counterparts.js'
import type { Exchange, HttpClient } from './http.js'

/** Every protocol the runner knows, in the order reports list them. `core` is the gateway's own API. */
export const PROTOCOLS = ['core', 'acp', 'ucp', 'ap2', 'x402', 'mpp'] as const
/** A protocol id (`--protocol`). */
export type ProtocolId = (typeof PROTOCOLS)[number]

/** RFC 2119 levels. Only a failed MUST makes the run exit 1; SHOULD and MAY failures are reported. */
export const LEVELS = ['MUST', 'SHOULD', 'MAY'] as const
/** A requirement's level. */
export type Level = (typeof LEVELS)[number]

/** The outcome of one requirement. */
export type Status = 'pass' | 'fail' | 'skip'

/** Where a requirement comes from: the clause of a spec a reader can open. */
export interface SpecRef {
  /** The document, e.g. `ACP Agentic Checkout` or `agentswitch gateway API`. */
  doc: string
  /** The spec version the clause belongs to (`2026-04-17`, `v2`, `0.1.0`). */
  version: string
  /** The clause: `§6 Idempotency`, `paths./v1/intents.post`. */
  section: string
  /** A link to the clause: an absolute URL, or a repository-relative path with an anchor. */
  url: string
}

/** A report section (the middle part of requirement ids: `CORE-IDEM-003` is in section `IDEM`). */
export interface SectionDeclaration {
  title: string
}

/** A capability a requirement may need; the suite's `discover` says whether the target has it. */
export interface CapabilityDeclaration {
  /** What it means, in one line (shown by `conformance list`). */
  description: string
  /**
   * The spec makes it mandatory: when discovery finds it missing, the requirements that need it
   * FAIL (with the discovery's reason) instead of being skipped.
   */
  mandatory?: boolean | undefined
}

/** A suite option, set with `--set <protocol>.<name>=<value>` (or by the in-process API). */
export interface SuiteOptionDeclaration {
  description: string
  default?: string | undefined
  /** The value is a secret: redacted from evidence and never printed. */
  secret?: boolean | undefined
}

/** Whether the target has a capability, and if not, why (the reason is written into the report). */
export type CapabilityState = { available: true; source?: string | undefined } | { available: false; reason: string }

/** What a suite's `discover` learnt about the target. */
export interface Discovery<D> {
  /** Suite-specific facts the checks read (the fetched profile, the endpoints, the target version). */
  data: D
  /** Every capability the suite declares: available, or not with a reason. Undeclared ones are an error. */
  capabilities: Readonly<Record<string, CapabilityState>>
  /** The spec version to run, when the target advertises one and none was asked for. */
  specVersion?: string | undefined
}

/** API credentials by role (`agent`, `admin`, `merchant`, or `default` for a single `--auth`). */
export interface Credentials {
  /** The roles given, in order. */
  readonly roles: readonly string[]
  /** Whether `role` (or `default`) has credentials. */
  has(role: string): boolean
  /** The headers of `role`, falling back to `default`; `undefined` when neither was given. */
  headers(role: string): Readonly<Record<string, string>> | undefined
}

/** Options of a suite, with declared defaults applied. */
export interface SuiteOptions {
  get(name: string): string | undefined
}

/** What the target is and how it was reached. */
export interface TargetInfo {
  /** The base URL given with `--base-url`, without a trailing slash. */
  baseUrl: string
  /** The spec version asked for with `--spec-version` (discovery may choose one when undefined). */
  requestedSpecVersion?: string | undefined
  /** The parsed `dev.json` when the target is an agentswitch dev-mode gateway that wrote one. */
  devJson?: Readonly<Record<string, unknown>> | undefined
}

/** What `discover` gets: everything a check gets except the discovery itself. */
export interface DiscoverContext {
  readonly target: TargetInfo
  /** HTTP to the target (undici), every exchange recorded as evidence, secrets redacted. */
  readonly http: HttpClient
  readonly auth: Credentials
  /** Local, seeded counterparts: webhook receiver, profile server, wallets, signing keys, chain helpers. */
  readonly counterparts: Counterparts
  readonly options: SuiteOptions
  /** Aborted when the time budget of this step is over. */
  readonly signal: AbortSignal
  /** A value unique to this run (idempotency keys, references): targets keep state between runs. */
  unique(label: string): string
  /** Add a line of evidence text (what was compared, what was expected). */
  note(text: string): void
  /** Add an exchange the check observed itself (for example a delivery it pulled from a counterpart). */
  record(exchange: Exchange): void
}

/** The requirement being checked, as a check sees it. */
export interface RequirementInfo {
  readonly id: string
  readonly level: Level
  readonly title: string
}

/** What a check gets. */
export interface CheckContext<D> extends DiscoverContext {
  readonly requirement: RequirementInfo
  /** The suite's discovery data. */
  readonly discovery: D
  /** The capabilities discovery found available. */
  readonly capabilities: ReadonlySet<string>
  /** The spec version being checked. */
  readonly specVersion: string
  /** Stop here and mark the requirement skipped with this reason (a precondition the target cannot meet). */
  skip(reason: string): never
  /**
   * A fixture shared by the checks of one suite run, made by the first check that asks for it
   * (its exchanges are that check's evidence). Checks never rely on another check having run.
   */
  once<T>(key: string, make: () => Promise<T>): Promise<T>
}

/** One requirement: data plus a black-box check that talks to the target only over HTTP. */
export interface Requirement<D = unknown> {
  /** `<PREFIX>-<SECTION>-<NNN>`, e.g. `CORE-IDEM-003`. Stable forever: reports are compared by id. */
  readonly id: string
  readonly level: Level
  /** What must hold, as one sentence. */
  readonly title: string
  /** The section key (the id's middle part). */
  readonly section: string
  readonly spec: SpecRef
  /** Capabilities needed; a missing one skips the requirement with discovery's reason. */
  readonly requires?: readonly string[] | undefined
  /** Spec versions it applies to (default: all of the suite's). */
  readonly versions?: readonly string[] | undefined
  /** Resolve to pass; throw (a {@link CheckFailure} or any error) to fail; `ctx.skip()` to skip. */
  check(ctx: CheckContext<D>): Promise<void>
}

/**
 * A protocol suite: one folder `conformance/<protocol>/` whose `suite.ts` exports `suite`,
 * registered by one line in `conformance/suites.ts`.
 */
export interface Suite<D = unknown> {
  readonly protocol: ProtocolId
  /** Human title: `ACP (Agentic Commerce Protocol)`. */
  readonly title: string
  /** Requirement id prefix: `ACP`, `CORE`. */
  readonly idPrefix: string
  /** Spec versions the suite can check; the first is the default. */
  readonly specVersions: readonly [string, ...string[]]
  readonly sections: Readonly<Record<string, SectionDeclaration>>
  readonly capabilities: Readonly<Record<string, CapabilityDeclaration>>
  readonly options?: Readonly<Record<string, SuiteOptionDeclaration>> | undefined
  /** Read what the target advertises; never throw for a missing optional feature (report it unavailable). */
  discover(ctx: DiscoverContext): Promise<Discovery<D>>
  readonly requirements: readonly Requirement<D>[]
}
