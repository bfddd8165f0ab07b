import fc from 'fast-check'
import { FuzzViolation, runCase } from './fuzz-target.js'
import { FUZZ_TARGETS, fuzzSeed } from './fuzz-targets.js'

/**
 * The long fuzz run: every decoder of bench/fuzz/fuzz-targets.ts against many cases.
 *
 *   node dist/bench/fuzz/run.js [--cases N] [--seed S] [--only name,name]
 *
 * Prints the seed first, then per decoder: cases, failures, cases/s, max decode time and the
 * process's peak RSS. A failure prints its decoder, chunk seed and index (replayable with
 * fc.sample(arbitrary, { seed, numRuns: CHUNK })) and the error. Exits 1 if any case failed.
 */

const CHUNK = 1000

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

async function main(): Promise<void> {
  const cases = Number(arg('cases') ?? 100_000)
  const seed = fuzzSeed(arg('seed') ?? process.env.PUNCHSWARM_FUZZ_SEED)
  const only = arg('only')?.split(',')
  const targets = FUZZ_TARGETS.filter((t) => !only || only.includes(t.name))
  console.log(`fuzz seed ${seed}, ${cases} cases per decoder`)
  // An unhandled rejection while a target runs is a failure of that target, not a crash of the run.
  let stray: unknown[] = []
  process.on('unhandledRejection', (reason) => stray.push(reason))
  const rows: string[][] = []
  let totalFailures = 0
  for (const [t, target] of targets.entries()) {
    let failures = 0
    let maxMs = 0
    let peakRss = 0
    const start = performance.now()
    for (let chunk = 0; chunk * CHUNK < cases; chunk++) {
      const chunkSeed = (seed + 1_000_003 * t + chunk) | 0
      const inputs = fc.sample(target.arbitrary, {
        seed: chunkSeed,
        numRuns: Math.min(CHUNK, cases - chunk * CHUNK),
      })
      for (const [i, input] of inputs.entries()) {
        stray = []
        try {
          const r = await runCase(target, input)
          maxMs = Math.max(maxMs, r.ms)
          if (stray.length) throw new FuzzViolation(`unhandled rejection: ${String(stray[0])}`)
        } catch (err) {
          if (++failures <= 3) {
            console.log(`FAIL ${target.name} chunk seed ${chunkSeed} index ${i}: ${(err as Error).message}`)
          }
        }
      }
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }
    await target.close?.()
    const seconds = (performance.now() - start) / 1000
    totalFailures += failures
    rows.push([
      target.name,
      String(cases),
      String(failures),
      String(Math.round(cases / seconds)),
      maxMs.toFixed(1),
      String(Math.round(peakRss / 2 ** 20)),
    ])
    // The row as soon as it is known: a long run cut short keeps what it measured.
    console.log(
      `${target.name}: ${cases} cases, ${failures} failures, ${seconds.toFixed(1)} s, ${rows.at(-1)!.join(' | ')}`,
    )
  }
  console.log('')
  console.log('| decoder | cases | failures | cases/s | max decode ms | peak RSS MiB |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
  process.exitCode = totalFailures > 0 ? 1 : 0
}

await main()
