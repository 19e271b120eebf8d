import { randomBytes } from 'node:crypto'

/** Crockford base32, the ULID alphabet (no I, L, O, U). */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

let lastTime = -1
let lastRandom: Uint8Array = new Uint8Array(10)

/**
 * A monotonic ULID (26 chars): 48-bit millisecond time + 80 random bits, so ids sort by creation
 * time. Within one millisecond the random part is incremented, keeping ids strictly increasing in
 * this process.
 *
 * @example ulid() // '01JD3Q8Z8X3M4V7N2B6C9D0E1F'
 */
export function ulid(now: number = Date.now()): string {
  if (now <= lastTime) {
    // Same (or earlier: clock stepped back) millisecond: increment the 80-bit random part.
    for (let i = 9; i >= 0; i--) {
      const b = lastRandom[i]!
      if (b < 255) {
        lastRandom[i] = b + 1
        break
      }
      lastRandom[i] = 0
    }
    now = lastTime
  } else {
    lastTime = now
    lastRandom = randomBytes(10)
  }
  let out = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32]! + out
    t = Math.floor(t / 32)
  }
  // 80 bits -> 16 base32 chars, 5 bits at a time.
  let acc = 0
  let bits = 0
  for (const byte of lastRandom) {
    acc = (acc << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += ALPHABET[(acc >>> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  return out
}

/** A prefixed sortable id: `newId('pi')` → `pi_01JD…`. */
export function newId(prefix: string): string {
  return `${prefix}_${ulid()}`
}
