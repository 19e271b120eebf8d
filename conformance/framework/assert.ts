import { isDeepStrictEqual } from 'node:util'
import type { HttpResponse } from './http.js'

/** A requirement does not hold. Its message is the report's `reason`: say what was expected and what came. */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure'
}

/** Thrown by `ctx.skip(reason)`; the runner marks the requirement skipped with the reason. */
export class SkipSignal extends Error {
  override readonly name = 'SkipSignal'
}

/** Fail the requirement. */
export function fail(message: string): never {
  throw new CheckFailure(message)
}

/** Fail the requirement unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailure(message)
}

/** Fail unless `actual` deep-equals `expected`. */
export function assertEqual(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) throw new CheckFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`)
}

/** Fail unless the response status is one of `expected`. */
export function expectStatus(res: HttpResponse, expected: number | readonly number[], what = `${res.exchange.request.method} ${res.path}`): void {
  const ok = typeof expected === 'number' ? [expected] : expected
  if (!ok.includes(res.status)) {
    throw new CheckFailure(`${what}: expected HTTP ${ok.join(' or ')}, got ${res.status}${res.text ? ` (body: ${snippet(res.text)})` : ''}`)
  }
}

/** Fail unless the header is present (and, when given, equals `expected` or matches it). Returns its value. */
export function expectHeader(res: HttpResponse, name: string, expected?: string | RegExp, what = `${res.exchange.request.method} ${res.path}`): string {
  const value = res.header(name)
  if (value === undefined) throw new CheckFailure(`${what}: the response has no ${name} header`)
  if (typeof expected === 'string' && value !== expected) throw new CheckFailure(`${what}: ${name} is ${show(value)}, expected ${show(expected)}`)
  if (expected instanceof RegExp && !expected.test(value)) throw new CheckFailure(`${what}: ${name} is ${show(value)}, expected to match ${expected}`)
  return value
}

/** A short, single-line rendering of a value for a failure message. */
export function show(value: unknown): string {
  if (value === undefined) return 'undefined'
  const s = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value)
  return snippet(s)
}

/** The first 200 characters of `text`, on one line. */
export function snippet(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim()
  return one.length > max ? `${one.slice(0, max)}… (${one.length} chars)` : one
}
