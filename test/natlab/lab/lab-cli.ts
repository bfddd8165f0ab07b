import { CLI_PATH } from '../../helpers/cli-process.js'
import { lines } from './child-lines.js'
import type { Lab } from './netns-lab.js'

/** `punchswarm <args>` in a lab namespace, with its lines and its exit. */
export function labCli(l: Lab, ns: string, args: string[]) {
  const child = l.spawn(ns, [process.execPath, CLI_PATH, ...args])
  return {
    child,
    out: lines(child),
    exit: new Promise<number | null>((r) => child.on('exit', (code) => r(code))),
  }
}

/** The tracker's /stats.json, read from inside its namespace. */
export function labStats<T>(l: Lab): T {
  return JSON.parse(
    l.exec(l.trackerNs, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:6969/stats.json').then((r) => r.text()).then((t) => process.stdout.write(t))",
    ]),
  ) as T
}
