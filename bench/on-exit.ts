/**
 * Runs `cleanup` however the bench ends: a normal exit, an uncaught failure, or Ctrl-C / SIGTERM
 * (after which the process exits with 130 once `cleanup` has settled).
 */
export function onExit(cleanup: () => void | Promise<void>): void {
  process.on('exit', () => {
    cleanup()
  })
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      Promise.resolve()
        .then(cleanup)
        .finally(() => process.exit(130))
    })
}
