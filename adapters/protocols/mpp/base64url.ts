/**
 * Base64url without padding (RFC 4648 §5), the encoding of every MPP structure on the wire
 * (`request`, `opaque`, the credential, the receipt). Decoding is strict about the alphabet and
 * tolerant of trailing `=` padding (digest §4: "parsers should accept padding-free input").
 */

const ALPHABET = /^[A-Za-z0-9_-]*={0,2}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Encode bytes or a UTF-8 string as base64url without padding.
 *
 * @example base64urlEncode('Hello, World!') // 'SGVsbG8sIFdvcmxkIQ'
 */
export function base64urlEncode(input: string | Uint8Array): string {
  return Buffer.from(typeof input === 'string' ? Buffer.from(input, 'utf8') : input).toString('base64url')
}

/** Decode base64url (padding optional) to bytes; `undefined` for anything outside the alphabet or a bad length. */
export function base64urlDecodeBytes(input: string): Buffer | undefined {
  if (typeof input !== 'string' || !ALPHABET.test(input)) return undefined
  const bare = input.replace(/=+$/, '')
  if (bare.length % 4 === 1) return undefined
  if (input.length !== bare.length && input.length % 4 !== 0) return undefined
  return Buffer.from(bare, 'base64url')
}

/**
 * Decode base64url to a UTF-8 string; `undefined` when it is not base64url or not UTF-8.
 *
 * @example base64urlDecode('SGVsbG8sIFdvcmxkIQ') // 'Hello, World!'
 */
export function base64urlDecode(input: string): string | undefined {
  const bytes = base64urlDecodeBytes(input)
  if (!bytes) return undefined
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** Decode base64url JSON that must be an object (not an array); `undefined` otherwise. Never throws. */
export function base64urlJsonObject(input: string): Record<string, unknown> | undefined {
  const text = base64urlDecode(input)
  if (text === undefined) return undefined
  try {
    const v = JSON.parse(text) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
