/**
 * The NAT lab needs root. Locally, lab tests skip without it (with a
 * message); under CI=true they fail instead, so that a CI runner without
 * root can never pass by skipping.
 */

export function requireRootOrSkip (context: Mocha.Context): void {
  if (process.getuid?.() === 0) {
    return
  }
  if (process.env.CI === 'true') {
    throw new Error('The NAT lab tests need root and CI=true forbids skipping them: run the tests as root')
  }
  // eslint-disable-next-line no-console
  console.log('      (skipped: the NAT lab needs root; run as root, or set CI=true to make this a failure)')
  context.skip()
}
