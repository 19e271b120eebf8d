import { createHmac, randomBytes } from 'node:crypto'

/**
 * Removes secrets from evidence before it is kept, printed or written to a report.
 *
 * Three rules, applied to everything recorded:
 * 1. **Known secrets**: every value registered with {@link Redactor.addSecret} (API keys, the
 *    webhook secret, the wallets' private keys, the signing keys' private parts) is replaced
 *    wherever it appears: headers, URLs, bodies, failure messages.
 * 2. **Sensitive headers**: `Authorization` (the scheme is kept: `Bearer [REDACTED:…]`), cookies,
 *    API-key headers, and every signature or payment-credential header (`Agentswitch-Signature`,
 *    `Signature`, `PAYMENT-SIGNATURE`, `X-PAYMENT`, …). `Signature-Input`, digests and receipts stay.
 * 3. **Sensitive JSON members**, at any depth: passwords, secrets, API keys, private keys, tokens,
 *    signatures, card numbers (`card_number`, `pan`, and a `number` inside a card object or that
 *    passes the Luhn check), CVCs, and a JWK's private `d`. Only string and number values are
 *    replaced; objects are walked (an x402 `authorization` object stays readable, its `signature`
 *    does not).
 *
 * A redacted value reads `[REDACTED:<8 hex>]`: an HMAC under a per-run random key, so two places
 * holding the same secret can be matched within one report, and nothing can be brute-forced from it.
 */
export interface Redactor {
  /** Treat `value` as secret from now on (values shorter than 8 characters are ignored). */
  addSecret(value: string | undefined): void
  /** Redact a header map (lower-case names). */
  headers(headers: Readonly<Record<string, string>>): Record<string, string>
  /** Redact a URL: known secrets and secret-looking query parameters. */
  url(url: string): string
  /** Redact a body: JSON bodies member by member, anything else by known secrets. */
  body(text: string): string
  /** Redact free text (failure reasons, notes). */
  text(text: string): string
}

const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|apikey|x-auth-token|payment-signature|x-payment|payment-credential|simulation-secret)$|signature$|secret|token$/
const KEEP_HEADER = /^(signature-input|content-digest|digest|payment-response|x-payment-response|payment-receipt|payment-required|www-authenticate)$/
const SENSITIVE_KEY =
  /^(password|passwd|passphrase|secret|client_secret|webhook_secret|api_?key|apikey|private_?key|secret_?key|mnemonic|seed_?phrase|cvc|cvv|cvv2|cvn|security_code|card_?number|pan|fpan|dpan|account_number|signature|sig|token|access_token|refresh_token|id_token|session_token|vault_token|authorization|credential_?data)$/i
const SENSITIVE_QUERY = /^(api_?key|key|token|access_token|secret|sig|signature|password)$/i

const CARD_SIBLINGS = ['exp_month', 'exp_year', 'expiry', 'cvc', 'cvv', 'card_number_type', 'display_last4', 'display_brand', 'brand']

/** A `number` member is a card number when it sits in a card object or is a Luhn-valid 12–19 digit string. */
function looksLikeCard(value: string, parent: Record<string, unknown> | undefined): boolean {
  if (parent && (parent['type'] === 'card' || CARD_SIBLINGS.some((k) => k in parent))) return true
  const digits = value.replace(/[ -]/g, '')
  if (!/^\d{12,19}$/.test(digits)) return false
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i])
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2
    sum += d
  }
  return sum % 10 === 0
}

/** Make a redactor for one run. */
export function createRedactor(initialSecrets: Iterable<string | undefined> = []): Redactor {
  const salt = randomBytes(16)
  const secrets = new Set<string>()
  let ordered: string[] = []
  const mark = (value: string): string => `[REDACTED:${createHmac('sha256', salt).update(value).digest('hex').slice(0, 8)}]`

  const replaceKnown = (text: string): string => {
    let out = text
    for (const s of ordered) if (out.includes(s)) out = out.split(s).join(mark(s))
    return out
  }

  const walk = (value: unknown, key: string | undefined, parent: Record<string, unknown> | undefined): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, key, parent))
    if (value !== null && typeof value === 'object') {
      const obj = value as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(obj)) out[k] = walk(v, k, obj)
      return out
    }
    if (typeof value === 'string' || typeof value === 'number') {
      const s = String(value)
      if (key !== undefined && (SENSITIVE_KEY.test(key) || (key === 'd' && parent !== undefined && 'kty' in parent) || (key === 'number' && looksLikeCard(s, parent)))) return mark(s)
      return typeof value === 'string' ? replaceKnown(value) : value
    }
    return value
  }

  const r: Redactor = {
    addSecret(value) {
      if (value === undefined || value.length < 8 || secrets.has(value)) return
      secrets.add(value)
      // Longest first, so a secret that contains another is replaced whole.
      ordered = [...secrets].sort((a, b) => b.length - a.length)
    },
    headers(headers) {
      const out: Record<string, string> = {}
      for (const [name, value] of Object.entries(headers)) {
        const n = name.toLowerCase()
        if (!KEEP_HEADER.test(n) && SENSITIVE_HEADER.test(n)) {
          const scheme = /^(authorization|proxy-authorization)$/.test(n) ? /^([A-Za-z][\w-]*) +/.exec(value)?.[1] : undefined
          out[name] = scheme ? `${scheme} ${mark(value.slice(scheme.length).trim())}` : mark(value)
        } else out[name] = replaceKnown(value)
      }
      return out
    },
    url(url) {
      let u: URL
      try {
        u = new URL(url)
      } catch {
        return replaceKnown(url)
      }
      if (u.username || u.password) {
        u.username = u.username ? 'REDACTED' : ''
        u.password = u.password ? 'REDACTED' : ''
      }
      for (const [k, v] of [...u.searchParams.entries()]) if (SENSITIVE_QUERY.test(k)) u.searchParams.set(k, mark(v))
      return replaceKnown(u.toString())
    },
    body(text) {
      const t = text.trimStart()
      if (t.startsWith('{') || t.startsWith('[')) {
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch {
          return replaceKnown(text)
        }
        const redacted = walk(parsed, undefined, undefined)
        return JSON.stringify(redacted) === JSON.stringify(parsed) ? text : JSON.stringify(redacted)
      }
      return replaceKnown(text)
    },
    text(text) {
      return replaceKnown(text)
    },
  }
  for (const s of initialSecrets) r.addSecret(s)
  return r
}
