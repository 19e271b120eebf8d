import { LEVELS, PROTOCOLS, type Suite } from './types.js'

/** A suite that breaks the registry's rules; lists every problem at once. */
export class SuiteDefinitionError extends Error {
  override readonly name = 'SuiteDefinitionError'
  constructor(
    readonly protocol: string,
    readonly problems: readonly string[],
  ) {
    super(`suite ${protocol} is invalid:\n  - ${problems.join('\n  - ')}`)
  }
}

const SECTION_KEY = /^[A-Z][A-Z0-9]{0,15}$/

/**
 * Declare a suite: checks the registry's rules once, when the suite module loads, so a malformed
 * requirement is a load error and never a silently missing row in a report.
 *
 * Rules: ids are `<idPrefix>-<SECTION>-<NNN>` and unique; the section is declared; the level is
 * MUST/SHOULD/MAY; every capability a requirement needs is declared; every version it names is
 * one of the suite's; option defaults are strings.
 *
 * @example
 * export const suite = defineSuite<{ profile: UcpProfile }>({
 *   protocol: 'ucp', title: 'UCP', idPrefix: 'UCP', specVersions: ['2026-04-08'],
 *   sections: { DISC: { title: 'Discovery' } },
 *   capabilities: { 'dev.ucp.shopping.checkout': { description: 'checkout capability', mandatory: true } },
 *   discover: async (ctx) => ({ data: { profile }, capabilities: { ... } }),
 *   requirements: [{ id: 'UCP-DISC-001', level: 'MUST', section: 'DISC', title: '…', spec, check: async (ctx) => { … } }],
 * })
 */
export function defineSuite<D>(suite: Suite<D>): Suite<D> {
  const problems: string[] = []
  if (!(PROTOCOLS as readonly string[]).includes(suite.protocol)) problems.push(`unknown protocol ${suite.protocol}`)
  if (!/^[A-Z][A-Z0-9]{1,15}$/.test(suite.idPrefix)) problems.push(`idPrefix ${suite.idPrefix} must be upper-case letters and digits`)
  for (const key of Object.keys(suite.sections)) if (!SECTION_KEY.test(key)) problems.push(`section key ${key} must be upper-case letters and digits`)
  if (new Set(suite.specVersions).size !== suite.specVersions.length) problems.push('specVersions has duplicates')
  for (const [name, opt] of Object.entries(suite.options ?? {})) {
    if (!/^[a-z][A-Za-z0-9]*$/.test(name)) problems.push(`option ${name} must be camelCase`)
    if (opt.default !== undefined && typeof opt.default !== 'string') problems.push(`option ${name}: default must be a string`)
  }
  const seen = new Set<string>()
  for (const r of suite.requirements) {
    const where = r.id || '(a requirement without id)'
    if (seen.has(r.id)) problems.push(`${where}: duplicate id`)
    seen.add(r.id)
    const m = /^([A-Z0-9]+)-([A-Z0-9]+)-(\d{3})$/.exec(r.id)
    if (!m) problems.push(`${where}: id must look like ${suite.idPrefix}-SECTION-001`)
    else {
      if (m[1] !== suite.idPrefix) problems.push(`${where}: id must start with ${suite.idPrefix}-`)
      if (m[2] !== r.section) problems.push(`${where}: id's section ${m[2]} differs from section ${r.section}`)
    }
    if (!Object.hasOwn(suite.sections, r.section)) problems.push(`${where}: section ${r.section} is not declared`)
    if (!(LEVELS as readonly string[]).includes(r.level)) problems.push(`${where}: level ${String(r.level)} is not MUST, SHOULD or MAY`)
    if (!r.title.trim()) problems.push(`${where}: empty title`)
    if (!r.spec.url || !r.spec.section || !r.spec.version || !r.spec.doc) problems.push(`${where}: spec ref needs doc, version, section and url`)
    for (const c of r.requires ?? []) if (!Object.hasOwn(suite.capabilities, c)) problems.push(`${where}: capability ${c} is not declared`)
    for (const v of r.versions ?? []) if (!suite.specVersions.includes(v)) problems.push(`${where}: version ${v} is not one of the suite's`)
    if (typeof r.check !== 'function') problems.push(`${where}: no check function`)
  }
  if (problems.length > 0) throw new SuiteDefinitionError(suite.protocol, problems)
  return suite
}
