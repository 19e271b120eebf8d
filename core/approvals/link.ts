import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** What a signed approval link carries in its query string. */
export interface ApprovalLinkParams {
  intentId: string
  /** Unix seconds after which the link is refused. */
  exp: number
  /**
   * `decide` (default): the link approves or denies. `status`: it only shows the approval's status
   * (what an agent-facing surface such as UCP's `continue_url` hands out unless the operator lets
   * the buyer decide by link).
   */
  purpose?: ApprovalLinkPurpose | undefined
}

export type ApprovalLinkPurpose = 'decide' | 'status'

/**
 * The signature of an approval link: HMAC-SHA256(secret, `approval.<intent_id>.<exp>`) for a
 * decide link, `approval-status.<intent_id>.<exp>` for a status link, hex. The intent id, the
 * expiry and the purpose are all covered, so none can be swapped (a status link never decides).
 */
export function signApprovalLink(secret: string, p: ApprovalLinkParams): string {
  const domain = (p.purpose ?? 'decide') === 'decide' ? 'approval' : 'approval-status'
  return createHmac('sha256', secret).update(`${domain}.${p.intentId}.${p.exp}`).digest('hex')
}

/**
 * The path (and query) of a signed approval link for `intentId`, valid for `ttlSeconds` from `now`.
 *
 * @example approvalLinkPath('s3cret', 'pi_01…', 900) // '/v1/approvals/pi_01…/decide?exp=1700000900&sig=ab12…'
 */
export function approvalLinkPath(secret: string, intentId: string, ttlSeconds: number, now: Date = new Date(), purpose: ApprovalLinkPurpose = 'decide'): string {
  const exp = Math.floor(now.getTime() / 1000) + ttlSeconds
  return `/v1/approvals/${intentId}/${purpose}?exp=${exp}&sig=${signApprovalLink(secret, { intentId, exp, purpose })}`
}

export type VerifyApprovalLinkResult = { ok: true } | { ok: false; reason: 'malformed' | 'expired' | 'bad_signature' }

/**
 * Check a presented approval link: the signature (constant time) and the expiry. Never throws.
 */
export function verifyApprovalLink(secret: string, intentId: string, exp: unknown, sig: unknown, now: Date = new Date(), purpose: ApprovalLinkPurpose = 'decide'): VerifyApprovalLinkResult {
  if (typeof exp !== 'string' || !/^\d{1,12}$/.test(exp) || typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: 'malformed' }
  const expected = Buffer.from(signApprovalLink(secret, { intentId, exp: Number(exp), purpose }), 'hex')
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { ok: false, reason: 'bad_signature' }
  if (Number(exp) * 1000 < now.getTime()) return { ok: false, reason: 'expired' }
  return { ok: true }
}

const generated = new WeakMap<object, string>()

/**
 * The HMAC key of approval links for a gateway config: `approvals.linkSecret`, or (not configured)
 * one random key per process and config, so links then work on this instance only, until it
 * restarts. Every surface that makes or checks links (the approvals API, UCP's `continue_url`)
 * asks here, so they agree.
 */
export function approvalLinkSecret(config: { approvals?: { linkSecret?: string | undefined } | undefined }): string {
  const configured = config.approvals?.linkSecret
  if (configured) return configured
  let s = generated.get(config)
  if (!s) {
    s = randomBytes(32).toString('hex')
    generated.set(config, s)
  }
  return s
}

/**
 * The absolute signed approval link of `intentId` under `baseUrl` (the gateway's public URL), valid
 * for `approvals.linkTtlSeconds` (default 900 s).
 *
 * @example approvalUrl(config, 'https://pay.example.com', intent.id)
 */
export function approvalUrl(
  config: { approvals?: { linkSecret?: string | undefined; linkTtlSeconds?: number | undefined } | undefined },
  baseUrl: string,
  intentId: string,
  now: Date = new Date(),
  purpose: ApprovalLinkPurpose = 'decide',
): string {
  return `${baseUrl.replace(/\/+$/, '')}${approvalLinkPath(approvalLinkSecret(config), intentId, config.approvals?.linkTtlSeconds ?? 900, now, purpose)}`
}
