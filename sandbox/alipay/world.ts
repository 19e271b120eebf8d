import { createHash, type KeyObject } from 'node:crypto'
import { publicKeyFrom } from './crypto.js'
import { beijingDate, mulberry32 } from './units.js'

/** Trade states (digest §2.2) plus two internal, invisible ones: a pre-created QR not yet scanned, and a delegation pre-order. */
export type TradeStatus = 'PRECREATE' | 'PREPAY' | 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_FINISHED' | 'TRADE_CLOSED'

export interface SandboxApp {
  appId: string
  /** Antom `Client-Id` of the same merchant (defaults to the app id). */
  clientId: string
  publicKey: KeyObject
  /** The merchant's Alipay user id (`seller_id`, 2088…). */
  sellerId: string
  /** The merchant's balances by currency, in minor units. */
  balances: Map<string, bigint>
}

export interface SandboxBuyer {
  userId: string
  logonId: string
  /** Minor units by currency. */
  balances: Map<string, bigint>
}

export interface SandboxAgreement {
  agreementNo: string
  buyerId: string
  status: 'NORMAL' | 'STOP'
}

export interface SandboxDelegation {
  delegationId: string
  agreementNo: string
  /** Cumulative limit (fen). */
  maxTotal: bigint
  /** Per-payment limit (fen). */
  maxSingle?: bigint | undefined
  used: bigint
  validFrom: Date
  validTo: Date
  status: 'VALID' | 'CANCELED'
}

export interface SandboxRefund {
  outRequestNo: string
  amount: bigint
  at: Date
  reason?: string | undefined
}

export interface SandboxTrade {
  appId: string
  outTradeNo: string
  tradeNo: string
  status: TradeStatus
  total: bigint
  subject: string
  productCode?: string | undefined
  buyerId?: string | undefined
  createdAt: Date
  paidAt?: Date | undefined
  closedAt?: Date | undefined
  expiresAt?: Date | undefined
  refunded: bigint
  refunds: Map<string, SandboxRefund>
  notifyUrl?: string | undefined
  passbackParams?: string | undefined
  prepayId?: string | undefined
  agreementNo?: string | undefined
  delegationId?: string | undefined
  qrCode?: string | undefined
}

export interface PaymentMethodAccount {
  /** `CARD`, `ALIPAY_CN`, `GCASH`, … */
  type: string
  /** The token a merchant sends as `paymentMethodId` (a vault token, a wallet access token). */
  id: string
  /** Card: the last four digits, never the number. */
  last4?: string | undefined
  /** Card: the full number is matched by its hash only (never kept in clear). */
  panHash?: string | undefined
  balances: Map<string, bigint>
  /** Every payment with this method fails with this Antom result code (`RISK_REJECT`, …). */
  declineCode?: string | undefined
}

export type AntomPaymentStatus = 'SUCCESS' | 'FAIL' | 'PROCESSING'

export interface AntomRefundRecord {
  refundRequestId: string
  refundId: string
  paymentId: string
  amount: bigint
  currency: string
  at: Date
}

export interface AntomPayment {
  clientId: string
  paymentRequestId: string
  paymentId: string
  status: AntomPaymentStatus
  resultCode: string
  resultMessage: string
  currency: string
  amount: bigint
  methodType: string
  methodId: string
  fingerprint: string
  createdAt: Date
  paidAt?: Date | undefined
  refunded: bigint
  notifyUrl?: string | undefined
}

/** One movement of money: what tests sum to prove it moved exactly once. */
export interface LedgerEntry {
  seq: number
  at: string
  rail: 'alipay' | 'antom'
  kind: 'payment' | 'refund'
  /** Merchant (app id / Antom client id). */
  merchant: string
  /** The merchant's idempotency key: `out_trade_no` or `paymentRequestId`. */
  ref: string
  /** `trade_no` / `paymentId`. */
  reference: string
  /** Refunds: `out_request_no` / `refundRequestId`. */
  requestNo?: string | undefined
  /** Minor units (fen for CNY). */
  amount: string
  currency: string
  /** Buyer user id or payment method token. */
  payer: string
}

export interface LedgerTotals {
  payments: string
  refunds: string
  net: string
  paymentCount: number
  refundCount: number
}

/** The sandbox's ledger: every payment and refund, in order. */
export class SandboxLedger {
  readonly #entries: LedgerEntry[] = []

  append(e: Omit<LedgerEntry, 'seq'>): LedgerEntry {
    const entry = { ...e, seq: this.#entries.length + 1 }
    this.#entries.push(entry)
    return entry
  }

  entries(filter: { rail?: string | undefined; kind?: string | undefined; ref?: string | undefined; currency?: string | undefined } = {}): LedgerEntry[] {
    return this.#entries.filter(
      (e) =>
        (filter.rail === undefined || e.rail === filter.rail) &&
        (filter.kind === undefined || e.kind === filter.kind) &&
        (filter.ref === undefined || e.ref === filter.ref) &&
        (filter.currency === undefined || e.currency === filter.currency),
    )
  }

  /** Totals per `rail:currency` (minor units as strings). */
  totals(): Record<string, LedgerTotals> {
    const acc = new Map<string, { p: bigint; r: bigint; pc: number; rc: number }>()
    for (const e of this.#entries) {
      const k = `${e.rail}:${e.currency}`
      const t = acc.get(k) ?? { p: 0n, r: 0n, pc: 0, rc: 0 }
      if (e.kind === 'payment') {
        t.p += BigInt(e.amount)
        t.pc++
      } else {
        t.r += BigInt(e.amount)
        t.rc++
      }
      acc.set(k, t)
    }
    return Object.fromEntries(
      [...acc].map(([k, t]) => [k, { payments: t.p.toString(), refunds: t.r.toString(), net: (t.p - t.r).toString(), paymentCount: t.pc, refundCount: t.rc }]),
    )
  }

  /** Merchant refs (`merchant|ref`) with more than one payment: must always be empty. */
  paidTwice(): string[] {
    const seen = new Map<string, number>()
    for (const e of this.#entries) if (e.kind === 'payment') seen.set(`${e.merchant}|${e.ref}`, (seen.get(`${e.merchant}|${e.ref}`) ?? 0) + 1)
    return [...seen].filter(([, n]) => n > 1).map(([k]) => k)
  }

  get size(): number {
    return this.#entries.length
  }
}

/** Seed data of a sandbox (all amounts in minor units; CNY in fen). */
export interface SandboxFixtures {
  buyers?: Array<{ userId: string; logonId?: string | undefined; balances: Record<string, string> }> | undefined
  agreements?: Array<{ agreementNo: string; buyerId: string; status?: 'NORMAL' | 'STOP' | undefined }> | undefined
  delegations?:
    | Array<{ delegationId: string; agreementNo: string; maxTotal: string; maxSingle?: string | undefined; validFrom?: string | undefined; validTo?: string | undefined }>
    | undefined
  paymentMethods?:
    | Array<{ type: string; id: string; cardNumber?: string | undefined; balances: Record<string, string>; declineCode?: string | undefined }>
    | undefined
}

/**
 * What a fresh sandbox knows unless told otherwise (dev mode and the README use these).
 * Buyers: a rich one, a poor one (1.00 CNY). Agreements: NORMAL for each, one STOPped.
 * Delegation `DLG_DEMO_001`: 1000.00 CNY total, 200.00 CNY per payment. Cards: a good Visa token,
 * one the risk engine rejects, one nearly empty; an Alipay CN wallet token.
 */
export const DEFAULT_FIXTURES: SandboxFixtures = {
  buyers: [
    { userId: '2088000000000001', logonId: 'buyer@example.com', balances: { CNY: '100000000000' } },
    { userId: '2088000000000002', logonId: 'poor@example.com', balances: { CNY: '100' } },
  ],
  agreements: [
    { agreementNo: '20215000000000000001', buyerId: '2088000000000001' },
    { agreementNo: '20215000000000000002', buyerId: '2088000000000002' },
    { agreementNo: '20215000000000000009', buyerId: '2088000000000001', status: 'STOP' },
  ],
  delegations: [{ delegationId: 'DLG_DEMO_001', agreementNo: '20215000000000000001', maxTotal: '100000', maxSingle: '20000' }],
  paymentMethods: [
    {
      type: 'CARD',
      id: 'card_tok_visa_4242',
      cardNumber: '4242424242424242',
      balances: { USD: '100000000', EUR: '100000000', GBP: '100000000', JPY: '10000000', KRW: '100000000', HKD: '100000000', SGD: '100000000', CNY: '100000000' },
    },
    { type: 'CARD', id: 'card_tok_risk_0002', cardNumber: '4000000000000002', balances: { USD: '100000000' }, declineCode: 'RISK_REJECT' },
    { type: 'CARD', id: 'card_tok_poor_9995', cardNumber: '4000000000009995', balances: { USD: '100' } },
    { type: 'ALIPAY_CN', id: 'wallet_tok_alipaycn_demo', balances: { CNY: '100000000', USD: '1000000' } },
  ],
}

export class SandboxWorld {
  readonly apps = new Map<string, SandboxApp>()
  readonly appsByClientId = new Map<string, SandboxApp>()
  readonly buyers = new Map<string, SandboxBuyer>()
  readonly agreements = new Map<string, SandboxAgreement>()
  readonly delegations = new Map<string, SandboxDelegation>()
  readonly authCodes = new Map<string, { buyerId: string; requiresConfirmation: boolean }>()
  readonly trades = new Map<string, SandboxTrade>()
  readonly tradesByNo = new Map<string, SandboxTrade>()
  readonly prepays = new Map<string, SandboxTrade>()
  readonly paymentMethods = new Map<string, PaymentMethodAccount>()
  readonly antomPayments = new Map<string, AntomPayment>()
  readonly antomPaymentsById = new Map<string, AntomPayment>()
  readonly antomRefunds = new Map<string, AntomRefundRecord>()
  readonly ledger = new SandboxLedger()
  readonly rand: () => number
  #tradeSeq = 0
  #idSeq = 0

  constructor(
    readonly now: () => Date,
    seed: number,
    readonly options: { finishAfterMs?: number | undefined; prepayTtlMs?: number | undefined } = {},
  ) {
    this.rand = mulberry32(seed ^ 0x5eed)
  }

  registerApp(app: { appId: string; publicKeyPem: string; clientId?: string | undefined; sellerId?: string | undefined }): SandboxApp {
    const a: SandboxApp = {
      appId: app.appId,
      clientId: app.clientId ?? app.appId,
      publicKey: publicKeyFrom(app.publicKeyPem),
      sellerId: app.sellerId ?? `2088${String(9000000000 + this.apps.size).padStart(12, '0')}`,
      balances: this.apps.get(app.appId)?.balances ?? new Map(),
    }
    this.apps.set(a.appId, a)
    this.appsByClientId.set(a.clientId, a)
    return a
  }

  load(f: SandboxFixtures): void {
    for (const b of f.buyers ?? []) this.putBuyer(b)
    for (const a of f.agreements ?? []) this.agreements.set(a.agreementNo, { agreementNo: a.agreementNo, buyerId: a.buyerId, status: a.status ?? 'NORMAL' })
    for (const d of f.delegations ?? []) this.putDelegation(d)
    for (const p of f.paymentMethods ?? []) this.putPaymentMethod(p)
  }

  putBuyer(b: { userId?: string | undefined; logonId?: string | undefined; balances?: Record<string, string> | undefined }): SandboxBuyer {
    const userId = b.userId ?? `2088${String(1_000_000_000 + ++this.#idSeq).padStart(12, '0')}`
    const buyer: SandboxBuyer = { userId, logonId: b.logonId ?? `${userId.slice(-6)}@example.com`, balances: toBalances(b.balances ?? {}) }
    this.buyers.set(userId, buyer)
    return buyer
  }

  putDelegation(d: { delegationId?: string | undefined; agreementNo: string; maxTotal: string; maxSingle?: string | undefined; validFrom?: string | undefined; validTo?: string | undefined }): SandboxDelegation {
    const now = this.now()
    const del: SandboxDelegation = {
      delegationId: d.delegationId ?? `DLG${String(++this.#idSeq).padStart(10, '0')}`,
      agreementNo: d.agreementNo,
      maxTotal: BigInt(d.maxTotal),
      maxSingle: d.maxSingle === undefined ? undefined : BigInt(d.maxSingle),
      used: 0n,
      validFrom: d.validFrom ? new Date(d.validFrom) : new Date(now.getTime() - 60_000),
      validTo: d.validTo ? new Date(d.validTo) : new Date(now.getTime() + 365 * 86_400_000),
      status: 'VALID',
    }
    this.delegations.set(del.delegationId, del)
    return del
  }

  putPaymentMethod(p: { type: string; id: string; cardNumber?: string | undefined; balances: Record<string, string>; declineCode?: string | undefined }, panHash?: (pan: string) => string): PaymentMethodAccount {
    const acct: PaymentMethodAccount = {
      type: p.type,
      id: p.id,
      balances: toBalances(p.balances),
      ...(p.cardNumber ? { last4: p.cardNumber.slice(-4), panHash: (panHash ?? defaultPanHash)(p.cardNumber) } : {}),
      ...(p.declineCode ? { declineCode: p.declineCode } : {}),
    }
    this.paymentMethods.set(`${p.type}:${p.id}`, acct)
    return acct
  }

  /** A fresh 28-digit Alipay trade number: Beijing date + `22001` + 15 digits (digest §0). */
  nextTradeNo(): string {
    return `${beijingDate(this.now())}22001${String(400_000_000_000_000 + ++this.#tradeSeq).padStart(15, '0')}`
  }

  nextId(prefix: string, digits = 20): string {
    return `${prefix}${beijingDate(this.now())}${String(++this.#idSeq).padStart(digits - 8, '0')}`
  }

  tradeKey(appId: string, outTradeNo: string): string {
    return `${appId}|${outTradeNo}`
  }

  putTrade(t: SandboxTrade): void {
    this.trades.set(this.tradeKey(t.appId, t.outTradeNo), t)
    this.tradesByNo.set(t.tradeNo, t)
    if (t.prepayId) this.prepays.set(t.prepayId, t)
  }

  /** Credit / debit a balance; returns false (and changes nothing) when it would go negative. */
  move(from: Map<string, bigint>, to: Map<string, bigint>, currency: string, amount: bigint): boolean {
    const have = from.get(currency) ?? 0n
    if (have < amount) return false
    from.set(currency, have - amount)
    to.set(currency, (to.get(currency) ?? 0n) + amount)
    return true
  }
}

function toBalances(b: Record<string, string>): Map<string, bigint> {
  return new Map(Object.entries(b).map(([c, v]) => [c, BigInt(v)]))
}

/** How the sandbox recognises a raw card number without keeping it. */
export function defaultPanHash(pan: string): string {
  return createHash('sha256').update(`sandbox-pan:${pan}`).digest('hex')
}
