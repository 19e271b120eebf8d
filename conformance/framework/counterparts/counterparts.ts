import type { EvidenceRecorder } from '../http.js'
import { createRedactor, type Redactor } from '../redact.js'
import { startProfileServer, type ProfileServer } from './profileServer.js'
import { deriveSigningKey, type SigningKey } from './signingKeys.js'
import { createChainHelpers, deriveWallet, type ChainHelpers, type TestWallet } from './wallet.js'
import { startWebhookReceiver, type WebhookReceiver } from './webhookReceiver.js'

/** The seed used when none is given: runs are reproducible by default. */
export const DEFAULT_SEED = 'agentswitch-conformance'

export interface CounterpartsOptions {
  /** Everything derived (wallets, signing keys) comes from this. Default {@link DEFAULT_SEED}. */
  seed?: string | undefined
  /** Interface the local servers listen on. Default 127.0.0.1. */
  host?: string | undefined
  /** Port of the webhook receiver (default: any free port, chosen when first used). */
  webhookPort?: number | undefined
  /** Port of the profile server (default: any free port). */
  profilePort?: number | undefined
  /** Chain for {@link Counterparts.chain} (`--rpc-url`). */
  rpcUrl?: string | undefined
}

/**
 * The local, deterministic counterparts a run offers its checks, started on first use and
 * stopped when the run ends. Private material they create is registered with the run's
 * redactor, and what the target sends them is recorded in the current check's evidence.
 */
export interface Counterparts {
  readonly seed: string
  /** The run's redactor: every piece of evidence passes through it. */
  readonly redactor: Redactor
  /** The check now running (the runner sets it); counterparts record inbound exchanges there. */
  readonly evidence: { current: EvidenceRecorder | undefined }
  /** The webhook receiver (started on first call; the same one afterwards). */
  webhookReceiver(): Promise<WebhookReceiver>
  /** The profile server (started on first call). */
  profileServer(): Promise<ProfileServer>
  /** Test wallet `index` (viem account). */
  wallet(index?: number): TestWallet
  /** ES256 key pair for `label` (mandates, receipts, profiles). */
  signingKey(label: string): SigningKey
  /** The `--rpc-url` given, if any. */
  readonly rpcUrl: string | undefined
  /** Chain helpers for `--rpc-url`; throws when none was given (gate on the `runner.rpc` capability). */
  chain(): ChainHelpers
  /** Stop every server started. Idempotent. */
  close(): Promise<void>
}

/** Make the counterparts of one run. Nothing listens until a check asks for it. */
export function createCounterparts(options: CounterpartsOptions = {}): Counterparts {
  const seed = options.seed ?? DEFAULT_SEED
  const host = options.host ?? '127.0.0.1'
  const redactor = createRedactor()
  const evidence: { current: EvidenceRecorder | undefined } = { current: undefined }
  let receiver: Promise<WebhookReceiver> | undefined
  let profiles: Promise<ProfileServer> | undefined
  let chain: ChainHelpers | undefined
  const wallets = new Map<number, TestWallet>()
  const keys = new Map<string, SigningKey>()
  return {
    seed,
    redactor,
    evidence,
    webhookReceiver: () => (receiver ??= startWebhookReceiver({ host, port: options.webhookPort ?? 0, redactor, evidence })),
    profileServer: () => (profiles ??= startProfileServer({ host, port: options.profilePort ?? 0, redactor, evidence })),
    wallet(index = 0) {
      let w = wallets.get(index)
      if (!w) {
        w = deriveWallet(seed, index)
        redactor.addSecret(w.privateKey)
        redactor.addSecret(w.privateKey.slice(2))
        wallets.set(index, w)
      }
      return w
    },
    signingKey(label) {
      let k = keys.get(label)
      if (!k) {
        k = deriveSigningKey(seed, label)
        redactor.addSecret(k.privateJwk.d)
        keys.set(label, k)
      }
      return k
    },
    rpcUrl: options.rpcUrl,
    chain() {
      if (!options.rpcUrl) throw new Error('no --rpc-url was given (gate this requirement on the runner.rpc capability)')
      return (chain ??= createChainHelpers(options.rpcUrl))
    },
    async close() {
      const started = [receiver, profiles].filter((p): p is Promise<WebhookReceiver> | Promise<ProfileServer> => p !== undefined)
      receiver = undefined
      profiles = undefined
      await Promise.all(started.map(async (p) => (await p.catch(() => undefined))?.close()))
    },
  }
}
