/**
 * JCS-style canonical JSON (RFC 8785 for the values we store: strings, integers, booleans, null,
 * arrays, objects): object keys sorted by UTF-16 code units, no whitespace. `undefined` members are
 * dropped (as JSON.stringify does), so an explicit `null` and an absent member stay different.
 * Numbers are written as ECMAScript does (RFC 8785 §3.2.2.3); money never travels as a number.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return value.toString()
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let s = '['
        for (let i = 0; i < value.length; i++) {
          if (i) s += ','
          const v: unknown = value[i]
          s += v === undefined ? 'null' : canonicalJson(v)
        }
        return s + ']'
      }
      // Honour toJSON as JSON.stringify does (a Date hashes as its ISO string, which is what is
      // stored and read back); refuse containers JSON would silently turn into {}.
      const toJSON = (value as { toJSON?: unknown }).toJSON
      if (typeof toJSON === 'function') return canonicalJson((toJSON as () => unknown).call(value))
      if (value instanceof Map || value instanceof Set) throw new TypeError('canonicalJson: Map and Set have no JSON form')
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj).sort()
      let s = '{'
      let first = true
      for (const k of keys) {
        const v = obj[k]
        if (v === undefined) continue
        if (!first) s += ','
        first = false
        s += JSON.stringify(k) + ':' + canonicalJson(v)
      }
      return s + '}'
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`)
  }
}
