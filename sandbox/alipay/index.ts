/**
 * The Alipay-compatible sandbox (issue 5): Open Platform v2 `gateway.do` and v3 REST, the
 * Antom-style cross-border API, fault injection and a queryable ledger, on its own port(s).
 * Named re-exports only.
 */
export { startAlipaySandbox, type AlipaySandbox, type AlipaySandboxOptions, type RequestLogEntry, type SandboxAppConfig } from './server.js'
export {
  ALIPAY_SANDBOX_READY_LINE,
  ALIPAY_SANDBOX_READY_PREFIX,
  alipaySandboxChildSpec,
  parseAlipaySandboxReady,
  type AlipaySandboxChildOptions,
  type AlipaySandboxReady,
} from './childProcess.js'
export { FAULT_KINDS, type FaultConfig, type FaultKind, type FaultRule, type FaultStats } from './faults.js'
export { DEFAULT_FIXTURES, type LedgerEntry, type LedgerTotals, type SandboxFixtures } from './world.js'
export { generateRsaKeyPair, type RsaKeyPairPem } from './crypto.js'
