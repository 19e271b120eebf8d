/**
 * The header encoding shared by x402 v1 and v2 (digest §2): standard base64 (`A–Z a–z 0–9 + /`,
 * `=` padding) of UTF-8 JSON. Not base64url: a header with `-` or `_` is refused, as the SDK's
 * decoder (`^[A-Za-z0-9+/]*={0,2}$`) refuses it.
 */

/** The SDK's own test of a header value (`Base64EncodedRegex` in `@x402/core`). */
export const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Headers above this size are refused before decoding (a payment payload is well under 8 KiB). */
export const MAX_HEADER_CHARS = 64 * 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Standard base64 of the UTF-8 JSON of `value`. */
export function encodeHeaderJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64')
}

/** A decoded header: the JSON object, or why it is not one. Never throws. */
export type DecodeHeaderResult = { ok: true; value: Record<string, unknown> } | { ok: false; message: string }

/**
 * Decode a base64 JSON header into an object. Refuses base64url, invalid UTF-8, non-JSON and
 * non-objects with a message naming which. Missing `=` padding is tolerated (the forgiving
 * decoder browsers and Node's `atob` use), extra characters are not.
 *
 * @example decodeHeaderJson(req.get('payment-signature'))
 */
export function decodeHeaderJson(header: string | undefined): DecodeHeaderResult {
  if (typeof header !== 'string' || header.length === 0) return { ok: false, message: 'the header is empty' }
  if (header.length > MAX_HEADER_CHARS) return { ok: false, message: `the header is longer than ${MAX_HEADER_CHARS} characters` }
  if (!STANDARD_BASE64.test(header)) return { ok: false, message: 'the header is not standard base64 (base64url and whitespace are not accepted)' }
  if (header.replace(/=+$/, '').length % 4 === 1) return { ok: false, message: 'the header is not valid base64 (bad length)' }
  let text: string
  try {
    text = utf8.decode(Buffer.from(header, 'base64'))
  } catch {
    return { ok: false, message: 'the header does not decode to UTF-8 text' }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, message: 'the header does not decode to JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, message: 'the header does not decode to a JSON object' }
  return { ok: true, value: value as Record<string, unknown> }
}
