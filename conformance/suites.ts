import { PROTOCOLS, type ProtocolId, type Suite } from './framework/types.js'

/**
 * The registry of protocol suites: one line per suite, `conformance/<protocol>/suite.ts`
 * exporting `suite`. Loaded on demand, so `agentswitch dev` never loads a suite. A protocol
 * missing here has no suite yet, and the runner says so instead of pretending.
 */
export const SUITE_LOADERS: Partial<Record<ProtocolId, () => Promise<Suite>>> = {
  core: async () => (await import('./core/suite.js')).suite,
  acp: async () => (await import('./acp/suite.js')).suite,
  ucp: async () => (await import('./ucp/suite.js')).suite,
  ap2: async () => (await import('./ap2/suite.js')).suite as Suite,
  x402: async () => (await import('./x402/suite.js')).suite as Suite,
  mpp: async () => (await import('./mpp/suite.js')).suite as Suite,
}

/** Protocols with a suite, in report order. */
export function protocolsWithSuites(): ProtocolId[] {
  return PROTOCOLS.filter((p) => SUITE_LOADERS[p] !== undefined)
}

/** Load the suites of `protocols` (in report order) and name those that have none yet. */
export async function loadSuites(protocols: readonly ProtocolId[]): Promise<{ suites: Suite[]; missing: ProtocolId[] }> {
  const suites: Suite[] = []
  const missing: ProtocolId[] = []
  for (const p of PROTOCOLS) {
    if (!protocols.includes(p)) continue
    const load = SUITE_LOADERS[p]
    if (load) suites.push(await load())
    else missing.push(p)
  }
  return { suites, missing }
}
