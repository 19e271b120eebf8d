import type BetterSqlite3 from 'better-sqlite3'

interface Job {
  run: () => unknown
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

/** Counters for tests and benchmarks: `transactions` < `jobs` proves batching happened. */
export interface GroupCommitStats {
  transactions: number
  jobs: number
}

/**
 * Group commit for a synchronous SQLite connection.
 *
 * Write jobs queued during one turn of the event loop are run in ONE `BEGIN IMMEDIATE … COMMIT`
 * transaction (one fsync under `synchronous=FULL`), each inside its own SAVEPOINT so a job that
 * throws (a constraint violation) is rolled back alone and rejects only its own promise. Every
 * promise settles after COMMIT returned: an acknowledged write is durable. A batch of one job runs
 * without a savepoint, so at concurrency 1 the cost is one `setImmediate` hop.
 *
 * Jobs are synchronous functions: they read and write with prepared statements and return the
 * outcome (a duplicate, a version conflict) as a value.
 */
export class GroupCommitter {
  private queue: Job[] = []
  private scheduled = false
  readonly stats: GroupCommitStats = { transactions: 0, jobs: 0 }
  private readonly begin: BetterSqlite3.Statement
  private readonly commit: BetterSqlite3.Statement
  private readonly rollback: BetterSqlite3.Statement
  private readonly savepoint: BetterSqlite3.Statement
  private readonly release: BetterSqlite3.Statement
  private readonly rollbackTo: BetterSqlite3.Statement

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly maxBatch = 256,
  ) {
    this.begin = db.prepare('BEGIN IMMEDIATE')
    this.commit = db.prepare('COMMIT')
    this.rollback = db.prepare('ROLLBACK')
    this.savepoint = db.prepare('SAVEPOINT gc_job')
    this.release = db.prepare('RELEASE gc_job')
    this.rollbackTo = db.prepare('ROLLBACK TO gc_job')
  }

  /** Queue a write job; resolves with its result once its transaction committed. */
  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.flush)
      }
    })
  }

  /** Run every queued job now (also used by `close()`). */
  readonly flush = (): void => {
    this.scheduled = false
    while (this.queue.length > 0) this.runBatch(this.queue.splice(0, this.maxBatch))
  }

  private runBatch(jobs: Job[]): void {
    const { db } = this
    try {
      this.begin.run()
    } catch (err) {
      for (const j of jobs) j.reject(err)
      return
    }
    this.stats.transactions++
    this.stats.jobs += jobs.length
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    if (jobs.length === 1) {
      try {
        results.push({ ok: true, value: jobs[0]!.run() })
      } catch (error) {
        this.safeRollback()
        jobs[0]!.reject(error)
        return
      }
    } else {
      for (const job of jobs) {
        this.savepoint.run()
        try {
          const value = job.run()
          this.release.run()
          results.push({ ok: true, value })
        } catch (error) {
          try {
            // SQLite may have rolled the whole transaction back by itself (I/O error, disk
            // full…): then nothing of this batch is committed.
            if (!db.inTransaction) throw error
            this.rollbackTo.run()
            this.release.run()
          } catch (fatal) {
            this.safeRollback()
            for (const j of jobs) j.reject(fatal)
            return
          }
          results.push({ ok: false, error })
        }
      }
    }
    try {
      this.commit.run()
    } catch (err) {
      this.safeRollback()
      for (const j of jobs) j.reject(err)
      return
    }
    for (let i = 0; i < jobs.length; i++) {
      const r = results[i]!
      if (r.ok) jobs[i]!.resolve(r.value)
      else jobs[i]!.reject(r.error)
    }
  }

  private safeRollback(): void {
    try {
      if (this.db.inTransaction) this.rollback.run()
    } catch {
      // The connection is unusable; the next BEGIN reports it.
    }
  }
}
