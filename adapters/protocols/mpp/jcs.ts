/**
 * JSON Canonicalization Scheme (RFC 8785): the serialization the MPP `request` and `opaque`
 * parameters are base64url-encoded from, and therefore what the challenge id binds (digest §3).
 * Keys sorted by UTF-16 code units, no whitespace, strings and numbers as ECMAScript
 * `JSON.stringify` writes them (which is what RFC 8785 specifies).
 */

/**
 * Canonical JSON text of a JSON value. Throws on values JSON cannot represent (non-finite
 * numbers, bigint, functions), which never come from parsed JSON.
 *
 * @example canonicalize({ b: 1, a: 'x' }) // '{"a":"x","b":1}'
 */
export function canonicalize(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'string':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS: non-finite number')
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalize(v === undefined ? null : v)).join(',')}]`
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalize(v)}`).join(',')}}`
    }
    default:
      throw new TypeError(`JCS: cannot serialize ${typeof value}`)
  }
}
