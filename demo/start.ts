/* eslint-disable no-console */
/**
 * `npm start`: as root, the NAT-lab demo (two peers behind real kernel NATs
 * get a relayed connection that is upgraded to a direct one); otherwise the
 * loopback demo, with a note on why.
 *
 * npm start -- [--nat-a=port-restricted] [--nat-b=symmetric-random] [--delay=20] [--loopback]
 */
const args = process.argv.slice(2)

if (args.includes('--loopback')) {
  await import('./loopback.ts')
} else if (process.getuid?.() !== 0) {
  console.log('The NAT-lab demo builds network namespaces and kernel NATs, which needs root: running the loopback demo instead.')
  console.log('(run `sudo npm start` for two peers behind NATs, a relay, and the upgrade to a direct connection)\n')
  await import('./loopback.ts')
} else {
  await import('./nat-lab.ts')
}
