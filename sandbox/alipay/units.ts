/**
 * Small, strict helpers for the sandbox's wire values: yuan strings ↔ fen (bigint), Beijing time,
 * Antom minor-unit strings. The sandbox keeps every amount as a bigint in minor units.
 */

/** Alipay's amount range in fen: [0.01, 100000000] yuan (digest §2.1). */
export const MIN_FEN = 1n
export const MAX_FEN = 10_000_000_000n

const YUAN = /^(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?$/

/** Parse a yuan amount (`"88.8"`, `"88.80"`, JSON number 88.8) to fen; `undefined` when malformed. */
export function parseYuan(value: unknown): bigint | undefined {
  let s: string
  if (typeof value === 'string') s = value
  else if (typeof value === 'number' && Number.isFinite(value)) s = String(value)
  else return undefined
  const m = YUAN.exec(s)
  if (!m) return undefined
  const frac = (m[2] ?? '').padEnd(2, '0')
  return BigInt(m[1]!) * 100n + BigInt(frac)
}

/** Fen as Alipay's yuan string with two decimals (`8880n` → `"88.80"`). */
export function formatYuan(fen: bigint): string {
  const neg = fen < 0n
  const a = neg ? -fen : fen
  return `${neg ? '-' : ''}${a / 100n}.${(a % 100n).toString().padStart(2, '0')}`
}

const MINOR = /^(0|[1-9][0-9]{0,30})$/

/** Parse an Antom minor-unit value string; `undefined` when malformed. */
export function parseMinor(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !MINOR.test(value)) return undefined
  return BigInt(value)
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

/** `yyyy-MM-dd HH:mm:ss` in Beijing time (GMT+8), whatever the process time zone. */
export function beijingTime(d: Date): string {
  const b = new Date(d.getTime() + 8 * 3_600_000)
  return `${b.getUTCFullYear()}-${pad(b.getUTCMonth() + 1)}-${pad(b.getUTCDate())} ${pad(b.getUTCHours())}:${pad(b.getUTCMinutes())}:${pad(b.getUTCSeconds())}`
}

/** Parse `yyyy-MM-dd HH:mm:ss` as Beijing time; `undefined` when malformed. */
export function parseBeijingTime(s: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s)
  if (!m) return undefined
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number]
  const t = Date.UTC(y, mo - 1, d, h, mi, se) - 8 * 3_600_000
  const back = new Date(t + 8 * 3_600_000)
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined
  return new Date(t)
}

/** `yyyyMMdd` of the Beijing date. */
export function beijingDate(d: Date): string {
  return beijingTime(d).slice(0, 10).replace(/-/g, '')
}

/** ISO-8601 with the Beijing offset and milliseconds, as Antom shows times (`2026-11-21T12:08:56.253+08:00`). */
export function isoWithOffset(d: Date): string {
  const b = new Date(d.getTime() + 8 * 3_600_000)
  return `${b.toISOString().slice(0, 23)}+08:00`
}

/**
 * Alipay's relative expiry (`timeout_express`): `Nm` minutes (1–21600), `Nh` hours, `Nd` days,
 * `1c` the end of the Beijing day. `undefined` when malformed.
 */
export function parseTimeoutExpress(s: unknown, now: Date): Date | undefined {
  if (typeof s !== 'string') return undefined
  const m = /^([1-9][0-9]{0,4})([mhdc])$/.exec(s)
  if (!m) return undefined
  const n = Number(m[1])
  switch (m[2]) {
    case 'm':
      return new Date(now.getTime() + n * 60_000)
    case 'h':
      return new Date(now.getTime() + n * 3_600_000)
    case 'd':
      return new Date(now.getTime() + n * 86_400_000)
    default: {
      const day = beijingTime(now).slice(0, 10)
      return parseBeijingTime(`${day} 23:59:59`)
    }
  }
}

/** Seeded PRNG (mulberry32): deterministic fault decisions and ids for a given seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
